package event

// KindServerError is the agent-server's ServerErrorEvent.
const KindServerError Kind = "ServerErrorEvent"

// ServerError is a failure of the server itself, not of a conversation's
// run: a bad frame on a socket, a subscription that failed. It is sent to
// the one client concerned and never stored.
type ServerError struct {
	Base
	// Code names the kind of failure, typically an error type.
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// Kind returns KindServerError.
func (*ServerError) Kind() Kind { return KindServerError }

// MarshalJSON writes e with its kind.
func (e ServerError) MarshalJSON() ([]byte, error) {
	type plain ServerError
	return withKind(e.Kind(), plain(e))
}
