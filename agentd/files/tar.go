package files

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gohands/gohands/agentapi"
)

// UploadResult tells what an Upload extracted.
type UploadResult = agentapi.TreeUpload

// Upload extracts the tar stream r under the directory dest, creating dest
// and missing directories. Every entry must stay inside dest: names that are
// absolute or climb out with "..", symlinks whose target resolves outside,
// hard links to outside, and writes through a symlink that leads outside
// are refused with ErrInvalid. Regular files over MaxUploadBytes in total,
// or more than MaxUploadEntries entries, fail with ErrTooLarge.
//
// Existing files and symlinks are replaced (unlinked first, so a hard link
// to a file elsewhere is never written through); an existing directory is
// merged into. Set-user-ID, set-group-ID and sticky bits are dropped; the
// tar's owners are ignored: new entries belong to the Owner, or to the
// process. Extraction is not atomic: on error, entries already extracted
// stay.
func (f *FS) Upload(ctx context.Context, dest string, r io.Reader) (UploadResult, error) {
	const op = "upload"
	t, err := f.path(op, dest, true)
	if err != nil {
		return UploadResult{}, err
	}
	if err := f.mkdirAll(t.real); err != nil {
		return UploadResult{}, osError(op, t.shown, err)
	}
	destReal, err := filepath.EvalSymlinks(t.real)
	if err != nil {
		return UploadResult{}, osError(op, t.shown, err)
	}
	root, err := os.OpenRoot(destReal)
	if err != nil {
		return UploadResult{}, osError(op, t.shown, err)
	}
	defer root.Close()

	x := &extractor{fs: f, root: root, destReal: destReal, shown: t.shown, res: UploadResult{Dest: t.shown}}
	err = x.extractAll(ctx, tar.NewReader(r))
	// Even after a failure, no symlink made here may be left leading out.
	if ferr := x.finish(err == nil); err == nil {
		err = ferr
	}
	return x.res, err
}

func (x *extractor) extractAll(ctx context.Context, tr *tar.Reader) error {
	for entries := 0; ; entries++ {
		if err := ctx.Err(); err != nil {
			return osError("upload", x.shown, err)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &Error{Op: "upload", Path: x.shown, Kind: ErrInvalid, Err: err, Msg: "not a valid tar stream: " + err.Error()}
		}
		if entries >= x.fs.maxEntry {
			return newError(ErrTooLarge, "upload", x.shown, fmt.Sprintf("the tar has more than %d entries", x.fs.maxEntry))
		}
		if err := x.extract(hdr, tr); err != nil {
			return err
		}
	}
}

// extractor holds the state of one Upload.
type extractor struct {
	fs       *FS
	root     *os.Root
	destReal string
	shown    string
	res      UploadResult
	dirs     []dirMeta // modes and times set last, once their contents are in
	links    []string  // entries that are or may be symlinks, checked again last
}

type dirMeta struct {
	name  string
	mode  fs.FileMode
	mtime time.Time
}

func (x *extractor) fail(kind error, name, format string, args ...any) error {
	return newError(kind, "upload", x.shown, fmt.Sprintf("entry %q: ", name)+fmt.Sprintf(format, args...))
}

// wrap turns an error from an os.Root call on entry name into an *Error.
func (x *extractor) wrap(name string, err error) error {
	if err == nil {
		return nil
	}
	if isEscape(err) {
		return x.fail(ErrInvalid, name, "escapes the destination through a symlink")
	}
	var fe *Error
	if errors.As(err, &fe) {
		return err
	}
	return &Error{Op: "upload", Path: x.shown, Kind: kindOf(err), Err: err, Msg: fmt.Sprintf("entry %q: %s", name, causeText(err))}
}

func (x *extractor) extract(hdr *tar.Header, r io.Reader) error {
	name, err := entryName(hdr.Name)
	if err != nil {
		return x.fail(ErrInvalid, hdr.Name, "%v", err)
	}
	mode := fs.FileMode(hdr.Mode) & fs.ModePerm
	switch hdr.Typeflag {
	case tar.TypeDir:
		if name == "." {
			return nil // dest itself: leave its mode alone
		}
		if err := x.mkdirAll(name); err != nil {
			return err
		}
		x.dirs = append(x.dirs, dirMeta{name, mode, hdr.ModTime})
		x.res.Dirs++
		return nil
	case tar.TypeXGlobalHeader:
		return nil
	}
	if name == "." {
		return x.fail(ErrInvalid, hdr.Name, "names the destination itself")
	}
	switch hdr.Typeflag {
	case tar.TypeReg, '\x00':
		return x.file(name, hdr, mode, r)
	case tar.TypeSymlink:
		return x.symlink(name, hdr.Linkname)
	case tar.TypeLink:
		old, err := entryName(hdr.Linkname)
		if err != nil || old == "." {
			return x.fail(ErrInvalid, name, "hard link to %q: outside the destination", hdr.Linkname)
		}
		if err := x.prepare(name); err != nil {
			return err
		}
		if err := x.wrap(name, x.root.Link(old, name)); err != nil {
			return err
		}
		x.links = append(x.links, name)
		if fi, err := x.root.Lstat(name); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			// A hard link to a symlink is that symlink again: check it.
			target, err := x.root.Readlink(name)
			if err == nil {
				err = x.checkLink(name, target)
			}
			if err != nil {
				x.root.Remove(name)
				return x.fail(ErrInvalid, name, "hard link to %q, a symlink that points outside the destination", hdr.Linkname)
			}
		}
		x.res.Links++
		return nil
	default:
		x.res.Skipped = append(x.res.Skipped, name)
		return nil
	}
}

