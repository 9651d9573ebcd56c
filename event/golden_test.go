package event

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Golden files in testdata/golden hold one event each, in the canonical
// form Marshal writes. <Kind>.json holds an event of that kind;
// <ToolKind>.json an ActionEvent or ObservationEvent carrying that tool
// action or observation; other files (name.variant.json) more shapes.

// eventOpts compares decoded events: timestamps by instant, and an empty
// slice or map the same as none, since encoding leaves empty lists out.
var eventOpts = cmp.Options{
	cmp.Comparer(func(a, b Time) bool { return a.Equal(b.Time) }),
	cmpopts.EquateEmpty(),
}

func goldenFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	return files
}

// jsonDiff compares two JSON texts as values, not as bytes.
func jsonDiff(t *testing.T, got, want []byte) string {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want is not JSON: %v\n%s", err, want)
	}
	return cmp.Diff(g, w)
}

func TestGoldenRoundTrip(t *testing.T) {
	t.Parallel()
	for _, file := range goldenFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			e, err := Unmarshal(want)
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			got, err := Marshal(e)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if diff := jsonDiff(t, got, want); diff != "" {
				t.Errorf("Marshal(Unmarshal(golden)) mismatch (-got +want):\n%s", diff)
			}
			// encoding/json must write the same as Marshal: servers hand
			// events to it inside bigger responses.
			viaJSON, err := json.Marshal(e)
			if err != nil {
				t.Fatalf("json.Marshal: %v", err)
			}
			if diff := jsonDiff(t, viaJSON, want); diff != "" {
				t.Errorf("json.Marshal(Unmarshal(golden)) mismatch (-got +want):\n%s", diff)
			}
		})
	}
}

// TestGoldenCoverage fails when a kind has no golden file, so that adding a
// kind without a golden is caught.
func TestGoldenCoverage(t *testing.T) {
	t.Parallel()
	have := map[string]bool{}
	for _, file := range goldenFiles(t) {
		have[strings.TrimSuffix(filepath.Base(file), ".json")] = true
	}
	var want []string
	for _, k := range Kinds() {
		want = append(want, string(k))
	}
	for _, newAction := range toolActions {
		want = append(want, newAction().Kind())
	}
	for _, newObservation := range toolObservations {
		want = append(want, newObservation().Kind())
	}
	for _, name := range want {
		if !have[name] {
			t.Errorf("no golden file testdata/golden/%s.json", name)
		}
	}
}

// TestGoldenToolTypes checks that each tool golden decodes to its typed Go
// value, not to the unknown-kind fallback.
func TestGoldenToolTypes(t *testing.T) {
	t.Parallel()
	check := func(kind string, got interface{ Kind() string }) {
		t.Helper()
		switch got.(type) {
		case *UnknownAction, *UnknownObservation:
			t.Errorf("%s.json decoded to %T", kind, got)
		}
		if got.Kind() != kind {
			t.Errorf("%s.json decoded to kind %q", kind, got.Kind())
		}
	}
	for kind := range toolActions {
		if kind == "ExecuteBashAction" {
			continue // an alias, no golden of its own
		}
		e := decodeGolden(t, kind)
		a, ok := e.(*Action)
		if !ok || a.Action == nil {
			t.Fatalf("%s.json: got %T, want an ActionEvent with an action", kind, e)
		}
		check(kind, a.Action)
	}
	for kind := range toolObservations {
		if kind == "ExecuteBashObservation" {
			continue
		}
		e := decodeGolden(t, kind)
		o, ok := e.(*Observation)
		if !ok {
			t.Fatalf("%s.json: got %T, want an ObservationEvent", kind, e)
		}
		check(kind, o.Observation)
	}
}

func decodeGolden(t *testing.T, name string) Event {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "golden", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Unmarshal(data)
	if err != nil {
		t.Fatalf("%s.json: %v", name, err)
	}
	return e
}
