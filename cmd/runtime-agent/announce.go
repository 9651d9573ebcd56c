package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/gohands/gohands/agentapi"
)

// announceFor bounds how long the agent keeps trying to announce itself.
// The server also learns of the agent from the cluster, a little later:
// an announce that does not get through only loses that moment.
const announceFor = 30 * time.Second

// announce tells the server at url that the agent serves (see
// agentapi.Announce), and logs what came of it.
func announce(ctx context.Context, url, token string, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, announceFor)
	defer cancel()
	t0 := time.Now()
	if err := agentapi.Announce(ctx, url, token); err != nil {
		logger.Warn("runtime-agent announce", "err", err)
		return
	}
	logger.Debug("runtime-agent announced", "took", time.Since(t0))
}