func (x *extractor) file(name string, hdr *tar.Header, mode fs.FileMode, r io.Reader) error {
	if hdr.Size < 0 || hdr.Size > x.fs.maxUpload-x.res.Bytes {
		return x.fail(ErrTooLarge, name, "would take the upload over its %s limit", humanSize(x.fs.maxUpload))
	}
	if err := x.prepare(name); err != nil {
		return err
	}
	file, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return x.wrap(name, err)
	}
	n, err := io.CopyN(file, r, hdr.Size)
	x.res.Bytes += n
	if err == nil {
		err = file.Chmod(mode)
	}
	if err == nil {
		err = x.fs.chownRoot(x.root, name)
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err == nil && !hdr.ModTime.IsZero() {
		atime := hdr.AccessTime
		if atime.IsZero() {
			atime = hdr.ModTime
		}
		err = x.root.Chtimes(name, atime, hdr.ModTime)
	}
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, tar.ErrHeader) {
			return &Error{Op: "upload", Path: x.shown, Kind: ErrInvalid, Err: err, Msg: fmt.Sprintf("entry %q: the tar stream ends inside it", name)}
		}
		return x.wrap(name, err)
	}
	x.res.Files++
	return nil
}

func (x *extractor) symlink(name, target string) error {
	if target == "" || strings.IndexByte(target, 0) >= 0 {
		return x.fail(ErrInvalid, name, "symlink with an empty or NUL-holding target")
	}
	if err := x.checkLink(name, target); err != nil {
		return err
	}
	if err := x.prepare(name); err != nil {
		return err
	}
	if err := x.wrap(name, x.root.Symlink(target, name)); err != nil {
		return err
	}
	if err := x.wrap(name, x.fs.chownRoot(x.root, name)); err != nil {
		return err
	}
	x.links = append(x.links, name)
	x.res.Links++
	return nil
}

// checkLink refuses a symlink at name whose target resolves outside the
// destination, following the symlinks already there.
func (x *extractor) checkLink(name, target string) error {
	p := target
	if !filepath.IsAbs(target) {
		p = x.destReal + "/" + path.Dir(name) + "/" + target
	}
	resolved, err := resolveExisting(p)
	if err != nil {
		return x.fail(ErrInvalid, name, "symlink to %q cannot be resolved: %v", target, causeText(err))
	}
	if !within(x.destReal, resolved) {
		return x.fail(ErrInvalid, name, "symlink to %q points outside the destination", target)
	}
	return nil
}

// prepare makes the parent directories of name and removes what is at name
// now, unless it is a directory (which is a conflict).
func (x *extractor) prepare(name string) error {
	if dir := path.Dir(name); dir != "." {
		if err := x.mkdirAll(dir); err != nil {
			return err
		}
	}
	fi, err := x.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return x.wrap(name, err)
	}
	if fi.IsDir() {
		return x.fail(ErrConflict, name, "a directory is in the way")
	}
	if err := x.root.Remove(name); err != nil {
		return x.wrap(name, err)
	}
	x.res.Replaced++
	return nil
}

// mkdirAll creates name and its missing parents inside the root, giving
// each one it creates to the owner.
func (x *extractor) mkdirAll(name string) error {
	parts := strings.Split(name, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		fi, err := x.root.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return x.fail(ErrConflict, name, "%s is in the way and is not a directory", p)
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return x.wrap(name, err)
		}
		if fi, lerr := x.root.Lstat(p); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return x.fail(ErrConflict, name, "%s is a dangling symlink", p)
		}
		if err := x.root.Mkdir(p, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return x.wrap(name, err)
		}
		if err := x.wrap(name, x.fs.chownRoot(x.root, p)); err != nil {
			return err
		}
	}
	return nil
}

