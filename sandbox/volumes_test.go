package sandbox

import (
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseVolumes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		spec string
		want []Mount
	}{
		{"empty", "", nil},
		{"only commas", " , ,", nil},
		{"bind default rw", "/home/u/proj:/workspace", []Mount{{Source: "/home/u/proj", Target: "/workspace"}}},
		{"bind ro", "/data:/mnt/data:ro", []Mount{{Source: "/data", Target: "/mnt/data", ReadOnly: true}}},
		{"bind rw explicit upper", "/data:/mnt/data:RW", []Mount{{Source: "/data", Target: "/mnt/data"}}},
		{"cleaned", "/a/b/../c/:/x//y/", []Mount{{Source: "/a/c", Target: "/x/y"}}},
		{"named volume", "cache:/root/.cache", []Mount{{Source: "cache", Target: "/root/.cache", Volume: true}}},
		{"volume prefix", "volume:my-vol.1:/workspace:ro", []Mount{{Source: "my-vol.1", Target: "/workspace", ReadOnly: true, Volume: true}}},
		{"several with spaces", " /a:/a , vol:/b:ro ,", []Mount{
			{Source: "/a", Target: "/a"},
			{Source: "vol", Target: "/b", ReadOnly: true, Volume: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVolumes(tt.spec)
			if err != nil {
				t.Fatalf("ParseVolumes(%q): %v", tt.spec, err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("ParseVolumes(%q) (-got +want):\n%s", tt.spec, diff)
			}
		})
	}
}

func TestParseVolumesRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec, entry, why string
	}{
		{"/a:/b,/c", "/c", "host:container"},
		{"/a:/b:rw:x", "/a:/b:rw:x", "host:container"},
		{"/a:/b:rx", "/a:/b:rx", "neither rw nor ro"},
		{":/b", ":/b", "empty host"},
		{"./rel:/b", "./rel:/b", "neither an absolute path nor a volume name"},
		{"x:/b", "x:/b", "volume name"},
		{"volume:/abs:/b", "volume:/abs:/b", "volume name"},
		{"/a:rel", "/a:rel", "not absolute"},
		{"/a:/", "/a:/", "root"},
		{"/a:/opt/gohands", "/a:/opt/gohands", "GoHands uses"},
		{"/a:/run", "/a:/run", "GoHands uses"},
		{"/a:/w,/b:/w/", "/b:/w/", "already mounted"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			_, err := ParseVolumes(tt.spec)
			if err == nil {
				t.Fatalf("ParseVolumes(%q) succeeded, want an error", tt.spec)
			}
			if !errors.Is(err, ErrBadVolume) {
				t.Errorf("error %v does not wrap ErrBadVolume", err)
			}
			if !strings.Contains(err.Error(), `"`+tt.entry+`"`) || !strings.Contains(err.Error(), tt.why) {
				t.Errorf("error %q should quote %q and say %q", err, tt.entry, tt.why)
			}
		})
	}
}

func TestMounts(t *testing.T) {
	t.Parallel()
	got, err := Mounts("/data:/data:ro", "/srv/ws/")
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{{Source: "/data", Target: "/data", ReadOnly: true}, {Source: "/srv/ws", Target: "/workspace"}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("Mounts (-got +want):\n%s", diff)
	}
	if ws, ok := Workspace(got); !ok || ws.Source != "/srv/ws" {
		t.Errorf("Workspace = %v, %v", ws, ok)
	}
	if _, err := Mounts("/x:/workspace", "/srv/ws"); err == nil || !strings.Contains(err.Error(), "both mount") {
		t.Errorf("conflicting workspace: err = %v", err)
	}
	if _, err := Mounts("", "rel"); err == nil {
		t.Error("relative WORKSPACE_BASE accepted")
	}
}

func FuzzParseVolumes(f *testing.F) {
	for _, s := range []string{
		"", "/a:/b", "/a:/b:ro", "vol:/b:rw", "volume:v1:/w", "/a:/b,/c:/d:ro", "::", ":/", "/a:/b:",
		"volume:", "/a:/opt/gohands/x", " /a : /b ", "/a:/b,,", "\x00:/b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		mounts, err := ParseVolumes(spec)
		if err != nil {
			if !errors.Is(err, ErrBadVolume) {
				t.Fatalf("error %v does not wrap ErrBadVolume", err)
			}
			return
		}
		targets := make(map[string]bool)
		specs := make([]string, 0, len(mounts))
		for _, m := range mounts {
			if !path.IsAbs(m.Target) || path.Clean(m.Target) != m.Target || m.Target == "/" {
				t.Fatalf("bad target %q from %q", m.Target, spec)
			}
			if targets[m.Target] {
				t.Fatalf("duplicate target %q from %q", m.Target, spec)
			}
			targets[m.Target] = true
			if m.Source == "" || (m.Volume == path.IsAbs(m.Source)) {
				t.Fatalf("bad source %+v from %q", m, spec)
			}
			specs = append(specs, m.String())
		}
		again, err := ParseVolumes(strings.Join(specs, ","))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", specs, err)
		}
		if diff := cmp.Diff(again, mounts); diff != "" {
			t.Fatalf("round trip of %q (-got +want):\n%s", spec, diff)
		}
	})
}
