package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// bashAnswer is the answer of execute_bash_command, with the fields the
// tests read.
type bashAnswer struct {
	CommandID      string `json:"command_id"`
	ExitCode       int    `json:"exit_code"`
	Stdout         string `json:"stdout"`
	FullOutputPath string `json:"full_output_path"`
}

// bashEvent is a bash event as the API sends it.
type bashEvent struct {
	Kind      string `json:"kind"`
	ID        string `json:"id"`
	Command   string `json:"command"`
	CommandID string `json:"command_id"`
	Order     int    `json:"order"`
	ExitCode  *int   `json:"exit_code"`
	Stdout    string `json:"stdout"`
}

// runBash runs a command and returns the answer and its size.
func (e *env) runBash(id, command string) (bashAnswer, int) {
	e.t.Helper()
	var res bashAnswer
	body := e.call(http.MethodPost, "/api/conversations/"+id+"/bash/execute_bash_command",
		map[string]any{"command": command, "timeout": 120}, http.StatusOK, &res)
	return res, len(body)
}

// bashEvents walks the pages of a conversation's bash events, limit at a
// time, and returns them and the size of the largest answer.
func (e *env) bashEvents(id string, limit int) ([]bashEvent, int) {
	e.t.Helper()
	var out []bashEvent
	largest := 0
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	for range 10000 {
		var p struct {
			Items      []bashEvent `json:"items"`
			NextPageID *string     `json:"next_page_id"`
		}
		body := e.call(http.MethodGet, "/api/conversations/"+id+"/bash/bash_events/search?"+q.Encode(), nil, http.StatusOK, &p)
		largest = max(largest, len(body))
		if len(p.Items) > limit {
			e.t.Errorf("a page of %d bash events, limit %d", len(p.Items), limit)
		}
		out = append(out, p.Items...)
		if p.NextPageID == nil {
			return out, largest
		}
		q.Set("page_id", *p.NextPageID)
	}
	e.t.Fatal("the bash event search does not end")
	return nil, 0
}

// commandOutput is the output events of one command, in order, and their
// stdout.
func commandOutput(evs []bashEvent, commandID string) ([]bashEvent, string) {
	var mine []bashEvent
	var b strings.Builder
	for _, ev := range evs {
		if ev.Kind == "BashOutput" && ev.CommandID == commandID {
			mine = append(mine, ev)
			b.WriteString(ev.Stdout)
		}
	}
	return mine, b.String()
}

// bashBound is the default bound on one command's output in the bash
// events, as JSON text; bashSlack is room for the notes, bashPageSlack for
// them and the fields around the output in a page of 100 events.
const (
	bashBound     = 1 << 20
	bashSlack     = 1 << 10
	bashPageSlack = 64 << 10
)

// jsonLen is how many bytes s takes in a JSON string.
func jsonLen(t *testing.T, s string) int {
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return len(b) - 2
}

