package server

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/event"
)

// checkParamError fails t unless err is a 422 (when status is set) whose
// detail names the parameter (one of names) and is printable text.
func checkParamError(t *testing.T, err error, status bool, names ...string) {
	t.Helper()
	msg := err.Error()
	if status {
		var ae *apiError
		if !errors.As(err, &ae) || ae.status != http.StatusUnprocessableEntity {
			t.Fatalf("error %q: want a 422", msg)
		}
	}
	if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(msg, n+": ") }) {
		t.Fatalf("error %q names none of %v", msg, names)
	}
	if !utf8.ValidString(msg) {
		t.Fatalf("error %q is not UTF-8", msg)
	}
}

// FuzzQuery reads arbitrary query strings as the REST and socket routes do
// (limit, ids, sort_order, the event filters, resend_mode/after/resend_all,
// latest_event_id). Each parser must give a value within its bounds or an
// error that names the parameter (a 422 for the REST routes), and what it
// gives must read back the same when written again.
func FuzzQuery(f *testing.F) {
	for _, seed := range []string{
		"",
		"limit=1", "limit=100", "limit=0", "limit=101", "limit=-1", "limit=+5", "limit=007", "limit=1e2", "limit=9223372036854775808", "limit=%20",
		"ids=a", "ids=a,b&ids=c", "ids=,,", "ids=%20a%20,b%09", "ids=" + strings.Repeat("x,", 101), "ids=&ids=",
		"sort_order=CREATED_AT", "sort_order=UPDATED_AT_DESC", "sort_order=created_at", "sort_order=TIMESTAMP_DESC",
		"kind=MessageEvent", "kind=openhands.sdk.event.MessageEvent", "kind=gohands.event.ActionEvent", "kind=nope", "kind=.MessageEvent",
		"source=agent", "source=user&source=x", "source=Agent",
		"body=%00%ff", "page_id=abc", "page_id=%zz",
		"timestamp__gte=2026-01-02T03:04:05Z&timestamp__lt=2026-01-02", "timestamp__lt=0001-01-01T00:00:00Z", "timestamp__gte=2026-13-01",
		"resend_mode=all", "resend_mode=since&after=5", "resend_mode=since", "resend_mode=since&after=-1", "resend_mode=none&after=3",
		"resend_mode=ALL", "after=9223372036854775807", "after=9223372036854775808", "after=0x10", "resend_all=true", "resend_all=1&after=2", "resend_all=yes",
		"latest_event_id=-1", "latest_event_id=-2", "latest_event_id=12", "latest_event_id=",
		"limit=5;ids=a", "limit=5&limit=x", "%", "a=%GG&limit=2",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		// As url.URL.Query (and so gin's c.Query) reads it: bad pairs are
		// dropped, the rest kept.
		query, _ := url.ParseQuery(raw)

		if n, err := parseLimit(query.Get("limit")); err != nil {
			checkParamError(t, err, true, "limit")
		} else {
			if n < 1 || n > maxLimit || query.Get("limit") == "" && n != maxLimit {
				t.Fatalf("limit %q read as %d", query.Get("limit"), n)
			}
			if again, err := parseLimit(strconv.Itoa(n)); err != nil || again != n {
				t.Fatalf("limit %d reads back as %d, %v", n, again, err)
			}
		}

		if ids, err := parseIDs("ids", query["ids"]); err != nil {
			checkParamError(t, err, true, "ids")
		} else {
			if len(ids) < 1 || len(ids) > maxBatchIDs {
				t.Fatalf("%d ids from %q", len(ids), query["ids"])
			}
			for _, id := range ids {
				if id == "" || strings.TrimSpace(id) != id || strings.Contains(id, ",") {
					t.Fatalf("id %q from %q", id, query["ids"])
				}
			}
			again, err := parseIDs("ids", []string{strings.Join(ids, ",")})
			if diff := cmp.Diff(again, ids); err != nil || diff != "" {
				t.Fatalf("ids joined read back otherwise (%v; -got +want):\n%s", err, diff)
			}
		}

		if sort, err := parseConversationSort(query.Get("sort_order")); err != nil {
			checkParamError(t, err, true, "sort_order")
		} else if sort != "" && !slices.Contains(conversationSorts, string(sort)) || string(sort) != query.Get("sort_order") {
			t.Fatalf("sort_order %q read as %q", query.Get("sort_order"), sort)
		}

		if q, err := parseEventQuery(query); err != nil {
			checkParamError(t, err, true, "kind", "source", "sort_order", "timestamp__gte", "timestamp__lt")
		} else {
			switch {
			case query.Get("kind") == "" && q.Kinds != nil,
				query.Get("kind") != "" && len(q.Kinds) != 1:
				t.Fatalf("kind %q read as %q", query.Get("kind"), q.Kinds)
			case q.Source != query.Get("source"),
				q.Body != query.Get("body"),
				q.PageID != query.Get("page_id"),
				q.Desc != (query.Get("sort_order") == "TIMESTAMP_DESC"):
				t.Fatalf("%q read as %+v", raw, q)
			}
			// The store checks the kinds again: they must pass, written
			// short or qualified.
			for _, k := range q.Kinds {
				for _, s := range []string{string(k), k.Qualified()} {
					if again, err := event.ParseKind(s); err != nil || again != k {
						t.Fatalf("kind %q reads back as %q, %v", s, again, err)
					}
				}
			}
			for name, bound := range map[string]time.Time{"timestamp__gte": q.Since, "timestamp__lt": q.Until} {
				if bound.IsZero() != (query.Get(name) == "") {
					t.Fatalf("%s %q read as %v: a bound is zero exactly when none is given", name, query.Get(name), bound)
				}
				if bound.Location() != time.UTC {
					t.Fatalf("%s %q read in %v", name, query.Get(name), bound.Location())
				}
			}
		}

		if after, err := parseReplay(query); err != nil {
			checkParamError(t, err, false, "resend_mode", "after")
		} else {
			mode := query.Get("resend_mode")
			all, _ := strconv.ParseBool(query.Get("resend_all"))
			switch {
			case after < -1:
				t.Fatalf("%q: replay after %d", raw, after)
			case mode == "all" && after != 0:
				t.Fatalf("resend_mode=all: replay after %d", after)
			case after == -1 && (mode == "all" || mode == "since" || query.Get("after") != "" || all):
				t.Fatalf("%q: no replay", raw)
			}
			// What a slow consumer is told to reconnect with reads back.
			if after >= 0 {
				hint, _ := url.ParseQuery("resend_mode=since&after=" + strconv.FormatInt(after, 10))
				if again, err := parseReplay(hint); err != nil || again != after {
					t.Fatalf("replay after %d reads back as %d, %v", after, again, err)
				}
			}
		}

		if after, err := parseLatestEventID(query.Get("latest_event_id")); err != nil {
			checkParamError(t, err, false, "latest_event_id")
		} else if after < 0 {
			t.Fatalf("latest_event_id %q: replay after %d", query.Get("latest_event_id"), after)
		} else if again, err := parseLatestEventID(strconv.FormatInt(after, 10)); err != nil || again != after {
			t.Fatalf("latest_event_id %d reads back as %d, %v", after, again, err)
		}
	})
}

