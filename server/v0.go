package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gohands/gohands/event"
	"github.com/gohands/gohands/session"
)

// v0 answers /ws, the V0 protocol: ?conversation_id= joins a conversation
// (replaying after ?latest_event_id=N, or everything); without one, the
// first action (initialize, or any other) creates it.
func (k *sockets) v0(c *gin.Context) {
	after, err := parseLatestEventID(c.Query("latest_event_id"))
	if err != nil {
		c.JSON(http.StatusUnprocessableEntity, gin.H{"detail": err.Error()})
		return
	}
	k.accept(c, k.v0Hub, "v0", c.Query("conversation_id"), after, time.Time{})
}

// v0Frame handles one client action of /ws.
func (sk *socket) v0Frame(msg []byte) {
	if !sk.authed.Load() {
		sk.auth(msg)
		return
	}
	act, err := event.DecodeV0Action(msg)
	if err != nil {
		sk.sendError("BadFrame", err.Error())
		return
	}
	sk.mu.Lock()
	a := sk.conv
	sk.mu.Unlock()
	if a == nil {
		a, err = sk.v0Conversation(act)
		if err != nil {
			_, detail := statusOf(err)
			sk.sendError("InitializeError", detail)
			return
		}
		sk.attach(a)
		sk.v0State(event.V0AwaitingUserInput)
		if _, ok := act.(*event.V0Initialize); ok {
			return
		}
	}
	sk.handle(len(msg), func() { sk.v0Act(a, act) })
}

// v0Conversation creates the conversation of a V0 socket.
func (sk *socket) v0Conversation(act event.V0ClientAction) (*session.AgentSession, error) {
	req := session.CreateRequest{}
	if init, ok := act.(*event.V0Initialize); ok {
		req.Agent = &session.Agent{LLM: session.LLM{Model: init.Model, APIKey: init.APIKey, BaseURL: init.BaseURL}}
		if init.Directory != "" {
			req.Workspace = &session.Workspace{WorkingDir: init.Directory}
		}
	}
	a, _, err := sk.srv.convs.Create(sk.ctx, req)
	if err != nil {
		return nil, err
	}
	sk.srv.log.Info("V0 socket created a conversation", "conversation", a.ID())
	return a, nil
}

// v0State sends an agent_state_changed frame that is not stored.
func (sk *socket) v0State(state string) {
	frame := &event.V0Observation{ID: sk.lastSeq.Load(), Timestamp: time.Now().UTC().Format(time.RFC3339Nano),
		Source: event.SourceEnvironment, Observation: "agent_state_changed",
		Extras: map[string]any{"agent_state": state, "reason": ""}}
	b, _ := json.Marshal(frame)
	sk.write(b)
}

// v0Act carries out one V0 action. Results reach the client through the
// conversation's event stream.
func (sk *socket) v0Act(a *session.AgentSession, act event.V0ClientAction) {
	ctx := sk.ctx
	var err error
	switch x := act.(type) {
	case *event.V0Initialize:
		sk.v0State(event.V0AwaitingUserInput)
	case *event.V0Start:
		_, err = a.SendMessage(ctx, session.MessageRequest{Role: "user", Content: event.Text(x.Task), Run: ptr(true)})
	case *event.V0Message:
		content := event.Text(x.Content)
		if len(x.ImageURLs) > 0 {
			content = append(content, event.Content{Type: event.ContentImage, ImageURLs: x.ImageURLs})
		}
		_, err = a.SendMessage(ctx, session.MessageRequest{Role: "user", Content: content, Run: ptr(true)})
	case *event.V0Run:
		if x.Background {
			_, err = a.RunBackground(ctx, x.Command)
		} else {
			_, err = a.Act(ctx, &event.TerminalAction{Command: x.Command}, event.ToolTerminal)
		}
	case *event.V0Kill:
		_, err = a.Kill(ctx, strconv.FormatInt(x.ID, 10))
	case *event.V0Read:
		_, err = a.Act(ctx, &event.FileEditorAction{Command: event.EditorView, Path: x.Path}, event.ToolFileEditor)
	case *event.V0Write:
		_, err = a.Write(ctx, x.Path, x.Content)
	case *event.V0Browse:
		_, err = a.Act(ctx, &event.BrowserNavigateAction{URL: x.URL}, event.ToolBrowser)
	case *event.V0Recall:
		_, err = a.Recall(ctx, x.Query)
	case *event.V0Think:
		_, err = a.Act(ctx, &event.ThinkAction{Thought: x.Thought}, event.ToolThink)
	case *event.V0Pause, *event.V0Stop:
		err = a.Pause(ctx)
	case *event.V0Resume:
		err = a.Run(ctx)
	case *event.V0ChangeAgentState:
		switch x.AgentState {
		case event.V0Paused, event.V0Stopped:
			err = a.Pause(ctx)
		case event.V0Running:
			err = a.Run(ctx)
		case event.V0UserConfirmed:
			err = a.RespondToConfirmation(ctx, true, "")
		case event.V0UserRejected:
			err = a.RespondToConfirmation(ctx, false, "rejected by the user")
		default:
			err = fmt.Errorf("agent_state %q cannot be asked for", x.AgentState)
		}
	case *event.V0Finish:
		_, err = a.Act(ctx, &event.FinishAction{Message: "finished by the user"}, event.ToolFinish)
	default:
		err = fmt.Errorf("the %s action is not available on this server yet", act.V0Name())
	}
	if err != nil && ctx.Err() == nil {
		code := "ActionError"
		if errors.Is(err, session.ErrNoAgent) {
			code = "NoAgent"
		}
		_, detail := statusOf(err)
		sk.sendError(code, detail)
	}
}

func ptr[T any](v T) *T { return &v }