// finish checks every symlink made again, as one made early can be turned
// outward by a later entry (a link through "d/.." before "d" becomes a
// symlink to "."), and removes those that lead out. After a complete
// extraction it then sets directory modes and times, deepest first.
func (x *extractor) finish(complete bool) error {
	var bad []string
	for _, name := range x.links {
		fi, err := x.root.Lstat(name)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		target, err := x.root.Readlink(name)
		if err == nil {
			err = x.checkLink(name, target)
		}
		if err != nil {
			x.root.Remove(name)
			bad = append(bad, name)
		}
	}
	for i := len(x.dirs) - 1; i >= 0 && complete; i-- {
		d := x.dirs[i]
		if err := x.root.Chmod(d.name, d.mode); err != nil {
			return x.wrap(d.name, err)
		}
		if !d.mtime.IsZero() {
			if err := x.root.Chtimes(d.name, d.mtime, d.mtime); err != nil {
				return x.wrap(d.name, err)
			}
		}
	}
	if len(bad) > 0 {
		return x.fail(ErrInvalid, bad[0], "symlink points outside the destination once the whole tar is in; removed")
	}
	return nil
}

// entryName cleans a tar entry name into a relative slash path inside the
// destination ("." for the destination itself), refusing absolute names
// and names that climb out with "..".
func entryName(name string) (string, error) {
	switch {
	case name == "":
		return "", errors.New("empty name")
	case strings.IndexByte(name, 0) >= 0:
		return "", errors.New("name holds a NUL byte")
	case strings.HasPrefix(name, "/"):
		return "", errors.New("absolute name")
	}
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", errors.New("climbs out of the destination with \"..\"")
	}
	return clean, nil
}

// isEscape reports whether err is os.Root refusing a path that leaves it.
func isEscape(err error) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err != nil && pe.Err.Error() == "path escapes from parent"
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err != nil && le.Err.Error() == "path escapes from parent"
	}
	return false
}

// Download writes the file or directory tree at path to w as a tar
// stream. Entry names start with the base name of path ("proj/",
// "proj/main.go"), so extracting it with Upload into a directory recreates
// path there. Symlinks are stored as symlinks, files linked more than once
// as hard links; sockets, devices and FIFOs are left out. Nothing is
// buffered: on an error the stream written so far is cut short, without the
// tar trailer, so a reader sees it fail.
func (f *FS) Download(ctx context.Context, path string, w io.Writer) error {
	const op = "download"
	t, err := f.path(op, path, true)
	if err != nil {
		return err
	}
	real := t.real
	if r, err := filepath.EvalSymlinks(real); err == nil {
		real = r // a symlink named directly is followed
	}
	fi, err := os.Stat(real)
	if err != nil {
		return osError(op, t.shown, err)
	}
	base := filepath.Base(t.shown)
	if base == "/" {
		base = ""
	}
	tw := tar.NewWriter(w)
	d := &downloader{tw: tw, seen: make(map[[2]uint64]string)}
	if !fi.IsDir() {
		err = d.add(real, base, fi)
	} else {
		err = filepath.WalkDir(real, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			rel, _ := filepath.Rel(real, p)
			name := filepath.ToSlash(filepath.Join(base, rel))
			if name == "." || name == "" {
				return nil // the root of a "/" download has no entry
			}
			info, err := de.Info()
			if err != nil {
				return nil // gone meanwhile
			}
			return d.add(p, name, info)
		})
	}
	if err == nil {
		err = tw.Close()
	}
	return osError(op, t.shown, err)
}

type downloader struct {
	tw   *tar.Writer
	seen map[[2]uint64]string // (dev, inode) of files linked more than once -> first name
}

func (d *downloader) add(p, name string, fi fs.FileInfo) error {
	m := fi.Mode()
	if !m.IsRegular() && !m.IsDir() && m&fs.ModeSymlink == 0 {
		return nil
	}
	link := ""
	if m&fs.ModeSymlink != 0 {
		var err error
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	hdr.Name = name
	if m.IsDir() {
		hdr.Name += "/"
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && m.IsRegular() && st.Nlink > 1 {
		key := [2]uint64{uint64(st.Dev), st.Ino}
		if first, ok := d.seen[key]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
		} else {
			d.seen[key] = name
		}
	}
	if hdr.Typeflag != tar.TypeReg {
		return d.tw.WriteHeader(hdr)
	}
	file, _, err := openRegular(p)
	if err != nil {
		return err
	}
	defer file.Close()
	// The header must give the length that follows, which a file of /proc
	// or /sys does not report (see Measure).
	r, n, err := Measure(file, hdr.Size, MaxUnsized)
	if err != nil {
		return err
	}
	if n < 0 {
		return fmt.Errorf("%s reports %d bytes but holds more than %d", p, hdr.Size, MaxUnsized)
	}
	hdr.Size = n
	if err := d.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.CopyN(d.tw, r, n); err != nil {
		return fmt.Errorf("%s changed while being read: %w", p, err)
	}
	return nil
}
