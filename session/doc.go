// Package session holds GoHands' conversations while they live: the
// ConversationManager (create, get, list, delete, restart, a cap on live
// conversations, idle cleanup), the AgentSession of each conversation (its
// sandbox, its event stream, its run state) and the Session of each
// connected client.
//
// Every event goes through a conversation's stream: it is appended to
// storage first, which gives it its sequence number and makes it durable,
// and only then delivered to subscribers. A subscriber that connects with
// "everything after N" gets the stored events after N and then the live
// ones, with no gap and no duplicate. A subscriber that cannot keep up is
// dropped once its bounded buffer is full, so that it never holds up the
// others; it reconnects asking for what came after the last event it got.
//
// A conversation's execution status changes in one place, settle: the
// agent's runs (a Loop) report how they ended as an Outcome, and the
// session's own moves (a run starting, a pause, a rejection, a restart)
// are outcomes too; statusAfter derives the status from each.
//
// The package speaks no HTTP: the server package turns requests and
// sockets into calls on it, and the Kind of each Error it returns into the
// status of the answer.
package session
