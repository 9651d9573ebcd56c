package kube

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/sandbox"
)

// TestImageWithAgentPod: an image configured as carrying the agent gets
// a Pod of the sandbox container alone, whose launcher execs the image's
// agent; other images keep the agent-install container.
func TestImageWithAgentPod(t *testing.T) {
	o := DefaultOptions()
	o.ServerID, o.Namespace = "srv", testNS
	o.ImagesWithAgent = []string{"team/sandbox-agent:1"}
	o, err := o.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	m := &Manager{opts: o, instance: "inst"}
	for _, c := range []struct {
		image      string
		containers int
		script     string
	}{
		{"team/sandbox-agent:1", 1, carriedLauncher},
		{"team/sandbox-agent:2", 2, launcher},
		{"python:3.12", 2, launcher},
	} {
		r, err := o.resolve(sandbox.Spec{Image: c.image})
		if err != nil {
			t.Fatal(err)
		}
		pod := m.buildPod("gohands-abc", "conv", false, r)
		if len(pod.Spec.Containers) != c.containers {
			t.Errorf("%s: %d containers, want %d", c.image, len(pod.Spec.Containers), c.containers)
			continue
		}
		sc := sandboxContainer(pod)
		if sc.Name != containerName || sc.Image != c.image || len(sc.Command) < 3 || sc.Command[2] != c.script {
			t.Errorf("%s: sandbox container %s %s, command %q", c.image, sc.Name, sc.Image, sc.Command)
		}
	}
}

// TestCarriedLauncher runs the launcher of an image that carries the
// agent with the system's sh: it execs the agent with its arguments, the
// token on fd 3 and not in the environment; without the agent it fails
// saying why.
func TestCarriedLauncher(t *testing.T) {
	dir := t.TempDir()
	agent := dir + "/runtime-agent"
	script := strings.Replace(carriedLauncher, "a="+sandbox.AgentPath, "a="+agent, 1)
	if script == carriedLauncher {
		t.Fatal("path not moved")
	}
	run := func() (string, error) {
		cmd := exec.Command(launcherShell, "-c", script, "gohands-launcher", "--listen", "tcp://0.0.0.0:7000")
		cmd.Env = []string{"PATH=/usr/bin:/bin", agentapi.TokenEnv + "=tok-9"}
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := run(); err == nil || !strings.Contains(out, "no runtime-agent at "+agent) {
		t.Errorf("without the agent: %v %q", err, out)
	}
	fake := "#!/bin/sh\necho \"agent $* token=${" + agentapi.TokenEnv + ":-none} fd3=$(cat <&3)\"\n"
	if err := os.WriteFile(agent, []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := run()
	if want := "agent --token-fd 3 --listen tcp://0.0.0.0:7000 token=none fd3=tok-9"; err != nil || out != want {
		t.Errorf("launcher ran %q (%v), want %q", out, err, want)
	}
}
