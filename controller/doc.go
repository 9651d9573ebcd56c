// Package controller runs the agent loop of a conversation: it asks the
// model for the next step, turns each tool call into an ActionEvent, runs
// it in the conversation's sandbox, and records the result as an
// ObservationEvent, until the model finishes, the iteration limit is hit,
// the agent is stuck, or the user pauses it.
//
// The Controller implements session.Loop (and the optional Asker, Titler
// and Condenser), so a session.ConversationManager given one runs its
// conversations with it. The history the model sees is rebuilt from the
// stored events, so a message the user sends while the agent runs joins
// the context at the next step, and a run resumes where it stopped after
// a pause or a restart.
package controller
