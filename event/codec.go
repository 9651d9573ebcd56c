package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// Errors callers branch on. Every error Unmarshal and DecodeV0Action return
// wraps one of them.
var (
	// ErrMalformed: the input is not JSON, not an object, lacks a required
	// field, or has a field of the wrong type or with a value out of range.
	// The error text names the field.
	ErrMalformed = errors.New("malformed event")
	// ErrUnknownKind: the event's kind (or the V0 frame's action) is not
	// one this package knows. The error text names it.
	ErrUnknownKind = errors.New("unknown kind")
)

// Marshal returns the JSON encoding of e, with its short kind.
func Marshal(e Event) ([]byte, error) {
	if e == nil {
		return nil, errors.New("event: marshal: nil event")
	}
	if v := reflect.ValueOf(e); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, fmt.Errorf("event: marshal %s: nil %T", e.Kind(), e)
	}
	info, ok := lookup(e.Kind())
	if !ok || reflect.TypeOf(e) != reflect.TypeOf(info.new()) {
		return nil, fmt.Errorf("event: marshal %T with kind %q: %w", e, e.Kind(), ErrUnknownKind)
	}
	b, err := encode(e)
	if err != nil {
		return nil, fmt.Errorf("event: marshal %s: %w", e.Kind(), err)
	}
	return b, nil
}

// Unmarshal decodes one event from JSON. The kind may be short or fully
// qualified (see ParseKind). Fields this package does not know are ignored;
// a missing source is set to the kind's default, as the SDK does.
//
// An action or observation of a kind this package does not know is kept as
// an UnknownAction or UnknownObservation rather than refused: tools come and
// go (MCP tools, newer SDKs) and their events must still be stored and
// relayed. An event of an unknown kind is an error, since nothing downstream
// could make sense of it.
func Unmarshal(data []byte) (Event, error) {
	var probe struct {
		Kind *string `json:"kind"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, fmt.Errorf("event: decode: invalid JSON at offset %d: %v: %w", syntax.Offset, syntax, ErrMalformed)
		}
		if kindOf(data) != "object" {
			return nil, fmt.Errorf("event: decode: got %s, want object: %w", kindOf(data), ErrMalformed)
		}
		return nil, decodeError("event: decode", err)
	}
	if kindOf(data) != "object" {
		return nil, fmt.Errorf("event: decode: got %s, want object: %w", kindOf(data), ErrMalformed)
	}
	if probe.Kind == nil {
		return nil, fmt.Errorf("event: decode: missing \"kind\": %w", ErrMalformed)
	}
	kind, err := ParseKind(*probe.Kind)
	if err != nil {
		return nil, fmt.Errorf("event: decode: kind %q: %w", *probe.Kind, ErrUnknownKind)
	}
	info, _ := lookup(kind)
	e := info.new()
	if err := json.Unmarshal(data, e); err != nil {
		return nil, decodeError("event: decode "+string(kind), err)
	}
	if err := normalize(e, info); err != nil {
		return nil, decodeError("event: decode "+string(kind), err)
	}
	return e, nil
}

// encode is json.Marshal without escaping <, > and &, which are common in
// commands and code and need no escaping outside HTML.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// withKind encodes the struct v as an object whose first field is "kind".
func withKind[K ~string](kind K, v any) ([]byte, error) {
	b, err := encode(v)
	if err != nil {
		return nil, err
	}
	if len(b) < 2 || b[0] != '{' {
		return nil, fmt.Errorf("event: %s encodes as %s, not an object", kind, b)
	}
	head := `{"kind":` + quote(string(kind))
	if string(b) == "{}" {
		return []byte(head + "}"), nil
	}
	return append([]byte(head+","), b[1:]...), nil
}

func quote(s string) string {
	b, _ := encode(s) // encoding a string cannot fail
	return string(b)
}

// marshalTool encodes a tool action or observation with its kind. It
// returns nil for a nil one.
func marshalTool(v interface{ Kind() string }) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return nil, fmt.Errorf("event: nil %T", v)
	}
	switch v := v.(type) {
	case *UnknownAction:
		fields := make(map[string]any, len(v.Fields)+1)
		for k, f := range v.Fields {
			fields[k] = f
		}
		fields["kind"] = v.RawKind
		return encode(fields)
	case *UnknownObservation:
		fields := make(map[string]any, len(v.Fields)+3)
		for k, f := range v.Fields {
			fields[k] = f
		}
		fields["kind"] = v.RawKind
		fields["content"] = v.Content
		fields["is_error"] = v.IsError
		return encode(fields)
	}
	return withKind(v.Kind(), v)
}

// actionField decodes the "action" of an ActionEvent by its kind.
type actionField struct{ v ToolAction }

func (f *actionField) UnmarshalJSON(data []byte) error {
	kind, err := toolKind(data, f)
	if err != nil || kind == "" {
		return err
	}
	newAction, ok := toolActions[kind]
	if !ok {
		fields, err := decodeFields(data, "kind")
		if err != nil {
			return err
		}
		f.v = &UnknownAction{RawKind: kind, Fields: fields}
		return nil
	}
	a := newAction()
	if err := json.Unmarshal(data, a); err != nil {
		return err
	}
	f.v = a
	return nil
}

// observationField decodes the "observation" of an ObservationEvent by its
// kind.
type observationField struct{ v ToolObservation }

func (f *observationField) UnmarshalJSON(data []byte) error {
	kind, err := toolKind(data, f)
	if err != nil || kind == "" {
		return err
	}
	newObservation, ok := toolObservations[kind]
	if !ok {
		o := &UnknownObservation{RawKind: kind}
		if err := json.Unmarshal(data, &o.ToolOutput); err != nil {
			return err
		}
		if o.Fields, err = decodeFields(data, "kind", "content", "is_error"); err != nil {
			return err
		}
		f.v = o
		return nil
	}
	o := newObservation()
	if err := json.Unmarshal(data, o); err != nil {
		return err
	}
	f.v = o
	return nil
}

// toolKind returns the kind of the tool action or observation in data, or
// "" for JSON null.
func toolKind(data []byte, target any) (string, error) {
	switch kindOf(data) {
	case "null":
		return "", nil
	case "object":
	default:
		return "", typeError(kindOf(data), target)
	}
	var probe struct {
		Kind *string `json:"kind"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return "", err
	}
	if probe.Kind == nil {
		return "", missingError("kind")
	}
	if *probe.Kind == "" {
		return "", &json.UnmarshalTypeError{Value: `empty string`, Type: reflect.TypeFor[string](), Field: "kind"}
	}
	return *probe.Kind, nil
}

// decodeFields decodes the object in data into a map, numbers as
// json.Number, without the keys drop.
func decodeFields(data []byte, drop ...string) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var fields map[string]any
	if err := dec.Decode(&fields); err != nil {
		return nil, err
	}
	for _, k := range drop {
		delete(fields, k)
	}
	return fields, nil
}

