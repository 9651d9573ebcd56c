package storage

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ReleaseMapped takes the state file's pages out of the process's
// mapping of it. Reads fault them in and they stay mapped, so that after
// reads of many conversations the file counts in the process's resident
// memory though nothing uses it any more (the kernel maps neighbouring
// pages on each fault too). The pages stay in the kernel's page cache:
// the next read of one maps it again without reading the disk. The
// mapping is read-only and shared, so reads in progress are not
// disturbed. It reports the bytes of mapping released.
func (s *Store) ReleaseMapped() (int64, error) {
	path, err := filepath.EvalSymlinks(s.path)
	if err != nil {
		return 0, fmt.Errorf("storage: release mapped pages: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("storage: release mapped pages: %w", err)
	}
	defer f.Close()
	var released int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != path || strings.Contains(fields[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		// By address: the mapping is bbolt's, not a slice of this package.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED); errno != 0 {
			return released, fmt.Errorf("storage: release mapped pages: %w", errno)
		}
		released += int64(end - start)
	}
	return released, sc.Err()
}
