package session

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/gohands/gohands/agentapi"
)

// Git change statuses, upstream's names.
const (
	GitAdded   = "ADDED"
	GitDeleted = "DELETED"
	GitUpdated = "UPDATED"
	GitMoved   = "MOVED"
)

// GitChange is one file that differs from the ref; Path is relative to
// the folder asked about.
type GitChange struct {
	Status string `json:"status"`
	Path   string `json:"path"`
}

// GitDiff is a file's content before (Original, at the ref or the
// commit's parent) and after (Modified, the working tree or the commit);
// nil where the file does not exist.
type GitDiff struct {
	Modified *string `json:"modified"`
	Original *string `json:"original"`
}

// GitCommit is one commit of a log.
type GitCommit struct {
	SHA       string `json:"sha"`
	ShortSHA  string `json:"short_sha"`
	Subject   string `json:"subject"`
	Author    string `json:"author"`
	Timestamp string `json:"timestamp"` // ISO 8601 with the author's offset
}

// GitCommitsPage is the newest commits, and whether there are more.
type GitCommitsPage struct {
	Commits []GitCommit `json:"commits"`
	HasMore bool        `json:"has_more"`
}

// emptyTree is git's empty tree: what a repository without commits is
// compared against.
const emptyTree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

// maxDiffContent bounds each side of a diff.
const maxDiffContent = 8 << 20