// missingValue marks an UnmarshalTypeError that stands for a missing field.
const missingValue = "<missing>"

// missingError reports that field is missing. It is an UnmarshalTypeError so
// that encoding/json prefixes the path of the enclosing fields.
func missingError(field string) error {
	return &json.UnmarshalTypeError{Value: missingValue, Type: reflect.TypeFor[string](), Field: field}
}

// typeError reports a JSON value, described by value, that cannot become a
// *target (or target, if not a pointer). encoding/json adds the field path.
func typeError(value string, target any) error {
	t := reflect.TypeOf(target)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return &json.UnmarshalTypeError{Value: value, Type: t}
}

// fieldError is a problem with a field that its JSON type alone does not
// show.
type fieldError struct {
	path    string
	problem string
}

func (e *fieldError) Error() string { return fmt.Sprintf("field %q: %s", e.path, e.problem) }

// decodeError turns an error of encoding/json or of this package's decoders
// into one that names the field, wraps ErrMalformed, and starts with
// prefix.
func decodeError(prefix string, err error) error {
	return decodeErrorAt(prefix, "", err)
}

// decodeErrorAt is decodeError for a value found at path at in the input
// ("args." for the arguments of a V0 frame).
func decodeErrorAt(prefix, at string, err error) error {
	var (
		typ   *json.UnmarshalTypeError
		field *fieldError
	)
	switch {
	case errors.As(err, &typ):
		path := cleanPath(typ.Field)
		if path != "" {
			path = at + path
		}
		if typ.Value == missingValue {
			return fmt.Errorf("%s: field %q: missing: %w", prefix, path, ErrMalformed)
		}
		if path == "" {
			return fmt.Errorf("%s: got %s, want %s: %w", prefix, typ.Value, jsonType(typ.Type), ErrMalformed)
		}
		return fmt.Errorf("%s: field %q: got %s, want %s: %w", prefix, path, typ.Value, jsonType(typ.Type), ErrMalformed)
	case errors.As(err, &field):
		return fmt.Errorf("%s: field %q: %s: %w", prefix, at+field.path, field.problem, ErrMalformed)
	}
	return fmt.Errorf("%s: %v: %w", prefix, err, ErrMalformed)
}

// cleanPath drops from a path of encoding/json the names of embedded Go
// structs, which are not JSON keys.
func cleanPath(path string) string {
	if path == "" {
		return ""
	}
	parts := strings.Split(path, ".")
	keep := parts[:0]
	for _, p := range parts {
		switch p {
		case "Base", "ToolOutput", "plain":
			continue
		}
		keep = append(keep, p)
	}
	return strings.Join(keep, ".")
}

// jsonType names, in JSON's words, what a Go type decodes from.
func jsonType(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	switch t {
	case reflect.TypeFor[Time]():
		return "RFC 3339 time string"
	case reflect.TypeFor[Content]():
		return "content part (text or image)"
	case reflect.TypeFor[ContentList]():
		return "list of content parts or string"
	case reflect.TypeFor[json.RawMessage]():
		return "JSON value"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return jsonType(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return "value"
}

// kindOf describes the JSON value in data by its first byte: "object",
// "array", "string", "number", "boolean", "null", or "nothing".
func kindOf(data []byte) string {
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) == 0 {
		return "nothing"
	}
	switch data[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}
