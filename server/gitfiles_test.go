package server_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"github.com/gohands/gohands/server"
	"github.com/gohands/gohands/session"
)

// sh runs a command in the conversation's sandbox and fails the test
// unless it exits 0.
func (e *env) sh(id, command string) string {
	e.t.Helper()
	res := e.bash(id, map[string]any{"command": command})
	if res.ExitCode != 0 {
		e.t.Fatalf("%s: %+v", command, res)
	}
	return res.Stdout
}

func sortedChanges(cs []session.GitChange) []session.GitChange {
	slices.SortFunc(cs, func(a, b session.GitChange) int { return strings.Compare(a.Path+a.Status, b.Path+b.Status) })
	return cs
}

func TestGitRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{sandboxes: true})
	c := e.create(nil)
	base := "/api/conversations/" + c.ID
	e.sh(c.ID, `mkdir -p repo/sub && cd repo && git init -q -b main && git config user.email a@b.c && git config user.name Ann &&
printf 'one\n' > a.txt && printf 'keep\n' > sub/k.txt && printf 'gone\n' > d.txt && printf 'move me\n' > old.txt &&
git add -A && git commit -qm first && printf 'two\n' >> a.txt && git commit -qam second &&
printf 'three\n' >> a.txt && rm d.txt && git mv old.txt new.txt && printf 'new\n' > u.txt`)

	t.Run("changes", func(t *testing.T) {
		e := e.in(t)
		want := []session.GitChange{{Status: "UPDATED", Path: "a.txt"}, {Status: "DELETED", Path: "d.txt"},
			{Status: "ADDED", Path: "new.txt"}, {Status: "DELETED", Path: "old.txt"}, {Status: "ADDED", Path: "u.txt"}}
		for _, route := range []string{base + "/git/changes?path=repo", "/api/git/changes?conversation_id=" + c.ID + "&path=" + url.QueryEscape("/workspace/repo")} {
			var got []session.GitChange
			e.call(http.MethodGet, route, nil, http.StatusOK, &got)
			if diff := cmp.Diff(sortedChanges(got), want); diff != "" {
				t.Errorf("%s (-got +want):\n%s", route, diff)
			}
		}
		// Against the first commit, a.txt differs still; HEAD~1 is a ref.
		var got []session.GitChange
		e.call(http.MethodGet, base+"/git/changes?path=repo&ref=HEAD~1", nil, http.StatusOK, &got)
		if !slices.Contains(got, session.GitChange{Status: "UPDATED", Path: "a.txt"}) {
			t.Errorf("against HEAD~1: %+v", got)
		}
		// A subfolder's paths are its own.
		e.sh(c.ID, "printf 'x\n' >> repo/sub/k.txt")
		e.call(http.MethodGet, base+"/git/changes?path=repo/sub", nil, http.StatusOK, &got)
		if diff := cmp.Diff(got, []session.GitChange{{Status: "UPDATED", Path: "k.txt"}}); diff != "" {
			t.Errorf("subfolder (-got +want):\n%s", diff)
		}
	})

	t.Run("diff", func(t *testing.T) {
		e := e.in(t)
		var d session.GitDiff
		e.call(http.MethodGet, base+"/git/diff?path=repo/a.txt", nil, http.StatusOK, &d)
		if d.Original == nil || *d.Original != "one\ntwo\n" || d.Modified == nil || *d.Modified != "one\ntwo\nthree\n" {
			t.Errorf("diff of a.txt: %s", jsonOf(d))
		}
		e.call(http.MethodGet, base+"/git/diff?path=repo/u.txt", nil, http.StatusOK, &d)
		if d.Original != nil || d.Modified == nil || *d.Modified != "new\n" {
			t.Errorf("diff of an untracked file: %s", jsonOf(d))
		}
		e.call(http.MethodGet, base+"/git/diff?path="+url.QueryEscape("/workspace/repo/d.txt"), nil, http.StatusOK, &d)
		if d.Original == nil || *d.Original != "gone\n" || d.Modified != nil {
			t.Errorf("diff of a deleted file: %s", jsonOf(d))
		}
		sha := strings.TrimSpace(e.sh(c.ID, "git -C repo rev-parse HEAD"))
		e.call(http.MethodGet, base+"/git/diff?path=repo/a.txt&commit="+sha, nil, http.StatusOK, &d)
		if d.Original == nil || *d.Original != "one\n" || d.Modified == nil || *d.Modified != "one\ntwo\n" {
			t.Errorf("diff of a commit: %s", jsonOf(d))
		}
		e.detail(http.MethodGet, base+"/git/diff?path=repo/a.txt&commit="+sha+"&ref=HEAD", nil, http.StatusUnprocessableEntity)
		e.detail(http.MethodGet, base+"/git/diff?path=repo/a.txt&commit=--output=x", nil, http.StatusBadRequest)
		e.detail(http.MethodGet, base+"/git/diff", nil, http.StatusUnprocessableEntity)
	})

	t.Run("commits", func(t *testing.T) {
		e := e.in(t)
		var page session.GitCommitsPage
		e.call(http.MethodGet, base+"/git/commits?path=repo&limit=1", nil, http.StatusOK, &page)
		if len(page.Commits) != 1 || !page.HasMore || page.Commits[0].Subject != "second" || page.Commits[0].Author != "Ann" ||
			len(page.Commits[0].SHA) != 40 || !strings.HasPrefix(page.Commits[0].SHA, page.Commits[0].ShortSHA) || page.Commits[0].Timestamp == "" {
			t.Fatalf("commits, limit 1: %s", jsonOf(page))
		}
		e.call(http.MethodGet, "/api/git/commits?path=repo&conversation_id="+c.ID, nil, http.StatusOK, &page)
		if len(page.Commits) != 2 || page.HasMore || page.Commits[1].Subject != "first" {
			t.Errorf("commits: %s", jsonOf(page))
		}
		var got []session.GitChange
		e.call(http.MethodGet, base+"/git/commits/"+page.Commits[0].SHA+"/changes?path=repo", nil, http.StatusOK, &got)
		if diff := cmp.Diff(got, []session.GitChange{{Status: "UPDATED", Path: "a.txt"}}); diff != "" {
			t.Errorf("changes of the second commit (-got +want):\n%s", diff)
		}
		// The root commit: every file added.
		e.call(http.MethodGet, "/api/git/commits/"+page.Commits[1].ShortSHA+"/changes?path=repo&conversation_id="+c.ID, nil, http.StatusOK, &got)
		if len(got) != 4 || got[0].Status != "ADDED" {
			t.Errorf("changes of the root commit: %+v", got)
		}
		e.detail(http.MethodGet, base+"/git/commits/zzzz/changes?path=repo", nil, http.StatusBadRequest)
		e.detail(http.MethodGet, base+"/git/commits/abcdef12/changes?path=repo", nil, http.StatusBadRequest)
		e.detail(http.MethodGet, base+"/git/commits?path=repo&limit=0", nil, http.StatusUnprocessableEntity)
	})

	t.Run("bad input", func(t *testing.T) {
		e := e.in(t)
		e.sh(c.ID, "mkdir -p plain")
		if d := e.detail(http.MethodGet, base+"/git/changes?path=plain", nil, http.StatusBadRequest); !strings.Contains(d, "not in a git repository") {
			t.Errorf("a folder that is no repository: %q", d)
		}
		e.detail(http.MethodGet, base+"/git/commits?path=plain", nil, http.StatusBadRequest)
		for _, ref := range []string{"-p", "--output=/tmp/x", "HEAD..main", "a b", "nosuchref"} {
			e.detail(http.MethodGet, base+"/git/changes?path=repo&ref="+url.QueryEscape(ref), nil, http.StatusBadRequest)
		}
		e.detail(http.MethodGet, base+"/git/changes?path="+url.QueryEscape("repo/../../etc"), nil, http.StatusBadRequest)
		// Without a conversation: the default workspace sandbox's, which
		// has no repo.
		e.detail(http.MethodGet, "/api/git/changes?path=repo", nil, http.StatusNotFound)
		e.detail(http.MethodGet, "/api/conversations/nope/git/changes?path=repo", nil, http.StatusNotFound)
		e.detail(http.MethodGet, "/api/git/changes?path=repo&conversation_id=nope", nil, http.StatusNotFound)
		// An image without git: a clear 4xx that says so.
		e.sh(c.ID, "mv /usr/bin/git /usr/bin/git.off")
		defer e.sh(c.ID, "mv /usr/bin/git.off /usr/bin/git")
		if d := e.detail(http.MethodGet, base+"/git/changes?path=repo", nil, http.StatusUnprocessableEntity); !strings.Contains(d, "git is not installed") {
			t.Errorf("no git in the image: %q", d)
		}
	})
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestFileRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{sandboxes: true})
	c := e.create(nil)
	base := "/api/conversations/" + c.ID
	e.sh(c.ID, "mkdir -p site/css site/.hidden site/Beta site/alpha && printf '<h1>hi</h1>' > site/index.html && printf 'body{}' > site/css/a.css && head -c 300000 /dev/urandom > site/blob.bin")

	t.Run("archive", func(t *testing.T) {
		e := e.in(t)
		resp, data := e.get(base + "/file/archive?path=site")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/gzip" ||
			!strings.Contains(resp.Header.Get("Content-Disposition"), "site.tar.gz") {
			t.Fatalf("archive: %d %v", resp.StatusCode, resp.Header)
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		sizes := map[string]int64{}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			sizes[strings.TrimPrefix(h.Name, "./")] = h.Size
		}
		if sizes["site/index.html"] != 11 || sizes["site/css/a.css"] != 6 || sizes["site/blob.bin"] != 300000 {
			t.Errorf("tar.gz holds %v", sizes)
		}
		resp, data = e.get("/api/file/archive?format=zip&path=" + url.QueryEscape("/workspace/site") + "&conversation_id=" + c.ID)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/zip" {
			t.Fatalf("zip archive: %d %s", resp.StatusCode, data)
		}
		zf, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, f := range zf.File {
			if f.Name == "site/index.html" || f.Name == "site/css/a.css" {
				rc, _ := f.Open()
				b, _ := io.ReadAll(rc)
				rc.Close()
				got[f.Name] = string(b)
			}
		}
		if diff := cmp.Diff(got, map[string]string{"site/index.html": "<h1>hi</h1>", "site/css/a.css": "body{}"}); diff != "" {
			t.Errorf("zip (-got +want):\n%s", diff)
		}
		e.detail(http.MethodGet, base+"/file/archive?path=site&format=rar", nil, http.StatusUnprocessableEntity)
		e.detail(http.MethodGet, base+"/file/archive?path=site/index.html", nil, http.StatusBadRequest)
		e.detail(http.MethodGet, base+"/file/archive?path=nope", nil, http.StatusNotFound)
		e.detail(http.MethodGet, base+"/file/archive", nil, http.StatusUnprocessableEntity)
		e.detail(http.MethodGet, base+"/file/archive?path="+url.QueryEscape("site/../../etc"), nil, http.StatusBadRequest)
	})

	t.Run("folders", func(t *testing.T) {
		e := e.in(t)
		var pg struct {
			Items []session.Subdir `json:"items"`
			Next  *string          `json:"next_page_id"`
		}
		e.call(http.MethodGet, base+"/file/search_subdirs?path=site&limit=2", nil, http.StatusOK, &pg)
		if diff := cmp.Diff(pg.Items, []session.Subdir{{Name: "alpha", Path: "/workspace/site/alpha"}, {Name: "Beta", Path: "/workspace/site/Beta"}}); diff != "" || pg.Next == nil || *pg.Next != "css" {
			t.Errorf("first page (-got +want):\n%s next %v", diff, pg.Next)
		}
		e.call(http.MethodGet, base+"/file/search_subdirs?path=site&page_id=css", nil, http.StatusOK, &pg)
		if len(pg.Items) != 1 || pg.Items[0].Name != "css" || pg.Next != nil {
			t.Errorf("second page: %+v", pg)
		}
		e.call(http.MethodGet, "/api/file/search_subdirs?path=site&query=ET&include_hidden=true&conversation_id="+c.ID, nil, http.StatusOK, &pg)
		if len(pg.Items) != 1 || pg.Items[0].Name != "Beta" {
			t.Errorf("query ET: %+v", pg)
		}
		e.detail(http.MethodGet, base+"/file/search_subdirs?path=site/index.html", nil, http.StatusBadRequest)
		e.detail(http.MethodGet, base+"/file/search_subdirs?path=site&limit=500", nil, http.StatusUnprocessableEntity)

		var ok struct{ Success bool }
		e.call(http.MethodPost, base+"/file/create_directory?path="+url.QueryEscape("made/a/b"), nil, http.StatusOK, &ok)
		e.call(http.MethodPost, "/api/file/create_directory?path="+url.QueryEscape("/workspace/made/a/b")+"&conversation_id="+c.ID, nil, http.StatusOK, &ok)
		if !ok.Success || strings.TrimSpace(e.sh(c.ID, "test -d made/a/b && echo yes")) != "yes" {
			t.Errorf("create_directory: %+v", ok)
		}
		e.detail(http.MethodPost, base+"/file/create_directory?path=site/index.html", nil, http.StatusBadRequest)
		e.detail(http.MethodPost, base+"/file/create_directory?path=site/index.html/x", nil, http.StatusBadRequest)
		e.detail(http.MethodPost, base+"/file/create_directory?path="+url.QueryEscape("../escape"), nil, http.StatusBadRequest)
		e.detail(http.MethodPost, base+"/file/create_directory", nil, http.StatusUnprocessableEntity)

		var h session.Home
		e.call(http.MethodGet, base+"/file/home", nil, http.StatusOK, &h)
		if h.Home == "" || !strings.HasPrefix(h.Home, "/") || len(h.Locations) != 1 || h.Locations[0].Path != "/" || h.Favorites == nil {
			t.Errorf("home: %+v", h)
		}
	})

	t.Run("trajectory", func(t *testing.T) {
		e := e.in(t)
		e.call(http.MethodPost, base+"/events", message("remember this", false), http.StatusOK, nil)
		resp, data := e.get("/api/file/download-trajectory/" + c.ID)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("trajectory: %d %s", resp.StatusCode, data)
		}
		zf, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		found := false
		for _, f := range zf.File {
			names = append(names, f.Name)
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			if strings.HasPrefix(f.Name, "events/") && strings.Contains(string(b), "remember this") {
				found = true
			}
			if f.Name == "base_state.json" && !strings.Contains(string(b), c.ID) {
				t.Errorf("base_state.json: %s", b)
			}
		}
		if !found || !slices.Contains(names, "base_state.json") {
			t.Errorf("trajectory holds %v; the message found: %v", names, found)
		}
		e.detail(http.MethodGet, "/api/file/download-trajectory/nope", nil, http.StatusNotFound)
	})
}

