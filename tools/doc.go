// Package tools holds the tools an agent can call, one file each: the
// schema the model is offered, the decoding of the model's arguments into
// an action, running the action in a workspace (the conversation's
// sandbox, reached through its runtime-agent), the observation a failure
// becomes, and the texts of an action that search reads.
//
// The controller runs the model's calls through this package, and session
// runs the actions a user asks for directly (the V0 protocol's run, read,
// browse, recall); neither knows how a tool works. Adding a tool is one
// file here, with its test, and its name in the registry (registry.go).
// The action and observation types themselves live in event, which every
// package reads.
package tools
