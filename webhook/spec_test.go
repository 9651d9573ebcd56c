package webhook

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSpecUnmarshalJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    Spec
		wantErr string
	}{
		{
			name: "only base_url",
			in:   `{"base_url":"https://hooks.example.com/oh"}`,
			want: Spec{BaseURL: "https://hooks.example.com/oh"},
		},
		{
			name: "every field",
			in: `{"base_url":"http://h:8080","headers":{"Authorization":"Bearer x"},
				"event_buffer_size":5,"flush_delay":0.5,"num_retries":2,"retry_delay":1.25}`,
			want: Spec{
				BaseURL:         "http://h:8080",
				Headers:         map[string]string{"Authorization": "Bearer x"},
				EventBufferSize: 5,
				FlushDelay:      500 * time.Millisecond,
				NumRetries:      2,
				RetryDelay:      1250 * time.Millisecond,
			},
		},
		{
			name: "zero retries and zero retry delay mean none",
			in:   `{"base_url":"http://h","num_retries":0,"retry_delay":0}`,
			want: Spec{BaseURL: "http://h", NumRetries: -1, RetryDelay: -1},
		},
		{
			name: "sub-nanosecond flush delay is not the default",
			in:   `{"base_url":"http://h","flush_delay":1e-12}`,
			want: Spec{BaseURL: "http://h", FlushDelay: 1},
		},
		{name: "missing base_url", in: `{}`, wantErr: "base_url: required"},
		{name: "null", in: `null`, wantErr: "base_url: required"},
		{name: "bad scheme", in: `{"base_url":"ftp://h"}`, wantErr: "base_url: scheme"},
		{name: "no host", in: `{"base_url":"http://"}`, wantErr: "base_url: no host"},
		{name: "query", in: `{"base_url":"http://h/x?token=1"}`, wantErr: "query"},
		{name: "bad header name", in: `{"base_url":"http://h","headers":{"a b":"c"}}`, wantErr: "headers:"},
		{name: "header value with newline", in: `{"base_url":"http://h","headers":{"A":"x\r\nB: y"}}`, wantErr: "control characters"},
		{name: "zero buffer", in: `{"base_url":"http://h","event_buffer_size":0}`, wantErr: "event_buffer_size"},
		{name: "zero flush delay", in: `{"base_url":"http://h","flush_delay":0}`, wantErr: "flush_delay"},
		{name: "negative flush delay", in: `{"base_url":"http://h","flush_delay":-1}`, wantErr: "flush_delay"},
		{name: "huge retry delay", in: `{"base_url":"http://h","retry_delay":1e300}`, wantErr: "retry_delay"},
		{name: "negative retries", in: `{"base_url":"http://h","num_retries":-2}`, wantErr: "num_retries"},
		{name: "wrong type", in: `{"base_url":"http://h","num_retries":"3"}`, wantErr: "num_retries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Spec
			err := json.Unmarshal([]byte(tt.in), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("spec (-got +want):\n%s", diff)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestSpecMarshalJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   Spec
		want string
	}{
		{
			name: "defaults written out",
			in:   Spec{BaseURL: "http://h"},
			want: `{"base_url":"http://h","event_buffer_size":10,"flush_delay":30,"num_retries":3,"retry_delay":5}`,
		},
		{
			name: "none written as zero",
			in:   Spec{BaseURL: "http://h", Headers: map[string]string{"A": "b"}, NumRetries: -1, RetryDelay: -1, FlushDelay: 1500 * time.Millisecond},
			want: `{"base_url":"http://h","headers":{"A":"b"},"event_buffer_size":10,"flush_delay":1.5,"num_retries":0,"retry_delay":0}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Marshal = %s\nwant      %s", got, tt.want)
			}
			var back Spec
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("Unmarshal of Marshal output: %v", err)
			}
			if diff := cmp.Diff(back.withDefaults(), tt.in.withDefaults()); diff != "" {
				t.Errorf("round trip (-got +want):\n%s", diff)
			}
		})
	}
}

func TestSpecValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		spec    Spec
		wantErr string
	}{
		{"zero tuning", Spec{BaseURL: "https://h/p/"}, ""},
		{"negatives mean none", Spec{BaseURL: "http://h", NumRetries: -1, RetryDelay: -1}, ""},
		{"empty base", Spec{}, "base_url: required"},
		{"password is not echoed", Spec{BaseURL: "http://u:pw@h:bad/"}, "base_url: not a URL"},
		{"negative buffer", Spec{BaseURL: "http://h", EventBufferSize: -1}, "event_buffer_size"},
		{"negative flush delay", Spec{BaseURL: "http://h", FlushDelay: -1}, "flush_delay"},
		{"long flush delay", Spec{BaseURL: "http://h", FlushDelay: 25 * time.Hour}, "flush_delay"},
		{"long retry delay", Spec{BaseURL: "http://h", RetryDelay: 25 * time.Hour}, "retry_delay"},
		{"bad header", Spec{BaseURL: "http://h", Headers: map[string]string{"": "x"}}, "headers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Errorf("Validate error %q shows the password", err)
			}
		})
	}
}
