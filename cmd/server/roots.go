package main

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// engineSockets are where the engine's socket usually is; a workspace
// root holding one would give the agent the engine, and so the host.
var engineSockets = []string{"/var/run/docker.sock", "/run/docker.sock"}

// defaultWorkspaceRoots are the home folder of the user running the
// server and the system temp folder.
func defaultWorkspaceRoots(getenv func(string) string) []string {
	var roots []string
	if home := getenv("HOME"); filepath.IsAbs(home) && filepath.Clean(home) != "/" {
		roots = append(roots, filepath.Clean(home))
	}
	return append(roots, filepath.Clean(cmp.Or(getenv("TMPDIR"), "/tmp")))
}

// parseWorkspaceRoots reads GOHANDS_WORKSPACE_ROOTS: absolute folders,
// separated by commas or by the system's path list separator; "none"
// alone turns host folders off.
func parseWorkspaceRoots(l *loader, items []string) error {
	var roots []string
	for _, item := range items {
		for r := range strings.SplitSeq(item, string(os.PathListSeparator)) {
			r = strings.TrimSpace(r)
			if r == "" {
				continue
			}
			if r == "none" {
				if len(items) != 1 {
					return errors.New(`"none" must be the only entry`)
				}
				l.cfg.WorkspaceRoots = nil
				return nil
			}
			if !filepath.IsAbs(r) {
				return fmt.Errorf("%q is not an absolute path", r)
			}
			roots = append(roots, filepath.Clean(r))
		}
	}
	if len(roots) == 0 {
		return errors.New(`no folder given (write "none" to turn host folders off)`)
	}
	l.cfg.WorkspaceRoots = roots
	return nil
}

// checkWorkspaceRoots refuses a root that would hand the host to the
// agent: "/" itself, or a folder that holds the engine's socket (the
// usual places, and the unix path of dockerHost).
func checkWorkspaceRoots(roots []string, dockerHost string) error {
	socks := engineSockets
	if p, ok := strings.CutPrefix(dockerHost, "unix://"); ok && p != "" {
		socks = append(socks[:len(socks):len(socks)], filepath.Clean(p))
	}
	var errs []error
	for _, r := range roots {
		real := r
		if p, err := filepath.EvalSymlinks(r); err == nil {
			real = p
		}
		if real == "/" {
			errs = append(errs, fmt.Errorf("workspace root %s is the whole file system: name the folders that hold projects", r))
			continue
		}
		for _, s := range socks {
			if holds(real, s) || holds(real, realSocket(s)) {
				errs = append(errs, fmt.Errorf("workspace root %s holds the engine's socket %s: a sandbox mounting it would control the host", r, s))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// holds reports whether the folder dir holds p.
func holds(dir, p string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// realSocket is s with the symbolic links of its folder resolved
// (/var/run is often a link to /run).
func realSocket(s string) string {
	dir, err := filepath.EvalSymlinks(filepath.Dir(s))
	if err != nil {
		return s
	}
	return filepath.Join(dir, filepath.Base(s))
}