// TestBashOutputBounded runs a command that prints 20 MB, twenty times
// the bound, while a socket listens: the answer, the stored events, every
// search answer and what the socket gets hold at most the bound (and a
// little), and name the file in the sandbox that holds the whole output.
func TestBashOutputBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{sandboxes: true})
	c := e.create(nil)
	sock := e.dial("/sockets/bash-events/"+c.ID, nil)

	const size = 20_000_000
	res, answer := e.runBash(c.ID, "yes 0123456789abcdef | head -c "+strconv.Itoa(size))
	if res.ExitCode != 0 || answer > bashBound+bashSlack {
		t.Errorf("answer of %d bytes, exit code %d; want 0 and at most %d bytes", answer, res.ExitCode, bashBound+bashSlack)
	}

	evs, largest := e.bashEvents(c.ID, 100)
	mine, stdout := commandOutput(evs, res.CommandID)
	if len(mine) == 0 {
		t.Fatalf("no bash events of the command among %d", len(evs))
	}
	if held := jsonLen(t, stdout); held > bashBound+bashSlack {
		t.Errorf("the events hold %d bytes of output (as JSON), want at most %d", held, bashBound+bashSlack)
	}
	if largest > bashBound+bashPageSlack {
		t.Errorf("the largest search answer is %d bytes, want at most %d", largest, bashBound+bashPageSlack)
	}
	last := mine[len(mine)-1]
	if last.ExitCode == nil || *last.ExitCode != 0 || res.FullOutputPath == "" || !strings.Contains(last.Stdout, res.FullOutputPath) || !strings.Contains(last.Stdout, strconv.Itoa(size)) {
		t.Errorf("the last event (exit code %v) does not name the full output and its size: %q...", last.ExitCode, last.Stdout[:min(len(last.Stdout), 300)])
	}
	if !strings.HasPrefix(stdout, "0123456789abcdef") || !strings.Contains(last.Stdout, "0123456789abcdef\n0123456789") {
		t.Errorf("the events do not hold the head and the tail of the output: %q ... %q", stdout[:min(len(stdout), 40)], last.Stdout[max(0, len(last.Stdout)-60):])
	}

	// The socket got the same bounded events.
	got := 0
	for {
		var ev bashEvent
		if err := json.Unmarshal(sock.read(), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.CommandID != res.CommandID {
			continue
		}
		got += len(ev.Stdout)
		if ev.ExitCode != nil {
			break
		}
	}
	if got != len(stdout) {
		t.Errorf("the socket got %d bytes of output, the search %d", got, len(stdout))
	}

	// The file the answer and the last event name holds the whole output.
	if res.FullOutputPath == "" || !strings.Contains(res.Stdout, res.FullOutputPath) {
		t.Fatalf("the answer names no full-output file: path %q, stdout %q...", res.FullOutputPath, res.Stdout[:min(len(res.Stdout), 200)])
	}
	if wc, _ := e.runBash(c.ID, "wc -c < "+res.FullOutputPath); strings.TrimSpace(wc.Stdout) != strconv.Itoa(size) {
		t.Errorf("the full-output file holds %q bytes, want %d", wc.Stdout, size)
	}
}

// TestBashEventsSearch pages through the bash events: limit (1 to 100,
// default 100) and page_id as every search takes them.
func TestBashEventsSearch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{sandboxes: true})
	c := e.create(nil)
	for i := range 5 {
		e.runBash(c.ID, "echo line "+strconv.Itoa(i))
	}
	all, _ := e.bashEvents(c.ID, 100)
	if len(all) < 15 { // a command and at least two outputs each
		t.Fatalf("%d bash events of 5 commands", len(all))
	}
	for _, limit := range []int{1, 2, 7} {
		paged, _ := e.bashEvents(c.ID, limit)
		if diff := cmp.Diff(paged, all); diff != "" {
			t.Errorf("pages of %d (-got +want):\n%s", limit, diff)
		}
	}
	base := "/api/conversations/" + c.ID + "/bash/bash_events/search"
	var p struct {
		Items      []json.RawMessage `json:"items"`
		NextPageID *string           `json:"next_page_id"`
	}
	e.call(http.MethodGet, base+"?limit=3", nil, http.StatusOK, &p)
	if len(p.Items) != 3 || p.NextPageID == nil {
		t.Errorf("limit=3: %d events, next %v; want 3 and a next page", len(p.Items), p.NextPageID)
	}
	// The global route with the conversation in the query.
	e.call(http.MethodGet, "/api/bash/bash_events/search?limit=2&conversation_id="+c.ID, nil, http.StatusOK, &p)
	if len(p.Items) != 2 {
		t.Errorf("global route, limit=2: %d events", len(p.Items))
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "page_id=nope", "page_id=b0", "page_id=b999999"} {
		if d := e.detail(http.MethodGet, base+"?"+q, nil, http.StatusUnprocessableEntity); !strings.Contains(d, strings.Split(q, "=")[0]) {
			t.Errorf("%s: detail %q does not name the parameter", q, d)
		}
	}
	e.detail(http.MethodGet, "/api/conversations/nope/bash/bash_events/search", nil, http.StatusNotFound)
}

