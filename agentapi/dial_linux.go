package agentapi

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"golang.org/x/sys/unix"
)

// dialSocketFile connects to the Unix socket file at path, never through a
// symlink, and returns its binding. It opens the file itself (O_PATH, no
// following of a final symlink), checks that it is a socket, and connects
// through /proc/self/fd, which reaches exactly the opened file whatever
// happens to path meanwhile. A missing file is an ordinary error (the
// agent is not up yet); anything else but a socket wraps ErrUnverified.
func dialSocketFile(ctx context.Context, d *net.Dialer, path string) (net.Conn, string, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", fmt.Errorf("dial agent socket %s: %w", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, "", fmt.Errorf("dial agent socket %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return nil, "", fmt.Errorf("%w: %s is %s, not a socket", ErrUnverified, path, fileKind(st.Mode))
	}
	conn, err := d.DialContext(ctx, "unix", "/proc/self/fd/"+strconv.Itoa(fd))
	if err != nil {
		return nil, "", fmt.Errorf("dial agent socket %s: %w", path, err)
	}
	return conn, UnixBinding(uint64(st.Dev), st.Ino), nil
}

func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return "a symlink"
	case unix.S_IFREG:
		return "a regular file"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFIFO:
		return "a FIFO"
	}
	return "a device"
}
