package webhook

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestSpecsFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want []Spec
	}{
		{name: "nothing set", env: nil, want: nil},
		{
			name: "indexed",
			env: map[string]string{
				"OH_WEBHOOKS_0_BASE_URL":          "https://a.example.com",
				"OH_WEBHOOKS_0_HEADERS":           `{"Authorization":"Bearer t"}`,
				"OH_WEBHOOKS_0_EVENT_BUFFER_SIZE": "5",
				"OH_WEBHOOKS_0_FLUSH_DELAY":       "2.5",
				"OH_WEBHOOKS_0_NUM_RETRIES":       " 4 ",
				"OH_WEBHOOKS_0_RETRY_DELAY":       "0.1",
				"OH_WEBHOOKS_1_BASE_URL":          "http://b:9000/hook",
				"OH_WEBHOOKS_1_NUM_RETRIES":       "0",
				// A gap ends the list.
				"OH_WEBHOOKS_3_BASE_URL": "http://c",
			},
			want: []Spec{
				{
					BaseURL:         "https://a.example.com",
					Headers:         map[string]string{"Authorization": "Bearer t"},
					EventBufferSize: 5,
					FlushDelay:      2500 * time.Millisecond,
					NumRetries:      4,
					RetryDelay:      100 * time.Millisecond,
				},
				{BaseURL: "http://b:9000/hook", NumRetries: -1},
			},
		},
		{
			name: "JSON array",
			env: map[string]string{
				"OH_WEBHOOKS": `[{"base_url":"http://a","flush_delay":1},{"base_url":"http://b","headers":{"X":"1"}}]`,
			},
			want: []Spec{
				{BaseURL: "http://a", FlushDelay: time.Second},
				{BaseURL: "http://b", Headers: map[string]string{"X": "1"}},
			},
		},
		{
			name: "variables override and extend the array",
			env: map[string]string{
				"OH_WEBHOOKS":                     `[{"base_url":"http://a","headers":{"X":"1","Y":"2"}}]`,
				"OH_WEBHOOKS_0_HEADERS":           `{"Y":"3"}`,
				"OH_WEBHOOKS_0_EVENT_BUFFER_SIZE": "1",
				"OH_WEBHOOKS_1_BASE_URL":          "http://b",
			},
			want: []Spec{
				{BaseURL: "http://a", Headers: map[string]string{"X": "1", "Y": "3"}, EventBufferSize: 1},
				{BaseURL: "http://b"},
			},
		},
		{
			name: "base_url from a variable completes an array item",
			env: map[string]string{
				"OH_WEBHOOKS":            `[{"num_retries":1}]`,
				"OH_WEBHOOKS_0_BASE_URL": "http://a",
			},
			want: []Spec{{BaseURL: "http://a", NumRetries: 1}},
		},
		{name: "empty array", env: map[string]string{"OH_WEBHOOKS": ` [] `}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SpecsFromEnv(mapEnv(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("specs (-got +want):\n%s", diff)
			}
		})
	}
}

func TestSpecsFromEnvErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		// wantPrefix is the variable the error must start with.
		wantPrefix string
	}{
		{"bad buffer size", map[string]string{"OH_WEBHOOKS_0_BASE_URL": "http://a", "OH_WEBHOOKS_0_EVENT_BUFFER_SIZE": "ten"}, "OH_WEBHOOKS_0_EVENT_BUFFER_SIZE: "},
		{"zero buffer size", map[string]string{"OH_WEBHOOKS_0_BASE_URL": "http://a", "OH_WEBHOOKS_0_EVENT_BUFFER_SIZE": "0"}, "OH_WEBHOOKS_0_EVENT_BUFFER_SIZE: "},
		{"bad flush delay", map[string]string{"OH_WEBHOOKS_0_BASE_URL": "http://a", "OH_WEBHOOKS_0_FLUSH_DELAY": "30s"}, "OH_WEBHOOKS_0_FLUSH_DELAY: "},
		{"NaN flush delay", map[string]string{"OH_WEBHOOKS_0_BASE_URL": "http://a", "OH_WEBHOOKS_0_FLUSH_DELAY": "NaN"}, "OH_WEBHOOKS_0_FLUSH_DELAY: "},
		{"negative retries", map[string]string{"OH_WEBHOOKS_0_BASE_URL": "http://a", "OH_WEBHOOKS_0_NUM_RETRIES": "-1"}, "OH_WEBHOOKS_0_NUM_RETRIES: "},
		{"negative retry delay", map[string]string{"OH_WEBHOOKS_0_BASE_URL": "http://a", "OH_WEBHOOKS_0_RETRY_DELAY": "-5"}, "OH_WEBHOOKS_0_RETRY_DELAY: "},
		{"headers not an object", map[string]string{"OH_WEBHOOKS_0_BASE_URL": "http://a", "OH_WEBHOOKS_0_HEADERS": `["a"]`}, "OH_WEBHOOKS_0_HEADERS: "},
		{"bad header name", map[string]string{"OH_WEBHOOKS_0_BASE_URL": "http://a", "OH_WEBHOOKS_0_HEADERS": `{"a:b":"c"}`}, "OH_WEBHOOKS_0_HEADERS: "},
		{"bad second base url", map[string]string{"OH_WEBHOOKS_0_BASE_URL": "http://a", "OH_WEBHOOKS_1_BASE_URL": "a.example.com"}, "OH_WEBHOOKS_1_BASE_URL: "},
		{"array not JSON", map[string]string{"OH_WEBHOOKS": `[{`}, "OH_WEBHOOKS: "},
		{"array is an object", map[string]string{"OH_WEBHOOKS": `{"base_url":"http://a"}`}, "OH_WEBHOOKS: "},
		{"array item without base_url", map[string]string{"OH_WEBHOOKS": `[{"base_url":"http://a"},{}]`}, "OH_WEBHOOKS[1]: base_url"},
		{"array item bad field", map[string]string{"OH_WEBHOOKS": `[{"base_url":"http://a","flush_delay":-1}]`}, "OH_WEBHOOKS[0]: flush_delay"},
		{"array item wrong type", map[string]string{"OH_WEBHOOKS": `[{"base_url":5}]`}, "OH_WEBHOOKS[0]: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			specs, err := SpecsFromEnv(mapEnv(tt.env))
			if err == nil {
				t.Fatalf("no error; specs %+v", specs)
			}
			if !strings.HasPrefix(err.Error(), tt.wantPrefix) {
				t.Errorf("error %q does not start with %q", err, tt.wantPrefix)
			}
		})
	}
}

func TestSpecsFromEnvBounded(t *testing.T) {
	t.Parallel()
	// A getenv that answers every name must not make an endless list.
	_, err := SpecsFromEnv(func(k string) string {
		if strings.HasSuffix(k, "_BASE_URL") {
			return "http://a"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("error = %v, want one about too many webhooks", err)
	}
}

// FuzzSpecsFromEnv feeds arbitrary values to the variables. Whatever parses
// must validate and survive a JSON round trip.
func FuzzSpecsFromEnv(f *testing.F) {
	f.Add(`[{"base_url":"http://a","flush_delay":1.5,"num_retries":0}]`, "http://b", `{"X":"1"}`, "5", "0.25", "2", "0")
	f.Add("", "https://h/p/", "", "", "", "", "")
	f.Add(`[{"base_url":"http://a"},null]`, "", "", "", "", "", "")
	f.Add(`[]`, "http://[::1]:8080", `{"Authorization":"Bearer x"}`, "1", "1e-12", "100", "86400")
	f.Add(`[{"base_url":"http://a","retry_delay":1e400}]`, "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, array, baseURL, headers, bufSize, flushDelay, retries, retryDelay string) {
		env := map[string]string{
			"OH_WEBHOOKS":                     array,
			"OH_WEBHOOKS_0_BASE_URL":          baseURL,
			"OH_WEBHOOKS_0_HEADERS":           headers,
			"OH_WEBHOOKS_0_EVENT_BUFFER_SIZE": bufSize,
			"OH_WEBHOOKS_0_FLUSH_DELAY":       flushDelay,
			"OH_WEBHOOKS_0_NUM_RETRIES":       retries,
			"OH_WEBHOOKS_0_RETRY_DELAY":       retryDelay,
		}
		specs, err := SpecsFromEnv(mapEnv(env))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "OH_WEBHOOKS") {
				t.Errorf("error %q does not name a variable", err)
			}
			return
		}
		for i, s := range specs {
			if err := s.Validate(); err != nil {
				t.Fatalf("spec %d parsed but does not validate: %v", i, err)
			}
			data, err := json.Marshal(s)
			if err != nil {
				t.Fatalf("spec %d: Marshal: %v", i, err)
			}
			var back Spec
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatalf("spec %d: Unmarshal(%s): %v", i, data, err)
			}
			if diff := cmp.Diff(back.withDefaults(), s.withDefaults()); diff != "" {
				t.Fatalf("spec %d: JSON round trip (-got +want):\n%s", i, diff)
			}
		}
	})
}
