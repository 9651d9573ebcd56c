package session

import (
	"fmt"

	"github.com/gohands/gohands/event"
)

// OutcomeKind says how a run of the agent ended, or what else moves a
// conversation's status.
type OutcomeKind int

// How a run ends.
const (
	// Stopped: ctx ended the run (a pause, a shutdown); whoever ended it
	// sets the status, so the status stays.
	Stopped OutcomeKind = iota
	// Finished: the agent is done.
	Finished
	// Waiting: actions wait for the user to accept or reject them.
	Waiting
	// Stuck: the agent repeats itself; Code and Detail say how.
	Stuck
	// Failed: the run cannot go on; Code and Detail say why.
	Failed

	// What the session itself does.
	startedRun      // a run starts
	pausedByUser    // the user paused the run
	actionsRejected // the user rejected the actions that waited
)

// Outcome is how a run ended. When Code is set, it and Detail are
// recorded as a ConversationErrorEvent before the status changes.
type Outcome struct {
	Kind   OutcomeKind
	Code   string
	Detail string
}

// statusAfter derives a conversation's execution status from an outcome:
// the one place that decides it. "" leaves the status as it is.
func statusAfter(o Outcome) string {
	switch o.Kind {
	case Finished:
		return StatusFinished
	case Waiting:
		return StatusWaitingForConfirmation
	case Stuck:
		return StatusStuck
	case Failed:
		return StatusError
	case startedRun:
		return StatusRunning
	case pausedByUser:
		return StatusPaused
	case actionsRejected:
		return StatusIdle
	}
	return ""
}

// settle records an outcome and moves the conversation to the status it
// leads to: every change of the execution status goes through here.
func (a *AgentSession) settle(o Outcome) error {
	if o.Code != "" {
		if err := a.Append(&event.ConversationError{Code: o.Code, Detail: o.Detail}); err != nil {
			return err
		}
	}
	status := statusAfter(o)
	if status == "" {
		if o.Kind != Stopped {
			return fmt.Errorf("outcome %d has no status", o.Kind)
		}
		return nil
	}
	return a.setStatus(status)
}
