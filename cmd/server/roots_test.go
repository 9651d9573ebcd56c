package main

import (
	"slices"
	"strings"
	"testing"
)

func TestWorkspaceRoots(t *testing.T) {
	t.Parallel()
	cfg, err := loadFake(nil, map[string]string{"HOME": "/home/ann", "TMPDIR": "/var/tmp/x/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/home/ann", "/var/tmp/x"}; !slices.Equal(cfg.WorkspaceRoots, want) {
		t.Errorf("default roots = %v, want %v", cfg.WorkspaceRoots, want)
	}
	for _, tc := range []struct {
		env     string
		want    []string
		problem string // in the error, when refused
	}{
		{"/srv/code,/data:/more/", []string{"/srv/code", "/data", "/more"}, ""},
		{"none", nil, ""},
		{"/", nil, "whole file system"},
		{"/var", nil, "engine's socket"},
		{"/run", nil, "engine's socket"},
		{"/sock", nil, "engine's socket"},
		{"relative", nil, "not an absolute path"},
		{"none,/srv", nil, "only entry"},
	} {
		cfg, err := loadFake(nil, map[string]string{"GOHANDS_WORKSPACE_ROOTS": tc.env, "DOCKER_HOST": "unix:///sock/d.sock"}, nil)
		if tc.problem != "" {
			if err == nil || !strings.Contains(err.Error(), tc.problem) || !strings.Contains(err.Error(), "GOHANDS_WORKSPACE_ROOTS") {
				t.Errorf("GOHANDS_WORKSPACE_ROOTS=%s: err = %v, want one saying %q", tc.env, err, tc.problem)
			}
			continue
		}
		if err != nil || !slices.Equal(cfg.WorkspaceRoots, tc.want) {
			t.Errorf("GOHANDS_WORKSPACE_ROOTS=%s: roots = %v, %v; want %v", tc.env, cfg.WorkspaceRoots, err, tc.want)
		}
	}
	// A default root holding the engine's socket is left out, not refused.
	cfg, err = loadFake(nil, map[string]string{"HOME": "/home/ann", "TMPDIR": "/tmp", "DOCKER_HOST": "unix:///tmp/docker.sock"}, nil)
	if err != nil || !slices.Equal(cfg.WorkspaceRoots, []string{"/home/ann"}) {
		t.Errorf("default roots with the engine's socket in /tmp: %v, %v; want /home/ann alone", cfg.WorkspaceRoots, err)
	}
	cfg, err = loadFake([]string{"--config", "/c.json"}, nil, map[string]string{"/c.json": `{"workspace_roots": ["/srv/a", "/srv/b"]}`})
	if err != nil || !slices.Equal(cfg.WorkspaceRoots, []string{"/srv/a", "/srv/b"}) {
		t.Errorf("workspace_roots in the file: roots = %v, %v", cfg.WorkspaceRoots, err)
	}
}
