package session

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/gohands/gohands/agentapi"
)

// CreateDirectory makes the folder p and its missing parents; a folder
// that exists is fine.
func (w SandboxWorkspace) CreateDirectory(ctx context.Context, p string) (string, error) {
	if p == "" {
		return "", invalid("path: missing")
	}
	dir, err := w.Resolve(ctx, p)
	if err != nil {
		return "", err
	}
	res, err := w.run(ctx, "/", 4096, "mkdir", "-p", "--", dir)
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		msg := gitMessage(res)
		switch {
		case strings.Contains(msg, "File exists"), strings.Contains(msg, "Not a directory"):
			return "", rejected("path %q exists and is not a folder", p)
		case strings.Contains(msg, "Permission denied"), strings.Contains(msg, "Read-only"):
			return "", &Error{Kind: KindRefused, Detail: "cannot make " + dir + ": " + msg,
				Err: &agentapi.HTTPError{Status: 403, Detail: msg}}
		}
		return "", rejected("cannot make %s: %s", dir, msg)
	}
	return dir, nil
}

// FolderEntry names a folder for a folder picker.
type FolderEntry struct {
	Label string `json:"label"`
	Path  string `json:"path"`
}

// Home is the sandbox user's home folder, its folders and the roots of
// the file system, for a folder picker (upstream's /api/file/home).
type Home struct {
	Home      string        `json:"home"`
	Favorites []FolderEntry `json:"favorites"`
	Locations []FolderEntry `json:"locations"`
}

// Home answers where the sandbox's user lives.
func (w SandboxWorkspace) Home(ctx context.Context, includeHidden bool) (Home, error) {
	res, err := w.run(ctx, "/", 4096, "printenv", "HOME")
	if err != nil {
		return Home{}, err
	}
	home := strings.TrimSpace(res.Stdout)
	if res.ExitCode != 0 || !path.IsAbs(home) {
		home = w.root
	}
	h := Home{Home: home, Favorites: []FolderEntry{}, Locations: []FolderEntry{{Label: "/", Path: "/"}}}
	l, err := w.agent.ListFiles(ctx, home, 1)
	if err != nil {
		return h, nil // a home that cannot be listed has no favorites
	}
	sortByName(l.Entries)
	for _, e := range l.Entries {
		if e.Type == agentapi.TypeDir && (includeHidden || !isHidden(e.Name)) && len(h.Favorites) < 50 {
			h.Favorites = append(h.Favorites, FolderEntry{Label: e.Name, Path: path.Join(home, e.Name)})
		}
	}
	return h, nil
}

// Subdir is one folder of a SubdirPage.
type Subdir struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// SubdirQuery asks for the folders in a folder.
type SubdirQuery struct {
	Path          string
	Query         string // only names holding it, any case
	PageID        string // the lower-case name to start at
	Limit         int    // 1 to 100
	IncludeHidden bool
}

// SearchSubdirs lists the folders in a folder (symbolic links and files
// left out), by name in any case, a page at a time: the answer's next
// page id is the lower-case name of the first folder of the next page.
func (w SandboxWorkspace) SearchSubdirs(ctx context.Context, q SubdirQuery) ([]Subdir, string, error) {
	if q.Limit < 1 || q.Limit > 100 {
		return nil, "", invalid("limit: %d is not between 1 and 100", q.Limit)
	}
	dir, err := w.Resolve(ctx, q.Path)
	if err != nil {
		return nil, "", err
	}
	st, err := w.agent.Stat(ctx, dir)
	if err != nil {
		return nil, "", err
	}
	if st.Type != agentapi.TypeDir {
		return nil, "", rejected("path %q is not a folder", q.Path)
	}
	l, err := w.agent.ListFiles(ctx, dir, 1)
	if err != nil {
		return nil, "", err
	}
	sortByName(l.Entries)
	query := strings.ToLower(q.Query)
	var all []Subdir
	for _, e := range l.Entries {
		if e.Type != agentapi.TypeDir || (!q.IncludeHidden && isHidden(e.Name)) {
			continue
		}
		if query != "" && !strings.Contains(strings.ToLower(e.Name), query) {
			continue
		}
		all = append(all, Subdir{Name: e.Name, Path: path.Join(dir, e.Name)})
	}
	start := 0
	if q.PageID != "" {
		for i, s := range all {
			if strings.ToLower(s.Name) >= q.PageID {
				start = i
				break
			}
			start = len(all)
		}
	}
	end := min(start+q.Limit, len(all))
	next := ""
	if end < len(all) {
		next = strings.ToLower(all[end].Name)
	}
	items := all[start:end]
	if items == nil {
		items = []Subdir{}
	}
	return items, next, nil
}

// Archive formats.
const (
	ArchiveTarGz = "tar.gz"
	ArchiveZip   = "zip"
)

// Archive is a folder on its way out as one file. Its content is read
// from the sandbox as it is written: memory stays bounded whatever the
// folder's size.
type Archive struct {
	Name        string // the file name to offer: the folder's, with the format's suffix
	ContentType string
	format      string
	tar         io.ReadCloser
}

