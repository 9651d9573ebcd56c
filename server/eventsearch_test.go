package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gohands/gohands/event"
)

// TestEventSearchPartialBody: a body search that reads past the store's
// time budget answers partial: true with fewer events than the limit and a
// next page id that the next search takes; other searches have no partial.
func TestEventSearchPartialBody(t *testing.T) {
	e := newEnv(t, options{})
	id := e.create(nil).ID
	// 40,000 observations whose JSON has "terminal" (the tool's name)
	// but whose texts do not: the search decodes every one, which takes
	// far more than the budget of 100 ms.
	exit := 0
	for lo := 0; lo < 40_000; lo += 2000 {
		evs := make([]event.Event, 0, 2000)
		for i := lo; i < lo+2000; i++ {
			evs = append(evs, &event.Observation{
				Base: event.Base{Source: event.SourceEnvironment},
				Observation: &event.TerminalObservation{
					ToolOutput: event.ToolOutput{Content: event.Text(fmt.Sprint("out ", i))},
					Command:    "ls", ExitCode: &exit,
				},
				ToolName: "terminal", ToolCallID: fmt.Sprint("call-", i),
			})
		}
		if err := e.store.Append(id, evs...); err != nil {
			t.Fatal(err)
		}
	}
	var page struct {
		Items      []frame `json:"items"`
		NextPageID *string `json:"next_page_id"`
		Partial    *bool   `json:"partial"`
	}
	base := "/api/conversations/" + id + "/events/search?"
	e.call(http.MethodGet, base+"body=terminal&limit=100", nil, http.StatusOK, &page)
	if page.Partial == nil || !*page.Partial || page.NextPageID == nil || len(page.Items) >= 100 {
		t.Fatalf("body search: partial %v, next %v, %d items; want partial with a next page", page.Partial, page.NextPageID, len(page.Items))
	}
	next := *page.NextPageID
	page.Partial, page.NextPageID = nil, nil
	data := e.call(http.MethodGet, base+"body=terminal&limit=100&page_id="+next, nil, http.StatusOK, &page)
	if page.NextPageID != nil && *page.NextPageID == next {
		t.Fatalf("the next page did not move on: %s", data)
	}
	// A full page of a search by kind: no partial.
	data = e.call(http.MethodGet, base+"kind=ObservationEvent&limit=5", nil, http.StatusOK, nil)
	if strings.Contains(string(data), "partial") {
		t.Errorf("kind search answered %s", data)
	}
}
