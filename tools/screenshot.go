package tools

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"path"
	"strings"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/event"
)

// ScreenshotDir is the sandbox folder browser screenshots are saved in:
// outside the workspace, so that they never land in the user's
// repository, and where the agent can still open them.
const ScreenshotDir = "/tmp/gohands/browser_observations"

// pngMagic starts every PNG file.
var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// encodePNG returns a PNG as the base64 of screenshot_data, or "" for
// bytes that are not a PNG: the observation then carries no image, rather
// than one whose type it would have to guess.
func encodePNG(b []byte) string {
	if !bytes.HasPrefix(b, pngMagic) {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}

// ScreenshotPath is where a screenshot of base64 data is saved: named by
// its hash, so that the same picture is saved once.
func ScreenshotPath(data string) string {
	sum := sha256.Sum256([]byte(data))
	return path.Join(ScreenshotDir, "browser_screenshot_"+hex.EncodeToString(sum[:4])+".png")
}

// saveScreenshot saves the observation's screenshot in the sandbox, says
// where in its content, and adds the picture for the model. The PNG
// travels as base64 and is decoded in the sandbox, since the agent's file
// calls carry text. A screenshot that cannot be saved is still shown.
func saveScreenshot(ctx context.Context, ws Workspace, o *event.BrowserObservation) {
	p := ScreenshotPath(o.ScreenshotData)
	err := ws.WithAgent(ctx, func(ag Agent) error {
		r, err := ag.Run(ctx, agentapi.RunRequest{
			Args:  []string{"sh", "-c", `mkdir -p "$1" && base64 -d > "$2"`, "sh", ScreenshotDir, p},
			Stdin: o.ScreenshotData,
		})
		if err != nil {
			return err
		}
		if r.ExitCode != 0 {
			return fmt.Errorf("exit code %d: %s", r.ExitCode, strings.TrimSpace(r.Stderr))
		}
		return nil
	})
	if err != nil {
		o.Content = append(o.Content, event.Content{Type: event.ContentText,
			Text: "The screenshot could not be saved in the sandbox: " + detail(err)})
	} else {
		o.ScreenshotPath, o.FullOutputSaveDir = p, ScreenshotDir
		o.Content = append(o.Content, event.Content{Type: event.ContentText, Text: "Screenshot saved to: " + p})
	}
	o.Content = append(o.Content, event.Content{Type: event.ContentImage,
		ImageURLs: []string{"data:image/png;base64," + o.ScreenshotData}})
}
