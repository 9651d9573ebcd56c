package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/gohands/gohands/sandbox"
)

// EnsureImage makes sure ref exists on the engine, pulling it (with
// progress sent to onPull, which may be nil) when it is missing. When the
// pull fails too, the error wraps ErrImageMissing, names the image and says
// how to build the default one.
func (m *Manager) EnsureImage(ctx context.Context, ref string, onPull func(sandbox.PullProgress)) error {
	_, err := m.engine.ImageInspect(ctx, ref)
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect image %s: %w", ref, engineErr(m.engine, err))
	}
	return m.pull(ctx, ref, onPull)
}

func (m *Manager) pull(ctx context.Context, ref string, onPull func(sandbox.PullProgress)) error {
	m.log.InfoContext(ctx, "pulling missing sandbox image", "image", ref)
	err := pull(ctx, m.engine, ref, onPull)
	if err == nil {
		return nil
	}
	if errors.Is(err, sandbox.ErrEngineDown) || ctx.Err() != nil {
		return err
	}
	return fmt.Errorf("%w: image %s is not on the Docker engine and pulling it failed (%v); build the default image with `make sandbox-image` (scripts/sandbox-image.sh %s) or set SANDBOX_BASE_IMAGE to an image that exists",
		sandbox.ErrImageMissing, ref, err, ref)
}

func pull(ctx context.Context, engine client.APIClient, ref string, onPull func(sandbox.PullProgress)) error {
	rc, err := engine.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return engineErr(engine, err)
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var msg jsonmessage.JSONMessage
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read pull progress: %w", err)
		}
		if msg.Error != nil {
			return errors.New(msg.Error.Message)
		}
		if onPull != nil {
			p := sandbox.PullProgress{Image: ref, Layer: msg.ID, Status: msg.Status}
			if msg.Progress != nil {
				p.Current, p.Total = msg.Progress.Current, msg.Progress.Total
			}
			onPull(p)
		}
	}
}
