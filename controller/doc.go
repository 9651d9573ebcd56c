// Package controller runs the agent loop of a conversation: it asks the
// model for the next step, turns each tool call into an ActionEvent, runs
// it through the tools package in the conversation's workspace, and
// records the result as an ObservationEvent, until the model finishes,
// the iteration limit is hit, the agent is stuck, actions wait for the
// user's confirmation, or the user pauses it. A run then says how it
// ended (a session.Outcome); the controller never sets a conversation's
// status, the session derives it from the outcome.
//
// The controller uses a conversation only through the small Conversation
// interface (settings, events, append, metrics, workspace), so it runs
// as well against one held in memory as against a session.AgentSession.
// The Controller implements session.Loop, so a
// session.ConversationManager given one runs its conversations with it.
// The history the model sees is rebuilt from the
// stored events, so a message the user sends while the agent runs joins
// the context at the next step, and a run resumes where it stopped after
// a pause or a restart.
package controller
