package server

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/session"
)

// The parsers of the query parameters of the REST and socket routes. They
// take the query as url.Values (what gin's c.Query reads: the first value of
// a repeated parameter) or one value, and return a value or an error that
// names the parameter; FuzzQuery and FuzzTimestamp hold them to that.

// maxLimit is the largest page of a search, and the default.
const maxLimit = 100

// maxBatchIDs bounds the ids of one batch get.
const maxBatchIDs = 100

// parseLimit reads limit: 1..100, default 100.
func parseLimit(v string) (int, error) {
	if v == "" {
		return maxLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLimit {
		return 0, errorf(http.StatusUnprocessableEntity, "limit: %q is not a number from 1 to 100", v)
	}
	return n, nil
}

// parseIDs reads the ids of a batch get, given as ids=a&ids=b or ids=a,b
// (or both): blanks around an id and empty ids are dropped; one to 100 ids.
func parseIDs(field string, values []string) ([]string, error) {
	var ids []string
	for _, v := range values {
		for id := range strings.SplitSeq(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return nil, errorf(http.StatusUnprocessableEntity, "%s: give one or more ids (%s=a&%s=b or %s=a,b)", field, field, field, field)
	}
	if len(ids) > maxBatchIDs {
		return nil, errorf(http.StatusUnprocessableEntity, "%s: at most 100 at once, got %d", field, len(ids))
	}
	return ids, nil
}

var conversationSorts = []string{"CREATED_AT", "CREATED_AT_DESC", "UPDATED_AT", "UPDATED_AT_DESC"}

// parseConversationSort reads the sort_order of a conversation search; ""
// is the store's default.
func parseConversationSort(v string) (session.ConversationSort, error) {
	if v != "" && !slices.Contains(conversationSorts, v) {
		return "", errorf(http.StatusUnprocessableEntity, "sort_order: %q is not one of %s", v, strings.Join(conversationSorts, ", "))
	}
	return session.ConversationSort(v), nil
}

// parseEventQuery reads the filters of the event search and count routes
// (all but limit, which only the search takes).
func parseEventQuery(query url.Values) (session.EventQuery, error) {
	var q session.EventQuery
	if k := query.Get("kind"); k != "" {
		kind, err := event.ParseKind(k)
		if err != nil {
			return q, errorf(http.StatusUnprocessableEntity, "kind: %q is not an event kind", k)
		}
		q.Kinds = []event.Kind{kind}
	}
	switch src := query.Get("source"); src {
	case "", string(event.SourceAgent), string(event.SourceUser), string(event.SourceEnvironment):
		q.Source = src
	default:
		return q, errorf(http.StatusUnprocessableEntity, "source: %q is not agent, user or environment", src)
	}
	q.Body = query.Get("body")
	switch so := query.Get("sort_order"); so {
	case "", "TIMESTAMP":
	case "TIMESTAMP_DESC":
		q.Desc = true
	default:
		return q, errorf(http.StatusUnprocessableEntity, "sort_order: %q is not TIMESTAMP or TIMESTAMP_DESC", so)
	}
	var err error
	if q.Since, err = timeBound("timestamp__gte", query.Get("timestamp__gte")); err != nil {
		return q, err
	}
	if q.Until, err = timeBound("timestamp__lt", query.Get("timestamp__lt")); err != nil {
		return q, err
	}
	q.PageID = query.Get("page_id")
	return q, nil
}

// timeBound reads a timestamp filter for a session.EventQuery, where the
// zero time means no bound. The one instant that is the zero time
// (0001-01-01T00:00:00Z) is moved a nanosecond earlier, so that it still
// bounds: events carry whole microseconds, so the same events pass.
func timeBound(name, v string) (time.Time, error) {
	t, err := parseTime(name, v)
	if err == nil && v != "" && t.IsZero() {
		t = t.Add(-time.Nanosecond)
	}
	return t, err
}

// timeLayouts are the forms of a timestamp parameter: RFC 3339 (with a
// fraction of a second or not), the same without a zone, and a date.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"}

// parseTime reads a timestamp parameter: RFC 3339, or without a zone (taken
// as UTC); "" is the zero time. The time is in UTC.
func parseTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errorf(http.StatusUnprocessableEntity, "%s: %q is not a timestamp (RFC 3339)", name, v)
}

// parseReplay reads what an events socket asks to be replayed:
// resend_all=true or resend_mode=all (everything: 0), resend_mode=since&
// after=N or after=N alone (the events after sequence number N), or nothing
// (live events only: -1).
func parseReplay(query url.Values) (int64, error) {
	switch mode := query.Get("resend_mode"); mode {
	case "all":
		return 0, nil
	case "since":
		if query.Get("after") == "" && query.Get("after_timestamp") != "" {
			return 0, nil // narrowed by parseReplaySince
		}
		return parseSeq(query.Get("after"))
	case "", "none":
	default:
		return 0, fmt.Errorf("resend_mode: %q is not all or since", mode)
	}
	if v := query.Get("after"); v != "" {
		return parseSeq(v)
	}
	if all, _ := strconv.ParseBool(query.Get("resend_all")); all {
		return 0, nil
	}
	return -1, nil
}

// parseReplaySince reads after_timestamp, the reference server's form of
// resend_mode=since: replay the events stamped at or after it (RFC 3339;
// without a zone, UTC). It is the zero time when not given, and when
// after, GoHands' exact form, is given too, which then wins.
func parseReplaySince(query url.Values) (time.Time, error) {
	v := query.Get("after_timestamp")
	if v == "" || query.Get("after") != "" {
		return time.Time{}, nil
	}
	if mode := query.Get("resend_mode"); mode != "since" {
		return time.Time{}, errorf(http.StatusUnprocessableEntity, "after_timestamp: given with resend_mode %q; it goes with resend_mode=since", mode)
	}
	return timeBound("after_timestamp", v)
}

// parseSeq reads after, a sequence number (0 or more).
func parseSeq(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("after: %q is not a sequence number", v)
	}
	return n, nil
}

// parseLatestEventID reads latest_event_id of the V0 socket: replay the
// events after it; -1 (the V0 client's "none yet") and "" mean everything
// (0).
func parseLatestEventID(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < -1 {
		return 0, fmt.Errorf("latest_event_id: %q is not an event id", v)
	}
	return max(n, 0), nil
}