func TestWorkspacePreview(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{sandboxes: true, config: func(c *server.Config) { c.APIKeys = []string{"k1"}; c.MaxUploadBytes = 1 << 20 }})
	c := e.create(nil)
	base := "/api/conversations/" + c.ID
	e.sh(c.ID, "mkdir -p site/sub /tmp/outside && printf '<h1>hi</h1>' > site/index.html && printf 'body{}' > site/a.css && printf 'secret' > /tmp/outside/s.txt && ln -s /tmp/outside site/out && printf 'x' > site/sub/data.json")

	t.Run("files", func(t *testing.T) {
		e := e.in(t)
		for _, tc := range []struct{ path, ctype, body string }{
			{"/workspace/site/", "text/html; charset=utf-8", "<h1>hi</h1>"},
			{"/workspace/site/index.html", "text/html; charset=utf-8", "<h1>hi</h1>"},
			{"/workspace/site/a.css", "text/css; charset=utf-8", "body{}"},
			{"/workspace/site/sub/data.json", "application/json", "x"},
		} {
			resp, data := e.get(base + tc.path)
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "sandbox") {
				t.Errorf("%s: Content-Security-Policy %q: the agent's pages must not run as the server's origin", tc.path, csp)
			}
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tc.ctype || string(data) != tc.body {
				t.Errorf("%s: %d %q %q, want %q %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), data, tc.ctype, tc.body)
			}
		}
		// A folder without its slash is sent to it; one without index.html is 404.
		status, _ := e.raw(http.MethodGet, base+"/workspace/site", nil, nil, true)
		if status != http.StatusOK { // the redirect is followed
			t.Errorf("folder without a slash: %d", status)
		}
		e.detail(http.MethodGet, base+"/workspace/site/sub/", nil, http.StatusNotFound)
		e.detail(http.MethodGet, base+"/workspace/site/nope.txt", nil, http.StatusNotFound)
		e.detail(http.MethodGet, base+"/workspace/site/out/s.txt", nil, http.StatusBadRequest)
		e.detail(http.MethodGet, base+"/workspace/site/%2e%2e/%2e%2e/etc/passwd", nil, http.StatusBadRequest)
		e.detail(http.MethodGet, "/api/conversations/nope/workspace/site/", nil, http.StatusNotFound)
	})

	t.Run("cookie", func(t *testing.T) {
		e := e.in(t)
		if status, body := e.raw(http.MethodGet, base+"/workspace/site/a.css", nil, nil, false); status != http.StatusUnauthorized {
			t.Fatalf("without the key: %d %s", status, body)
		}
		if status, _ := e.raw(http.MethodPost, "/api/auth/workspace-session", nil, nil, false); status != http.StatusUnauthorized {
			t.Errorf("a session without the key: %d", status)
		}
		req, _ := http.NewRequest(http.MethodPost, e.url+"/api/auth/workspace-session", nil)
		req.Header.Set("X-Session-API-Key", "k1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cookies := resp.Cookies()
		if resp.StatusCode != http.StatusNoContent || len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].Value == "" || strings.Contains(cookies[0].Value, "k1") {
			t.Fatalf("workspace session: %d %+v", resp.StatusCode, cookies)
		}
		ck := cookies[0].Name + "=" + cookies[0].Value
		if status, body := e.raw(http.MethodGet, base+"/workspace/site/a.css", nil, http.Header{"Cookie": {ck}}, false); status != http.StatusOK || string(body) != "body{}" {
			t.Errorf("with the cookie: %d %s", status, body)
		}
		// The cookie opens only the workspace and port routes.
		if status, _ := e.raw(http.MethodGet, base, nil, http.Header{"Cookie": {ck}}, false); status != http.StatusUnauthorized {
			t.Errorf("the cookie on another route: %d", status)
		}
		if status, _ := e.raw(http.MethodGet, base+"/workspace/site/a.css", nil, http.Header{"Cookie": {cookies[0].Name + "=forged"}}, false); status != http.StatusUnauthorized {
			t.Errorf("a forged cookie: %d", status)
		}
		req, _ = http.NewRequest(http.MethodDelete, e.url+"/api/auth/workspace-session", nil)
		req.Header.Set("X-Session-API-Key", "k1")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || len(resp.Cookies()) != 1 || resp.Cookies()[0].MaxAge >= 0 {
			t.Errorf("delete the session: %d %+v", resp.StatusCode, resp.Cookies())
		}
	})

	t.Run("preview token", func(t *testing.T) {
		e := e.in(t)
		var urls struct {
			Workspace string `json:"workspace_url"`
			Ports     string `json:"ports_url"`
		}
		e.call(http.MethodPost, base+"/preview", nil, http.StatusOK, &urls)
		if !strings.HasPrefix(urls.Workspace, "/preview/") || !strings.HasSuffix(urls.Workspace, "/"+c.ID+"/workspace/") || strings.Contains(urls.Workspace, "k1") {
			t.Fatalf("preview URLs: %+v", urls)
		}
		if status, body := e.raw(http.MethodGet, urls.Workspace+"site/a.css", nil, nil, false); status != http.StatusOK || string(body) != "body{}" {
			t.Errorf("a file through the preview URL: %d %s", status, body)
		}
		e.detail(http.MethodGet, urls.Workspace+"site/out/s.txt", nil, http.StatusBadRequest)
		// The token is this conversation's: not another's, not forged.
		other := e.create(nil)
		forOther := strings.Replace(urls.Workspace, c.ID, other.ID, 1)
		if status, _ := e.raw(http.MethodGet, forOther+"site/a.css", nil, nil, false); status != http.StatusUnauthorized {
			t.Errorf("the token on another conversation: %d", status)
		}
		if status, _ := e.raw(http.MethodGet, "/preview/forged/"+c.ID+"/workspace/site/a.css", nil, nil, false); status != http.StatusUnauthorized {
			t.Errorf("a forged token: %d", status)
		}
		e.detail(http.MethodPost, "/api/conversations/nope/preview", nil, http.StatusNotFound)
	})

	t.Run("ports", func(t *testing.T) {
		e := e.in(t)
		if d := e.detail(http.MethodGet, base+"/ports/8799/", nil, http.StatusBadGateway); !strings.Contains(d, "8799") {
			t.Errorf("a port nothing listens on: %q", d)
		}
		e.detail(http.MethodGet, base+"/ports/0/", nil, http.StatusUnprocessableEntity)
		e.detail(http.MethodGet, base+"/ports/http/", nil, http.StatusUnprocessableEntity)
		if status, body := e.upload(base+"/file/upload?path=srv.py", "srv.py", []byte(echoServer)); status != http.StatusOK {
			t.Fatalf("upload the server: %d %s", status, body)
		}
		e.sh(c.ID, "setsid nohup python3 srv.py 8798 > srv.log 2>&1 < /dev/null & sleep 1")
		var status int
		var body []byte
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if status, body = e.request(http.MethodPost, base+"/ports/8798/echo/a%20b?x=1", "ping", http.Header{"Cookie": {"keep=me"}}); status == http.StatusOK {
				break
			}
		}
		var seen map[string]string
		if status != http.StatusOK || json.Unmarshal(body, &seen) != nil {
			t.Fatalf("through the port: %d %s; the server's log: %+v", status, body, e.bash(c.ID, map[string]any{"command": "cat srv.log; ps ax"}))
		}
		want := map[string]string{"path": "/echo/a%20b?x=1", "method": "POST", "body": "ping", "key": "", "auth": "", "cookie": "keep=me"}
		if diff := cmp.Diff(seen, want); diff != "" {
			t.Errorf("what the sandbox's server saw (-got +want):\n%s", diff)
		}
		// A body past the upload bound does not reach the sandbox whole.
		if status, body := e.request(http.MethodPost, base+"/ports/8798/echo", strings.Repeat("x", 2<<20), nil); status != http.StatusRequestEntityTooLarge {
			t.Errorf("a body over the bound: %d %.200s, want 413", status, body)
		}
		// A WebSocket through the port.
		h := http.Header{"X-Session-API-Key": {"k1"}}
		ws, resp, err := websocket.DefaultDialer.Dial(e.wsURL(base+"/ports/8798/ws"), h)
		if err != nil {
			if resp != nil {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("websocket: %v %d %s", err, resp.StatusCode, b)
			}
			t.Fatalf("websocket: %v", err)
		}
		defer ws.Close()
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		if err := ws.WriteMessage(websocket.TextMessage, []byte("hello ws")); err != nil {
			t.Fatal(err)
		}
		_, msg, err := ws.ReadMessage()
		if err != nil || string(msg) != "echo: hello ws" {
			t.Errorf("websocket echo: %q %v", msg, err)
		}
		if status, _ := e.raw(http.MethodGet, base+"/ports/8798/", nil, nil, false); status != http.StatusUnauthorized {
			t.Errorf("a port without the key: %d", status)
		}
		var urls struct {
			Ports string `json:"ports_url"`
		}
		e.call(http.MethodPost, base+"/preview", nil, http.StatusOK, &urls)
		if status, body := e.raw(http.MethodGet, urls.Ports+"8798/p", nil, nil, false); status != http.StatusOK || !strings.Contains(string(body), `"path": "/p"`) {
			t.Errorf("a port through the preview URL: %d %s", status, body)
		}
	})
}

// echoServer is a server for the sandbox: HTTP requests are answered with
// what they were (as JSON), and /ws is a WebSocket that echoes text frames.
const echoServer = `import base64, hashlib, json, socketserver, struct, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self): self.answer()
    def do_POST(self): self.answer()
    def answer(self):
        if self.path == "/ws":
            return self.ws()
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode()
        out = json.dumps({"path": self.path, "method": self.command, "body": body,
            "key": self.headers.get("X-Session-API-Key", ""), "auth": self.headers.get("Authorization", ""),
            "cookie": self.headers.get("Cookie", "")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def ws(self):
        key = self.headers["Sec-WebSocket-Key"]
        acc = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", acc)
        self.end_headers()
        self.wfile.flush()
        b1, b2 = self.rfile.read(2)
        n = b2 & 127
        if n == 126: n = struct.unpack(">H", self.rfile.read(2))[0]
        mask = self.rfile.read(4)
        data = bytes(c ^ mask[i % 4] for i, c in enumerate(self.rfile.read(n)))
        out = b"echo: " + data
        self.wfile.write(bytes([0x81, len(out)]) + out)
        self.wfile.flush()
        self.close_connection = True
class S(socketserver.ThreadingMixIn, HTTPServer): pass
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
`
