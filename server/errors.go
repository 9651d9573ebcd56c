package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/llm"
	"github.com/gohands/gohands/session"
)

// apiError is an error with the status it is answered with.
type apiError struct {
	status int
	detail string
}

func (e *apiError) Error() string { return e.detail }

func errorf(status int, format string, args ...any) error {
	return &apiError{status: status, detail: fmt.Sprintf(format, args...)}
}

// statusOf picks the HTTP status of an error from the layers below.
func statusOf(err error) (int, string) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status, ae.detail
	}
	var se *session.Error
	if errors.As(err, &se) {
		return sessionStatus(se), se.Detail
	}
	switch {
	case errors.Is(err, session.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, session.ErrClosed):
		return http.StatusServiceUnavailable, "the server is shutting down"
	case errors.Is(err, session.ErrDeleted):
		return http.StatusNotFound, "the conversation was deleted"
	case isModelError(err):
		return http.StatusBadGateway, "the model failed: " + err.Error()
	}
	return http.StatusInternalServerError, err.Error()
}

// sessionStatus is the one place the kind of a session error becomes an
// HTTP status. A refusal of the sandbox's agent is answered with the
// agent's own status.
func sessionStatus(se *session.Error) int {
	switch se.Kind {
	case session.KindInvalid:
		return http.StatusUnprocessableEntity
	case session.KindRejected:
		return http.StatusBadRequest
	case session.KindNotFound:
		return http.StatusNotFound
	case session.KindConflict:
		return http.StatusConflict
	case session.KindTooMany:
		return http.StatusTooManyRequests
	case session.KindUnavailable:
		return http.StatusServiceUnavailable
	case session.KindRefused:
		if st := agentapi.StatusOf(se.Err); st >= 400 && st < 500 {
			return st
		}
	}
	return http.StatusInternalServerError
}

// isModelError reports whether err is the model's failure (the provider
// refused, failed or could not be reached), which is the model's fault,
// not the server's.
func isModelError(err error) bool {
	for _, e := range []error{llm.ErrRateLimited, llm.ErrServer, llm.ErrBadRequest, llm.ErrContextWindow,
		llm.ErrAuth, llm.ErrTimeout, llm.ErrConnection} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// fail answers err as {"detail": ...} and logs what is the server's fault.
func (s *Server) fail(c *gin.Context, err error) {
	status, detail := statusOf(err)
	if status >= 500 {
		cause := err
		var se *session.Error
		if errors.As(err, &se) && se.Err != nil {
			cause = se.Err
		}
		s.log.ErrorContext(c.Request.Context(), "request failed", "method", c.Request.Method,
			"path", c.FullPath(), "status", status, "detail", detail, "err", cause)
	}
	if after := retryAfter(err); after != "" {
		c.Header("Retry-After", after)
	}
	c.AbortWithStatusJSON(status, gin.H{"detail": detail})
}

// retryAfter is the Retry-After header of an error that says when to ask
// again (a refusal of the live sandbox cap's), in whole seconds, or "".
func retryAfter(err error) string {
	var se *session.Error
	if !errors.As(err, &se) || se.RetryAfter <= 0 {
		return ""
	}
	return strconv.Itoa(int(math.Ceil(se.RetryAfter.Seconds())))
}

// bind decodes a JSON body into v: 413 past the size limit, 422 naming the
// field for a wrong type, 422 for JSON that does not parse.
func (s *Server) bind(c *gin.Context, v any) error {
	body := http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes)
	data, err := io.ReadAll(body)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return errorf(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", mb.Limit)
		}
		if errors.Is(err, errBodyTimeout) {
			return errorf(http.StatusRequestTimeout, "%v", err)
		}
		return errorf(http.StatusBadRequest, "reading the body: %v", err)
	}
	return decodeJSON(data, v)
}

// decodeJSON decodes data into v with errors that name the field.
func decodeJSON(data []byte, v any) error {
	if len(strings.TrimSpace(string(data))) == 0 {
		return errorf(http.StatusUnprocessableEntity, "body: a JSON object is required")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return jsonError(err)
	}
	return nil
}

// jsonError turns a decoding error into a 422 naming the field.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	var ae *apiError
	var sess *session.Error
	switch {
	case errors.As(err, &ae), errors.As(err, &sess):
		return err
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return errorf(http.StatusUnprocessableEntity, "%s: expected %s, got %s", field, typeName(te), te.Value)
	case errors.As(err, &se):
		return errorf(http.StatusUnprocessableEntity, "body: malformed JSON at byte %d: %v", se.Offset, se)
	}
	return errorf(http.StatusUnprocessableEntity, "body: %v", err)
}

func typeName(te *json.UnmarshalTypeError) string {
	if te.Type == nil {
		return "another type"
	}
	switch te.Type.Kind().String() {
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "a list"
	case "int", "int64", "int32", "uint64", "float64":
		return "a number"
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	}
	return te.Type.String()
}