var (
	shaPattern = regexp.MustCompile(`^[0-9a-fA-F]{4,64}$`)
	refPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./@{}^~+-]{0,254}$`)
)

// checkRef refuses a ref that git could read as an option or that is no
// ref's spelling.
func checkRef(name, ref string) error {
	if !refPattern.MatchString(ref) || strings.Contains(ref, "..") {
		return rejected("%s: %q is not a git ref (letters, digits and _./@{}^~+-, not starting with - or .)", name, ref)
	}
	return nil
}

// CheckSHA refuses what is not a commit's hex name (4 to 64 digits).
func CheckSHA(name, sha string) error {
	if !shaPattern.MatchString(sha) {
		return rejected("%s: %q is not a commit sha (4 to 64 hex digits)", name, sha)
	}
	return nil
}

// git runs git in dir. Every call passes its arguments by list, after
// options that make it read no pager and trust a folder the sandbox's
// user does not own (a mounted host folder).
func (w SandboxWorkspace) git(ctx context.Context, dir string, maxOutput int64, args ...string) (agentapi.RunResult, error) {
	full := append([]string{"git", "-c", "safe.directory=*", "-c", "core.quotePath=false", "--no-pager"}, args...)
	return w.run(ctx, dir, maxOutput, full...)
}

// gitOK runs git and fails unless it exits 0.
func (w SandboxWorkspace) gitOK(ctx context.Context, dir string, args ...string) (string, error) {
	res, err := w.git(ctx, dir, 0, args...)
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", rejected("git %s: %s", args[0], gitMessage(res))
	}
	if res.Truncated {
		return "", rejected("git %s: the answer is longer than %d bytes", args[0], agentapi.MaxRunOutput)
	}
	return res.Stdout, nil
}

func gitMessage(res agentapi.RunResult) string {
	msg := strings.TrimSpace(res.Stderr)
	if msg == "" {
		msg = fmt.Sprintf("exit code %d", res.ExitCode)
	}
	return msg
}

// repoDir resolves p (a folder; the root when empty) and checks that it is
// in a git repository.
func (w SandboxWorkspace) repoDir(ctx context.Context, p string) (string, error) {
	dir, err := w.Resolve(ctx, p)
	if err != nil {
		return "", err
	}
	st, err := w.agent.Stat(ctx, dir)
	if err != nil {
		return "", err
	}
	if st.Type != agentapi.TypeDir {
		return "", rejected("path %q is not a folder", p)
	}
	if err := w.inRepo(ctx, dir); err != nil {
		return "", err
	}
	return dir, nil
}

func (w SandboxWorkspace) inRepo(ctx context.Context, dir string) error {
	res, err := w.git(ctx, dir, 4096, "rev-parse", "--is-inside-work-tree")
	if err != nil {
		return err
	}
	if res.ExitCode != 0 || strings.TrimSpace(res.Stdout) != "true" {
		return rejected("%s is not in a git repository (%s)", dir, gitMessage(res))
	}
	return nil
}

// hasHead reports whether the repository has a commit.
func (w SandboxWorkspace) hasHead(ctx context.Context, dir string) (bool, error) {
	res, err := w.git(ctx, dir, 4096, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
	if err != nil {
		return false, err
	}
	return res.ExitCode == 0, nil
}

// base resolves the ref to compare with: HEAD by default (the empty tree
// in a repository without commits); a named ref must name a commit.
func (w SandboxWorkspace) base(ctx context.Context, dir, ref string) (string, error) {
	if ref == "" {
		ok, err := w.hasHead(ctx, dir)
		if err != nil || !ok {
			return emptyTree, err
		}
		ref = "HEAD"
	}
	if err := checkRef("ref", ref); err != nil {
		return "", err
	}
	out, err := w.git(ctx, dir, 4096, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}")
	if err != nil {
		return "", err
	}
	if out.ExitCode != 0 {
		return "", rejected("ref: %q names no commit of the repository", ref)
	}
	return strings.TrimSpace(out.Stdout), nil
}

// GitChanges lists the files under the folder p that differ from ref
// (HEAD by default), untracked files as added. Paths are relative to p.
func (w SandboxWorkspace) GitChanges(ctx context.Context, p, ref string) ([]GitChange, error) {
	dir, err := w.repoDir(ctx, p)
	if err != nil {
		return nil, err
	}
	base, err := w.base(ctx, dir, ref)
	if err != nil {
		return nil, err
	}
	out, err := w.gitOK(ctx, dir, "diff", "--name-status", "-z", "-M", "--relative", base, "--")
	if err != nil {
		return nil, err
	}
	changes, err := parseNameStatus(out)
	if err != nil {
		return nil, err
	}
	untracked, err := w.gitOK(ctx, dir, "ls-files", "--others", "--exclude-standard", "-z")
	if err != nil {
		return nil, err
	}
	for _, f := range strings.Split(untracked, "\x00") {
		if f != "" {
			changes = append(changes, GitChange{Status: GitAdded, Path: f})
		}
	}
	if changes == nil {
		changes = []GitChange{}
	}
	return changes, nil
}

// parseNameStatus reads git's --name-status -z output. A rename is the
// old path DELETED and the new one ADDED, as upstream reports it; a copy
// is its new path ADDED.
func parseNameStatus(out string) ([]GitChange, error) {
	out = strings.TrimSuffix(out, "\x00")
	if out == "" {
		return nil, nil
	}
	f := strings.Split(out, "\x00")
	var changes []GitChange
	for i := 0; i < len(f); i++ {
		st := f[i]
		if st == "" {
			return nil, fmt.Errorf("git diff: an empty status")
		}
		switch st[0] {
		case 'R', 'C':
			if i+2 >= len(f) || f[i+1] == "" || f[i+2] == "" {
				return nil, fmt.Errorf("git diff: a %s line without two paths", st)
			}
			if st[0] == 'R' {
				changes = append(changes, GitChange{Status: GitDeleted, Path: f[i+1]})
			}
			changes = append(changes, GitChange{Status: GitAdded, Path: f[i+2]})
			i += 2
			continue
		}
		if i+1 >= len(f) || f[i+1] == "" {
			return nil, fmt.Errorf("git diff: a %s line without a path", st)
		}
		status := GitUpdated
		switch st[0] {
		case 'A':
			status = GitAdded
		case 'D':
			status = GitDeleted
		}
		changes = append(changes, GitChange{Status: status, Path: f[i+1]})
		i++
	}
	return changes, nil
}

// GitDiff gives the file p's content at ref (HEAD by default) and in the
// working tree; with commit instead, its content before and after that
// commit (against its first parent).
func (w SandboxWorkspace) GitDiff(ctx context.Context, p, ref, commit string) (GitDiff, error) {
	if ref != "" && commit != "" {
		return GitDiff{}, invalid("ref and commit: give one, not both")
	}
	if commit != "" {
		if err := CheckSHA("commit", commit); err != nil {
			return GitDiff{}, err
		}
	}
	if p == "" {
		return GitDiff{}, invalid("path: missing")
	}
	file, err := w.Resolve(ctx, p)
	if err != nil {
		return GitDiff{}, err
	}
	dir := path.Dir(file)
	// The folder may be gone with the file; git needs one that exists.
	for dir != "/" {
		if st, err := w.agent.Stat(ctx, dir); err == nil && st.Type == agentapi.TypeDir {
			break
		}
		dir = path.Dir(dir)
	}
	if err := w.inRepo(ctx, dir); err != nil {
		return GitDiff{}, err
	}
	top, err := w.gitOK(ctx, dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return GitDiff{}, err
	}
	top = strings.TrimSpace(top)
	real := file
	if st, err := w.agent.Stat(ctx, dir); err == nil && st.Real != "" {
		real = path.Join(st.Real, strings.TrimPrefix(file, dir))
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(real, top), "/")
	if rel == "" || (!strings.HasPrefix(real, top+"/")) {
		return GitDiff{}, rejected("path %q is not a file of the repository at %s", p, top)
	}
	var d GitDiff
	if commit != "" {
		sha, err := w.base(ctx, top, commit)
		if err != nil {
			return GitDiff{}, err
		}
		if d.Original, err = w.show(ctx, top, sha+"^", rel); err != nil {
			return GitDiff{}, err
		}
		if d.Modified, err = w.show(ctx, top, sha, rel); err != nil {
			return GitDiff{}, err
		}
		return d, nil
	}
	base, err := w.base(ctx, top, ref)
	if err != nil {
		return GitDiff{}, err
	}
	if base != emptyTree {
		if d.Original, err = w.show(ctx, top, base, rel); err != nil {
			return GitDiff{}, err
		}
	}
	res, err := w.run(ctx, top, maxDiffContent, "cat", "--", file)
	if err != nil {
		return GitDiff{}, err
	}
	if res.ExitCode == 0 {
		if res.Truncated {
			return GitDiff{}, rejected("path %q is larger than %d bytes", p, maxDiffContent)
		}
		d.Modified = &res.Stdout
	}
	return d, nil
}

// show reads rel at commit; nil when it does not exist there.
func (w SandboxWorkspace) show(ctx context.Context, top, commit, rel string) (*string, error) {
	res, err := w.git(ctx, top, maxDiffContent, "show", "--end-of-options", commit+":"+rel)
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return nil, nil
	}
	if res.Truncated {
		return nil, rejected("%s at %s is larger than %d bytes", rel, commit, maxDiffContent)
	}
	return &res.Stdout, nil
}

// GitCommits lists the newest commits (limit of them, 1 to 200) of the
// repository at p.
func (w SandboxWorkspace) GitCommits(ctx context.Context, p string, limit int) (GitCommitsPage, error) {
	if limit < 1 || limit > 200 {
		return GitCommitsPage{}, invalid("limit: %d is not between 1 and 200", limit)
	}
	dir, err := w.repoDir(ctx, p)
	if err != nil {
		return GitCommitsPage{}, err
	}
	page := GitCommitsPage{Commits: []GitCommit{}}
	if ok, err := w.hasHead(ctx, dir); err != nil || !ok {
		return page, err
	}
	out, err := w.gitOK(ctx, dir, "log", fmt.Sprintf("--max-count=%d", limit+1), "--format=%H%x00%h%x00%s%x00%an%x00%aI%x1e", "HEAD", "--")
	if err != nil {
		return GitCommitsPage{}, err
	}
	for _, rec := range strings.Split(out, "\x1e") {
		rec = strings.TrimLeft(rec, "\n")
		f := strings.Split(rec, "\x00")
		if len(f) != 5 {
			continue
		}
		if len(page.Commits) == limit {
			page.HasMore = true
			break
		}
		page.Commits = append(page.Commits, GitCommit{SHA: f[0], ShortSHA: f[1], Subject: f[2], Author: f[3], Timestamp: f[4]})
	}
	return page, nil
}

// GitCommitChanges lists the files one commit changed, against its first
// parent, relative to the folder p.
func (w SandboxWorkspace) GitCommitChanges(ctx context.Context, p, sha string) ([]GitChange, error) {
	if err := CheckSHA("sha", sha); err != nil {
		return nil, err
	}
	dir, err := w.repoDir(ctx, p)
	if err != nil {
		return nil, err
	}
	commit, err := w.base(ctx, dir, sha)
	if err != nil {
		return nil, err
	}
	out, err := w.gitOK(ctx, dir, "diff-tree", "-r", "--root", "--no-commit-id", "-M", "--name-status", "-z",
		"--relative", "--diff-merges=first-parent", commit, "--")
	if err != nil {
		return nil, err
	}
	changes, err := parseNameStatus(out)
	if changes == nil && err == nil {
		changes = []GitChange{}
	}
	return changes, err
}
