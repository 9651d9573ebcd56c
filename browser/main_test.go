package browser_test

import (
	"os"
	"testing"

	"github.com/gohands/gohands/sandbox/docker/dockertest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	dockertest.Cleanup()
	os.Exit(code)
}
