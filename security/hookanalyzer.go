package security

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/gohands/gohands/event"
)

// HookAnalyzer asks an external program or HTTP endpoint to rate actions.
// It sends the ActionEvent as JSON (on the program's standard input, or as
// the body of a POST) and reads a verdict back as JSON:
//
//	{"risk": "HIGH", "reason": "deletes the database"}
//
// risk is LOW, MEDIUM, HIGH or UNKNOWN, in any case. A program that exits
// with a status other than 0, an endpoint that answers other than 2xx,
// either one taking longer than the timeout, or an answer that is not such
// a verdict rates the action UNKNOWN, with a reason saying what went wrong.
type HookAnalyzer struct {
	// Name names the analyzer in verdicts; "hook" if empty.
	Name string
	// Command is the program and its arguments. Exactly one of Command
	// and URL is set.
	Command []string
	// URL is the endpoint, http or https.
	URL string
	// Timeout bounds each rating; DefaultTimeout if zero.
	Timeout time.Duration
	// Env is added to the program's environment (NAME=value), which is
	// otherwise only PATH: the server's own environment is not passed on.
	Env []string
	// Client makes the requests; a client without a timeout of its own if
	// nil.
	Client *http.Client
}

func (h *HookAnalyzer) validate() error {
	switch {
	case len(h.Command) > 0 && h.URL != "":
		return errors.New("give command or url, not both")
	case len(h.Command) == 0 && h.URL == "":
		return errors.New("give command or url")
	case h.URL != "":
		u, err := url.Parse(h.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("url %q is not an http or https URL", h.URL)
		}
	}
	for _, e := range h.Env {
		if !isAssignment(e) {
			return fmt.Errorf("env %q is not NAME=value", e)
		}
	}
	return nil
}

func (h *HookAnalyzer) name() string {
	if h.Name != "" {
		return h.Name
	}
	return "hook"
}

// hookVerdict is the answer of a hook analyzer.
type hookVerdict struct {
	Risk   *string `json:"risk"`
	Reason string  `json:"reason"`
}

// Analyze sends a to the hook and returns its verdict, or UNKNOWN with the
// reason the hook gave none.
func (h *HookAnalyzer) Analyze(ctx context.Context, a *event.Action) Verdict {
	unknown := func(format string, args ...any) Verdict {
		return Verdict{Risk: event.RiskUnknown, Reason: h.name() + ": " + fmt.Sprintf(format, args...), Analyzer: h.name()}
	}
	if a == nil {
		return unknown("there is no action to rate")
	}
	body, err := event.Marshal(a)
	if err != nil {
		return unknown("the action cannot be sent: %v", err)
	}
	var answer []byte
	if h.URL != "" {
		answer, err = h.post(ctx, body)
	} else {
		answer, err = h.exec(ctx, body)
	}
	if err != nil {
		return unknown("%v", err)
	}
	var v hookVerdict
	if err := json.Unmarshal(answer, &v); err != nil {
		return unknown("the answer is not a verdict (%v): %q", err, clip(string(answer), 200))
	}
	if v.Risk == nil {
		return unknown("the answer has no risk: %q", clip(string(answer), 200))
	}
	risk, ok := parseRisk(*v.Risk)
	if !ok {
		return unknown("risk %q is not LOW, MEDIUM, HIGH or UNKNOWN", clip(*v.Risk, 40))
	}
	reason := clip(v.Reason, maxReasonLen)
	if reason == "" {
		reason = "rated " + string(risk)
	}
	return Verdict{Risk: risk, Reason: h.name() + ": " + reason, Analyzer: h.name()}
}

func (h *HookAnalyzer) exec(ctx context.Context, body []byte) ([]byte, error) {
	env := append([]string{"GOHANDS_HOOK_EVENT=security_analysis"}, h.Env...)
	r := runProgram(ctx, h.Command, body, h.Timeout, env)
	switch {
	case r.err != nil:
		return nil, r.err
	case r.exitCode != 0:
		msg := fmt.Sprintf("exited with status %d", r.exitCode)
		if s := clip(string(r.stderr), 300); s != "" {
			msg += ": " + s
		}
		return nil, errors.New(msg)
	}
	return r.stdout, nil
}

func (h *HookAnalyzer) post(ctx context.Context, body []byte) ([]byte, error) {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	client := h.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return nil, fmt.Errorf("timed out after %s", timeout)
		}
		return nil, fmt.Errorf("request failed: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxProgramOutput))
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return nil, fmt.Errorf("timed out after %s", timeout)
		}
		return nil, fmt.Errorf("reading the answer: %v", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("answered %s: %q", resp.Status, clip(string(data), 200))
	}
	return data, nil
}
