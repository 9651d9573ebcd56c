package agentd

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// User is who commands run as inside the sandbox.
type User struct {
	UID, GID int
	Name     string
	Home     string
}

// PrepareUser makes sure uid can work in the sandbox: it has a passwd entry
// (git, ssh and python look the user up), a writable home, and workdir is
// writable. It runs as root before the agent serves; for uid 0 it only makes
// workdir.
func PrepareUser(uid, gid int, workdir string) (User, error) {
	if workdir != "" {
		if err := os.MkdirAll(workdir, 0o755); err != nil {
			return User{}, fmt.Errorf("make workdir %s: %w", workdir, err)
		}
	}
	if uid == 0 {
		return User{UID: 0, GID: 0, Name: "root", Home: homeOf(0, "/root")}, nil
	}
	if gid < 0 {
		gid = uid
	}
	u := User{UID: uid, GID: gid, Name: "gohands", Home: "/home/gohands"}
	if name, home, ok := lookupPasswd("/etc/passwd", uid); ok {
		u.Name, u.Home = name, home
	} else {
		if _, _, taken := lookupName("/etc/passwd", u.Name); taken {
			u.Name = fmt.Sprintf("gohands%d", uid)
		}
		line := fmt.Sprintf("%s:x:%d:%d:GoHands sandbox user:%s:/bin/bash\n", u.Name, uid, gid, u.Home)
		if err := appendLine("/etc/passwd", line); err != nil {
			return User{}, fmt.Errorf("add user %d to /etc/passwd: %w", uid, err)
		}
		if !groupExists("/etc/group", gid) {
			appendLine("/etc/group", fmt.Sprintf("%s:x:%d:\n", u.Name, gid))
		}
	}
	if err := os.MkdirAll(u.Home, 0o755); err != nil {
		return User{}, fmt.Errorf("make home %s: %w", u.Home, err)
	}
	if err := os.Chown(u.Home, uid, gid); err != nil {
		return User{}, fmt.Errorf("own home %s: %w", u.Home, err)
	}
	if workdir != "" {
		// Only chown an empty or freshly made workdir that root owns: a
		// mounted host folder already belongs to its owner.
		if st, err := os.Stat(workdir); err == nil && ownerOf(st) == 0 {
			os.Chown(workdir, uid, gid)
		}
	}
	return u, nil
}

func homeOf(uid int, fallback string) string {
	if _, home, ok := lookupPasswd("/etc/passwd", uid); ok && home != "" {
		return home
	}
	return fallback
}

func lookupPasswd(path string, uid int) (name, home string, ok bool) {
	return scanPasswd(path, func(f []string) bool { return f[2] == strconv.Itoa(uid) })
}

func lookupName(path, name string) (string, string, bool) {
	return scanPasswd(path, func(f []string) bool { return f[0] == name })
}

func scanPasswd(path string, match func([]string) bool) (string, string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 7 && match(fields) {
			return fields[0], fields[5], true
		}
	}
	return "", "", false
}

func groupExists(path string, gid int) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[2] == strconv.Itoa(gid) {
			return true
		}
	}
	return false
}

func appendLine(path, line string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
