package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/gohands/gohands/agentapi"
	"github.com/gohands/gohands/storage"
)

// benchLabel marks the containers recoverBench makes, with the run's id.
const benchLabel = "gohands.bench"

// recoverBench restarts the real server on the big store with
// cfg.ScaleSandboxes sandboxes to recover: one real container per
// conversation, labelled as the server's sandboxes are, created and never
// started (what an idle, stopped sandbox is; 500 running ones would need
// 500 agents, more than this machine runs), with a sandbox record each.
// The server takes each over as the engine's Recover does: an inspect of
// the container, which is then held as stopped. It measures the time to
// the first /alive answer and until /ready no longer says sandboxes are
// being recovered. The containers are removed at the end.
func recoverBench(ctx context.Context, cfg Config, dir string, ids []string, res *scaleResult, progress io.Writer) error {
	engine, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		res.recoverNote = "no Docker client: " + err.Error()
		return nil
	}
	defer engine.Close()
	if _, err := engine.Ping(ctx); err != nil {
		res.recoverNote = "the Docker engine does not answer: " + err.Error()
		return nil
	}
	if _, err := engine.ImageInspect(ctx, cfg.ScaleImage); err != nil {
		res.recoverNote = fmt.Sprintf("image %s: %v", cfg.ScaleImage, err)
		return nil
	}
	runID := randomID()
	defer removeBenchContainers(engine, runID)

	store, err := storage.Open(filepath.Join(dir, "state.db"), storage.Options{SecretKey: scaleSecretKey})
	if err != nil {
		return err
	}
	serverID := store.ServerID()
	owners := ids[1 : 1+cfg.ScaleSandboxes] // not the big one
	fmt.Fprintf(progress, "  making %d sandbox containers (created, not started) for the restart to recover\n", len(owners))
	t := time.Now()
	err = forEachN(owners, 8, func(id string) error {
		token := randomID()
		resp, err := engine.ContainerCreate(ctx, &container.Config{
			Image: cfg.ScaleImage,
			Cmd:   []string{"sleep", "infinity"},
			Env:   []string{agentapi.TokenEnv + "=" + token},
			Labels: map[string]string{
				"gohands.sandbox": "1", "gohands.server": serverID, "gohands.conversation": id,
				"gohands.transport": "tcp", benchLabel: runID,
			},
		}, &container.HostConfig{}, nil, nil, "gohands-bench-"+runID+"-"+id[:12])
		if err != nil {
			return err
		}
		return store.PutSandbox(storage.SandboxRecord{ConversationID: id, ContainerID: resp.ID, Token: token, Image: cfg.ScaleImage})
	})
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	res.sandboxes, res.sandboxesCreate = len(owners), time.Since(t)

	t = time.Now()
	g, alive, err := restart(ctx, cfg.ServerBin, dir, "OH_SECRET_KEY="+scaleSecretKey)
	if err != nil {
		return err
	}
	defer g.stop()
	res.aliveRecover = alive
	for {
		var ready map[string]any
		if err := g.call(ctx, "GET", "/ready", nil, &ready); err == nil && ready["sandboxes_recovering"] == nil {
			break
		}
		if time.Since(t) > 10*time.Minute {
			return fmt.Errorf("sandboxes still being recovered after 10 minutes")
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(5 * time.Millisecond)
	}
	res.recovered = time.Since(t)
	res.sandboxesRecovered = adoptedInLog(filepath.Join(g.dir, "server.log"))
	fmt.Fprintf(progress, "  restarted with %d sandboxes to recover: /alive after %s, all recovered after %s\n",
		len(owners), ms(res.aliveRecover), ms(res.recovered))
	return nil
}

// scaleSecretKey is the secret key of every restart of the big store,
// which checks it against the key of its first open.
var scaleSecretKey = randomID()

func randomID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// forEachN calls fn with every id from n goroutines and returns the first
// error.
func forEachN(ids []string, n int, fn func(string) error) error {
	work := make(chan string)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for id := range work {
				if err := fn(id); err != nil {
					errs <- err
					for range work {
					}
					return
				}
			}
		})
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	close(errs)
	return <-errs
}

// adoptedInLog reads the count of sandboxes the server says it re-adopted.
func adoptedInLog(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		var rec struct {
			Msg     string `json:"msg"`
			Adopted int    `json:"adopted"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "sandboxes re-adopted" {
			n += rec.Adopted
		}
	}
	return n
}

// removeBenchContainers removes the containers of a run of recoverBench.
func removeBenchContainers(engine *client.Client, runID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	list, err := engine.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", benchLabel+"="+runID))})
	if err != nil {
		return
	}
	var cids []string
	for _, c := range list {
		cids = append(cids, c.ID)
	}
	forEachN(cids, 8, func(id string) error {
		engine.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
		return nil
	})
}
