package agentapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// The announce is the other direction of the handshake: an agent started
// with an announce URL (Kubernetes sandboxes, when the server listens for
// it) tells the server it listens as soon as it does, so the server tries
// it then rather than when the cluster's status of the Pod says its
// container runs, which the kubelet reports up to a second later.
//
// It is a POST of no body to the URL, whose path names the sandbox, with
// the header AnnounceHeader holding AnnounceMAC of that path in hex. The
// proof keeps anyone without the sandbox's token from sending the server
// to try an address of their choosing for it; the server still verifies
// the agent it reaches with the handshake, so an announce gives nothing
// but the moment and the address to try.
const (
	// AnnounceHeader carries the announce's proof.
	AnnounceHeader = "Gohands-Announce"
	announceLabel  = "gohands-agent-announce-v1\x00"
	// AnnounceMaxPath bounds the path of an announce URL.
	AnnounceMaxPath = 512
)

// AnnounceMAC is the proof of an announce to path (the URL's path, as the
// server sees it).
func AnnounceMAC(token, path string) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(announceLabel))
	m.Write([]byte(path))
	return m.Sum(nil)
}

// VerifyAnnounce reports whether proof (hex, as sent in AnnounceHeader)
// is the announce proof of path under token.
func VerifyAnnounce(token, path, proof string) bool {
	got, err := hex.DecodeString(proof)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	return hmac.Equal(got, AnnounceMAC(token, path))
}

// ErrAnnounceRefused is returned by Announce when the server answered
// that it does not take the announce (a 4xx): trying again would not
// help.
var ErrAnnounceRefused = errors.New("announce refused")

// Announce tells the server at rawURL that the agent of token listens. It
// tries until the server answers, ctx ends, or the server refuses, with a
// short bound per try and a growing pause between tries: a server that
// cannot be reached costs the agent nothing but this goroutine.
func Announce(ctx context.Context, rawURL, token string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("announce URL %q: want http://HOST:PORT/PATH", rawURL)
	}
	if len(u.EscapedPath()) > AnnounceMaxPath {
		return fmt.Errorf("announce URL %q: path longer than %d bytes", rawURL, AnnounceMaxPath)
	}
	proof := hex.EncodeToString(AnnounceMAC(token, u.EscapedPath()))
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	pause := 20 * time.Millisecond
	for {
		err := announceOnce(ctx, client, u.String(), proof)
		if err == nil || errors.Is(err, ErrAnnounceRefused) {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("announce to %s: %w (last try: %v)", u.Redacted(), ctx.Err(), err)
		case <-t.C:
		}
		pause = min(2*pause, time.Second)
	}
}

func announceOnce(ctx context.Context, client *http.Client, u, proof string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, http.NoBody)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAnnounceRefused, err)
	}
	req.Header.Set(AnnounceHeader, proof)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode < 500:
		return fmt.Errorf("%w: %s", ErrAnnounceRefused, resp.Status)
	}
	return fmt.Errorf("announce: %s", resp.Status)
}
