package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
)

// maxSpecs bounds how many webhooks the environment may name, so that a
// getenv that answers every name cannot loop forever.
const maxSpecs = 100

// envFields are the per-spec variables, OH_WEBHOOKS_<n>_<suffix>, with the
// JSON field each one sets.
var envFields = []struct{ suffix, field string }{
	{"BASE_URL", "base_url"},
	{"HEADERS", "headers"},
	{"EVENT_BUFFER_SIZE", "event_buffer_size"},
	{"FLUSH_DELAY", "flush_delay"},
	{"NUM_RETRIES", "num_retries"},
	{"RETRY_DELAY", "retry_delay"},
}

// SpecsFromEnv reads webhook specs through getenv (os.Getenv in the server).
//
// OH_WEBHOOKS may hold a JSON array of specs in the Spec JSON form. Then
// OH_WEBHOOKS_<n>_BASE_URL, _HEADERS (a JSON object, merged over the
// array's), _EVENT_BUFFER_SIZE, _FLUSH_DELAY (seconds), _NUM_RETRIES and
// _RETRY_DELAY (seconds) set fields of spec n, for n = 0, 1, ...: for an
// index inside the array they override it, past it they make a new spec,
// and the first index past the array without a BASE_URL ends the list. An
// empty variable counts as unset. As in JSON, NUM_RETRIES=0 means no retries
// and RETRY_DELAY=0 means no wait.
//
// Errors name the variable that holds the bad value. No variables set gives
// no specs and no error.
func SpecsFromEnv(getenv func(string) string) ([]Spec, error) {
	var base []specJSON
	if raw := getenv("OH_WEBHOOKS"); strings.TrimSpace(raw) != "" {
		var items []json.RawMessage
		if err := json.Unmarshal([]byte(raw), &items); err != nil {
			return nil, fmt.Errorf("OH_WEBHOOKS: want a JSON array of webhook specs: %w", err)
		}
		if len(items) > maxSpecs {
			return nil, fmt.Errorf("OH_WEBHOOKS: %d webhooks, at most %d", len(items), maxSpecs)
		}
		base = make([]specJSON, len(items))
		for i, item := range items {
			if err := json.Unmarshal(item, &base[i]); err != nil {
				return nil, fmt.Errorf("OH_WEBHOOKS[%d]: %w", i, err)
			}
		}
	}

	var specs []Spec
	for i := 0; ; i++ {
		prefix := "OH_WEBHOOKS_" + strconv.Itoa(i) + "_"
		if i >= len(base) && getenv(prefix+"BASE_URL") == "" {
			return specs, nil
		}
		if i >= maxSpecs {
			return nil, fmt.Errorf("%sBASE_URL: more than %d webhooks", prefix, maxSpecs)
		}
		var j specJSON
		if i < len(base) {
			j = base[i]
		}
		// source names where each field came from, for error messages.
		source := map[string]string{}
		for _, f := range envFields {
			name := prefix + f.suffix
			value := getenv(name)
			if value == "" {
				continue
			}
			if err := setField(&j, f.field, value); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			source[f.field] = name
		}
		spec, err := j.spec()
		if err != nil {
			var fe *fieldError
			if errors.As(err, &fe) && source[fe.field] != "" {
				return nil, fmt.Errorf("%s: %w", source[fe.field], fe.err)
			}
			return nil, fmt.Errorf("OH_WEBHOOKS[%d]: %w", i, err)
		}
		specs = append(specs, spec)
	}
}

// setField parses one variable's value into field of j. Values are checked
// later by specJSON.spec; here only their syntax.
func setField(j *specJSON, field, value string) error {
	value = strings.TrimSpace(value)
	switch field {
	case "base_url":
		j.BaseURL = &value
	case "headers":
		var h map[string]string
		if err := json.Unmarshal([]byte(value), &h); err != nil {
			return fmt.Errorf("want a JSON object of strings: %w", err)
		}
		merged := maps.Clone(j.Headers)
		if merged == nil {
			merged = make(map[string]string, len(h))
		}
		maps.Copy(merged, h)
		j.Headers = merged
	case "event_buffer_size", "num_retries":
		n, err := strconv.Atoi(value)
		if err != nil {
			return fmt.Errorf("want an integer: %w", err)
		}
		if field == "num_retries" {
			j.NumRetries = &n
		} else {
			j.EventBufferSize = &n
		}
	case "flush_delay", "retry_delay":
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return fmt.Errorf("want a number of seconds: %w", err)
		}
		if field == "flush_delay" {
			j.FlushDelay = &v
		} else {
			j.RetryDelay = &v
		}
	default:
		return fmt.Errorf("unknown field %s", field)
	}
	return nil
}