// TestBashMasksSecrets runs commands that print a conversation's secret:
// the answer, the stored bash events and the socket's show
// <secret-hidden>, also when the secret comes in two pieces.
func TestBashMasksSecrets(t *testing.T) {
	t.Parallel()
	const secret = "tok-5f2c9a81e7d3"
	e := newEnv(t, options{sandboxes: true})
	c := e.create(map[string]any{"secrets": map[string]any{"GH_TEST_TOKEN": secret}})
	sock := e.dial("/sockets/bash-events/"+c.ID, nil)

	res, _ := e.runBash(c.ID, `echo "token: $GH_TEST_TOKEN"`)
	if strings.Contains(res.Stdout, secret) || !strings.Contains(res.Stdout, "token: <secret-hidden>") {
		t.Errorf("answer %q, want the secret hidden", res.Stdout)
	}
	// The secret in two writes a second apart: two chunks of output.
	split, _ := e.runBash(c.ID, `printf 'tok-5f2c'; sleep 1; printf '9a81e7d3 done\n'`)
	typed, _ := e.runBash(c.ID, "echo "+secret+" >/dev/null")

	evs, _ := e.bashEvents(c.ID, 100)
	for _, ev := range evs {
		if strings.Contains(ev.Stdout+ev.Command, secret) {
			t.Errorf("a stored bash event shows the secret: %+v", ev)
		}
	}
	if _, out := commandOutput(evs, split.CommandID); strings.Contains(out, "tok-5f2c") || strings.Contains(out, "9a81e7d3") || !strings.Contains(out, "<secret-hidden> done") {
		t.Errorf("the output of a secret printed in two pieces: %q, want it hidden whole", out)
	}
	for _, ev := range evs {
		if ev.Kind == "BashCommand" && ev.ID == typed.CommandID && !strings.Contains(ev.Command, "<secret-hidden>") {
			t.Errorf("the command that names the secret: %q, want it hidden", ev.Command)
		}
	}

	// The socket, to the end of the last command.
	var fromSocket strings.Builder
	for {
		data := sock.read()
		if strings.Contains(string(data), secret) {
			t.Errorf("the socket sent a frame with the secret: %s", data)
		}
		var ev bashEvent
		json.Unmarshal(data, &ev)
		if ev.CommandID == split.CommandID {
			fromSocket.WriteString(ev.Stdout)
		}
		if ev.CommandID == typed.CommandID && ev.ExitCode != nil {
			break
		}
	}
	if out := fromSocket.String(); strings.Contains(out, "tok-5f2c") || strings.Contains(out, "9a81e7d3") {
		t.Errorf("the socket's output of a secret printed in two pieces: %q, want it hidden whole", out)
	}
}

// BenchmarkBash200MB runs a command printing 200 MB through
// execute_bash_command on a real sandbox and reports the heap of this
// process, which holds the server: its peak over the heap before while
// the command runs (peak-heap-MiB), what the command leaves held
// (held-heap-MiB), the size of one bash_events/search answer
// (search-MiB) and the heap's peak while it is made and read
// (search-peak-heap-MiB; the test client's copy of the answer counts),
// and what stays held once the conversation is deleted
// (deleted-held-heap-MiB); and the process's peak RSS
// (process-peak-rss-MiB: run the benchmark alone for it to be this one's).
func BenchmarkBash200MB(b *testing.B) {
	e := newEnv(b, options{sandboxes: true})
	for b.Loop() {
		c := e.create(nil)
		e.runBash(c.ID, "true") // the sandbox is up
		base := heapNow()
		stop := heapPeak()
		res, _ := e.runBash(c.ID, "yes 0123456789abcdef | head -c 200000000")
		peak := stop()
		held := heapNow()
		stop = heapPeak()
		status, body := e.request(http.MethodGet, "/api/conversations/"+c.ID+"/bash/bash_events/search", nil, nil)
		search := len(body)
		body = nil
		searchPeak := stop()
		if res.ExitCode != 0 || status != http.StatusOK {
			b.Fatalf("exit code %d, search %d", res.ExitCode, status)
		}
		e.call(http.MethodDelete, "/api/conversations/"+c.ID, nil, http.StatusOK, nil)
		deleted := heapNow()
		mib := func(n uint64) float64 { return float64(int64(n)-int64(base)) / (1 << 20) }
		b.ReportMetric(mib(peak), "peak-heap-MiB")
		b.ReportMetric(mib(held), "held-heap-MiB")
		b.ReportMetric(float64(search)/(1<<20), "search-MiB")
		b.ReportMetric(mib(searchPeak), "search-peak-heap-MiB")
		b.ReportMetric(mib(deleted), "deleted-held-heap-MiB")
		if hwm, ok := peakRSS(); ok {
			b.ReportMetric(float64(hwm)/(1<<20), "process-peak-rss-MiB")
		}
	}
}

