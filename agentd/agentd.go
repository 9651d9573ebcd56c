// Package agentd is the runtime-agent: the small daemon that runs as PID 1
// inside every sandbox and gives the GoHands server terminals and file
// operations over HTTP (TCP or a Unix socket), long-lived programs whose
// standard input and output it relays (MCP servers over stdio), and TCP
// connections opened from the sandbox's network. Its wire contract (request
// and answer types, constants) and the Go client the server calls it with
// are package agentapi.
//
// The API is private to GoHands (API.md section 4). Every route but
// /health and /handshake needs the sandbox's token as "Authorization:
// Bearer TOKEN"; /handshake lets the client verify the agent before it
// sends the token (agentapi.HandshakeMAC).
// Errors are JSON {"detail": "..."} with a 4xx status that says what kind of
// mistake it was; the agent never exits because of a request.
package agentd

import "time"

// Version is reported by /health.
const Version = "0.1.0"

func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second))
}