// FuzzTimestamp reads arbitrary timestamp__gte/__lt values. A value is the
// zero time only when empty, or a time in UTC, or a 422 naming the
// parameter; a time written again (RFC 3339, or without its zone) reads back
// as the same instant; and as an event filter bound it lets through the
// same whole-microsecond event times as the instant itself.
func FuzzTimestamp(f *testing.F) {
	for _, seed := range []string{
		"", "2026-01-02T03:04:05Z", "2026-01-02T03:04:05.123456789+05:30", "2026-01-02T03:04:05.5-00:00",
		"2026-01-02", "2026-01-02T03:04:05", "2026-01-02T03:04:05.000001", "2026-01-02T03:04:05,5Z",
		"2026-01-02t03:04:05z", "2026-01-02T03:04:05+24:00", "2026-01-02T03:04:60Z", "2026-02-30", "2026-13-01",
		"0001-01-01T00:00:00Z", "0001-01-01", "0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59",
		"1970-01-01T00:00:00.000000001Z", " 2026-01-02", "2026-01-02 03:04:05", "1e9", "now", "\xff",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		const name = "timestamp__gte"
		ts, err := parseTime(name, v)
		if err != nil {
			checkParamError(t, err, true, name)
			if _, err := timeBound(name, v); err == nil {
				t.Fatalf("%q refused as a time, taken as a bound", v)
			}
			return
		}
		if v == "" {
			if !ts.IsZero() {
				t.Fatalf("no value read as %v", ts)
			}
			return
		}
		if ts.Location() != time.UTC {
			t.Fatalf("%q read in %v", v, ts.Location())
		}
		if again, _ := parseTime(name, v); again != ts {
			t.Fatalf("%q read as %v, then %v", v, ts, again)
		}
		// Times a few hours outside years 0000-9999 (from a zone offset)
		// have no RFC 3339 form.
		if y := ts.Year(); y >= 0 && y <= 9999 {
			for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
				s := ts.Format(layout)
				if again, err := parseTime(name, s); err != nil || !again.Equal(ts) {
					t.Fatalf("%q read as %v, written %q, read back as %v, %v", v, ts, s, again, err)
				}
			}
		}

		bound, err := timeBound(name, v)
		if err != nil || bound.IsZero() || ts.Sub(bound) < 0 || ts.Sub(bound) > time.Nanosecond {
			t.Fatalf("%q read as %v, bound %v, %v", v, ts, bound, err)
		}
		micros := ts.Truncate(time.Microsecond)
		for _, at := range []time.Time{micros.Add(-time.Microsecond), micros, micros.Add(time.Microsecond)} {
			if at.Before(bound) != at.Before(ts) {
				t.Fatalf("event at %v: before bound %v %v, before %v %v", at, bound, at.Before(bound), ts, at.Before(ts))
			}
		}
	})
}