// peakRSS returns the process's peak resident set (VmHWM), on Linux.
func peakRSS() (uint64, bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// heapNow returns the bytes of live heap objects, after two collections
// (the second empties what sync.Pools kept from before the first).
func heapNow() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// heapPeak samples the heap until the returned function is called, and
// that returns the largest it saw.
func heapPeak() func() uint64 {
	done := make(chan struct{})
	result := make(chan uint64)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-done:
				result <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		return <-result
	}
}

// TestCommandsThatDoNotParse runs, in a real sandbox and its bash,
// commands bash cannot parse or that replace the shell: over the REST
// route each answers with bash's error at once (it used to wait for the
// whole timeout and answer -1), and in the agent's terminal, reached
// through the V0 socket, the next command runs in the same shell.
func TestCommandsThatDoNotParse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{sandboxes: true})
	c := e.create(nil)

	e.bash(c.ID, map[string]any{"command": "true"}) // starts the sandbox
	start := time.Now()
	e.bash(c.ID, map[string]any{"command": "echo parsed", "timeout": 30})
	took := time.Since(start)
	start = time.Now()
	res := e.bash(c.ID, map[string]any{"command": "echo a( done", "timeout": 30})
	t.Logf("over REST, echo a( done answered in %s, echo parsed in %s", time.Since(start).Round(time.Millisecond), took.Round(time.Millisecond))
	if res.ExitCode != 2 || res.TimedOut || !strings.Contains(res.Stdout+res.Stderr, "syntax error") {
		t.Errorf("echo a( done over REST: %+v; want exit code 2 and a syntax error", res)
	}

	s := e.dial("/ws", nil)
	run := func(cmd string) (string, float64) {
		t.Helper()
		s.send(map[string]any{"action": "run", "args": map[string]any{"command": cmd}})
		fs := s.v0Until(func(f v0Frame) bool { return f.Observation != "" && f.Cause != nil })
		obs := fs[len(fs)-1]
		code, _ := obs.Extras["exit_code"].(float64)
		return obs.Content, code
	}
	run("cd /tmp && X=kept")
	tests := []struct {
		cmd    string
		code   float64
		output string
	}{
		{"echo a( done", 2, "syntax error"},
		{`echo "unbalanced`, 2, "unexpected EOF"},
		{"cat <<EOF\nhere-doc left open", 0, "here-doc left open"},
		{"echo $(date", 2, "unexpected EOF"}, // bash 5.2.15 of the image corrupts its heap on it
		{"PS1='$ '; PROMPT_COMMAND=", 0, ""},
	}
	for _, tc := range tests {
		out, code := run(tc.cmd)
		if code != tc.code || !strings.Contains(out, tc.output) {
			t.Errorf("%q in the agent's terminal: exit code %v, output %q; want %v and %q", tc.cmd, code, out, tc.code, tc.output)
		}
		if out, code := run(`echo "ok $X"; pwd`); code != 0 || !strings.Contains(out, "ok kept\n/tmp") {
			t.Fatalf("the command after %q: exit code %v, output %q", tc.cmd, code, out)
		}
	}
	// exec bash keeps the folder and the exported variables.
	run("export Y=exported; exec bash")
	if out, code := run(`echo "ok $Y"; pwd`); code != 0 || !strings.Contains(out, "ok exported\n/tmp") {
		t.Fatalf("the command after exec bash: exit code %v, output %q", code, out)
	}
}