// Archive opens the folder p as an archive in format (tar.gz by default,
// or zip). The caller writes it with WriteTo and closes it, inside the
// call that gave it the workspace.
func (w SandboxWorkspace) Archive(ctx context.Context, p, format string) (*Archive, error) {
	switch format {
	case "", ArchiveTarGz:
		format = ArchiveTarGz
	case ArchiveZip:
	default:
		return nil, invalid("format: %q is not one of tar.gz, zip", format)
	}
	dir, err := w.Resolve(ctx, p)
	if err != nil {
		return nil, err
	}
	st, err := w.agent.Stat(ctx, dir)
	if err != nil {
		return nil, err
	}
	if st.Type != agentapi.TypeDir {
		return nil, rejected("path %q is not a folder", p)
	}
	body, _, err := w.agent.Download(ctx, dir, true)
	if err != nil {
		return nil, err
	}
	name := path.Base(dir)
	if name == "/" || name == "." {
		name = "root"
	}
	a := &Archive{Name: name + "." + format, format: format, tar: body}
	a.ContentType = "application/gzip"
	if format == ArchiveZip {
		a.ContentType = "application/zip"
	}
	return a, nil
}

// Close ends the read from the sandbox.
func (a *Archive) Close() error { return a.tar.Close() }

// WriteTo writes the archive to out.
func (a *Archive) WriteTo(out io.Writer) (int64, error) {
	cw := &countWriter{w: out}
	var err error
	if a.format == ArchiveZip {
		err = tarToZip(a.tar, cw)
	} else {
		zw := gzip.NewWriter(cw)
		if _, err = io.Copy(zw, a.tar); err == nil {
			err = zw.Close()
		}
	}
	return cw.n, err
}

// tarToZip rewrites a tar stream as a zip stream, one entry at a time.
func tarToZip(r io.Reader, out io.Writer) error {
	tr := tar.NewReader(r)
	zw := zip.NewWriter(out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return zw.Close()
		}
		if err != nil {
			return fmt.Errorf("read the folder's tar: %w", err)
		}
		fh := &zip.FileHeader{Name: strings.TrimPrefix(h.Name, "/"), Modified: h.ModTime}
		switch h.Typeflag {
		case tar.TypeDir:
			fh.Name = strings.TrimSuffix(fh.Name, "/") + "/"
			fh.SetMode(h.FileInfo().Mode())
			if _, err := zw.CreateHeader(fh); err != nil {
				return err
			}
		case tar.TypeReg:
			fh.Method = zip.Deflate
			fh.SetMode(h.FileInfo().Mode())
			fw, err := zw.CreateHeader(fh)
			if err != nil {
				return err
			}
			if _, err := io.Copy(fw, tr); err != nil {
				return err
			}
		case tar.TypeSymlink:
			fh.SetMode(h.FileInfo().Mode())
			fw, err := zw.CreateHeader(fh)
			if err != nil {
				return err
			}
			if _, err := io.WriteString(fw, h.Linkname); err != nil {
				return err
			}
		}
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// WebFile is a file of the workspace served to a browser.
type WebFile struct {
	Path string // the file's path in the sandbox
	Size int64
	Body io.ReadCloser
	// Redirect, when set, is the folder's URL path with a slash added,
	// for the browser to ask again (relative links then resolve).
	Redirect bool
}

// OpenWeb opens the file a browser asks for at p, relative to the
// workspace and never leaving it: a folder gives its index.html. A folder
// asked for without a trailing slash answers Redirect.
func (w SandboxWorkspace) OpenWeb(ctx context.Context, p string) (WebFile, error) {
	full, err := w.resolveInside(ctx, p)
	if err != nil {
		return WebFile{}, err
	}
	st, err := w.agent.Stat(ctx, full)
	if agentapi.StatusOf(err) == 404 {
		return WebFile{}, notFound("file", p)
	}
	if err != nil {
		return WebFile{}, err
	}
	if st.Type == agentapi.TypeDir {
		if p != "" && !strings.HasSuffix(p, "/") {
			return WebFile{Redirect: true}, nil
		}
		full, err = w.resolveInside(ctx, strings.TrimPrefix(path.Join(strings.TrimPrefix(full, w.root), "index.html"), "/"))
		if err != nil {
			return WebFile{}, err
		}
		st, err = w.agent.Stat(ctx, full)
		if agentapi.StatusOf(err) == 404 {
			return WebFile{}, notFound("index.html of folder", "/"+strings.TrimLeft(p, "/"))
		}
		if err != nil {
			return WebFile{}, err
		}
	}
	if st.Type != agentapi.TypeFile && st.Type != agentapi.TypeSymlink {
		return WebFile{}, notFound("file", p)
	}
	body, size, err := w.agent.Download(ctx, full, false)
	if err != nil {
		return WebFile{}, err
	}
	return WebFile{Path: full, Size: size, Body: body}, nil
}
