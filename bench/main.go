// Command bench measures the GoHands server under load and prints each
// figure next to a baseline measured in the same run, with the ratio:
//
//   - fanout: one conversation's events, appended through
//     session.AgentSession.Append, delivered to many WebSocket subscribers
//     of /sockets/events/{id}; the baseline is the same fan-out over bare
//     gorilla/websocket writers with no storage.
//   - get: GET /api/conversations/{id} at a fixed rate, open loop, from
//     this process against the real server binary; the baseline is
//     GET /alive of the same server, interleaved with it.
//
// Usage:
//
//	go run ./bench                          # both, default sizes (about 4 minutes)
//	go run ./bench -run fanout -subscribers 100 -events 2000
//	go run ./bench -run get -rps 1000 -duration 10s
//	go run ./bench -run scale -scale-convs 10000 -scale-events 1000000
//	go run ./bench -run idle -idle-convs 1000 -live-cap 50 -idle-timeout 30s
//	go run ./bench -run agents -agent-convs 100 -agent-steps 20
//
// idle and agents run Docker sandboxes (the engine of DOCKER_HOST and
// the image gohands/sandbox:bookworm): they are not in the default -run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Config is what one run measures, from the flags.
type Config struct {
	Run []string // "fanout", "get", "scale", "idle", "agents"

	// Socket fan-out.
	Subscribers  int
	Events       int
	Rate         float64       // events per second
	Rounds       int           // the paths alternate this many times
	TextBytes    int           // size of each event's message text
	SocketBuffer int           // server.Config.SocketBuffer, and the baseline's queue
	Drain        time.Duration // how long subscribers may take to catch up after a round
	FanoutTarget time.Duration // p99 delivery latency to meet

	// GET at a fixed rate.
	ServerBin   string
	RPS         int
	Duration    time.Duration // per route
	Slice       time.Duration // the two routes alternate in slices this long
	Warmup      time.Duration
	SandboxWait time.Duration
	GetTarget   time.Duration // p99 latency to meet

	// Scale.
	ScaleConvs  int
	ScaleEvents int
	ScaleBig    int           // events of the one big conversation
	ScaleDir    string        // where the stores are made and kept; "": a temporary folder, removed
	ScaleIdle   time.Duration // the restarted server's idle window (GOHANDS_CONVERSATION_IDLE)
	// ScaleSandboxes is how many sandbox containers the restart has to
	// recover; 0 skips that restart.
	ScaleSandboxes int
	ScaleImage     string // the image of those containers

	// Live sandboxes: idle and agents.
	IdleConvs   int
	IdleClients int
	IdleTimeout time.Duration // the server's SANDBOX_IDLE_TIMEOUT
	IdleBudget  time.Duration // bounds creating and commanding
	LiveCap     int           // the server's GOHANDS_MAX_CONVERSATIONS
	AgentConvs  int
	AgentSteps  int
	AgentBudget time.Duration // bounds each run of conversations
	ServerEnv   []string      // more NAME=value settings of the server

	CPUProfile string
	Trace      string
	// Summary names go test -bench output to print as one table.
	Summary string
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if cfg.Summary != "" {
		f, err := os.Open(cfg.Summary)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		results, err := parseBench(f)
		f.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		fmt.Printf("## every Go benchmark of %s\n\n", cfg.Summary)
		printSummary(os.Stdout, results)
		return
	}
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	runList := fs.String("run", "fanout,get,scale", "benchmarks to run, comma separated: fanout, get, scale, idle, agents")
	fs.IntVar(&cfg.Subscribers, "subscribers", 500, "fanout: WebSocket subscribers of the conversation")
	fs.IntVar(&cfg.Events, "events", 10000, "fanout: events appended")
	fs.Float64Var(&cfg.Rate, "rate", 100, "fanout: events appended per second (steady)")
	fs.IntVar(&cfg.Rounds, "rounds", 5, "fanout: the baseline and GoHands take turns this many times, the events split between the turns")
	fs.IntVar(&cfg.TextBytes, "text-bytes", 200, "fanout: bytes of message text in each event")
	fs.IntVar(&cfg.SocketBuffer, "socket-buffer", 16384, "fanout: frames a socket may have queued before it is dropped as slow")
	fs.DurationVar(&cfg.Drain, "drain", 30*time.Second, "fanout: how long subscribers may take to catch up after a round")
	fs.DurationVar(&cfg.FanoutTarget, "fanout-target", 50*time.Millisecond, "fanout: target p99 delivery latency")
	fs.StringVar(&cfg.ServerBin, "server", "bin/gohands", "get: server binary (built with go build ./cmd/server when missing)")
	fs.IntVar(&cfg.RPS, "rps", 1000, "get: requests per second, open loop")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "get: measured time per route")
	fs.DurationVar(&cfg.Slice, "slice", time.Second, "get: the routes alternate in slices this long")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "get: unmeasured load on each route first")
	fs.DurationVar(&cfg.SandboxWait, "sandbox-wait", 2*time.Minute, "get: how long to wait for the conversation's sandbox to settle before measuring")
	fs.DurationVar(&cfg.GetTarget, "get-target", 5*time.Millisecond, "get: target p99 latency")
	fs.IntVar(&cfg.ScaleConvs, "scale-convs", 10000, "scale: conversations created through the API")
	fs.IntVar(&cfg.ScaleEvents, "scale-events", 1000000, "scale: events in the store")
	fs.IntVar(&cfg.ScaleBig, "scale-big", 100000, "scale: events of the one big conversation (of -scale-events)")
	fs.StringVar(&cfg.ScaleDir, "scale-dir", "", "scale: make the stores in `folder` (new: small/ and big/) and keep them; default a temporary folder, removed")
	fs.IntVar(&cfg.IdleConvs, "idle-convs", 1000, "idle: conversations created and sent one command each")
	fs.IntVar(&cfg.IdleClients, "idle-clients", 4, "idle: clients creating and commanding at once")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 30*time.Second, "idle: the server's sandbox idle timeout (SANDBOX_IDLE_TIMEOUT)")
	fs.DurationVar(&cfg.IdleBudget, "idle-budget", 60*time.Minute, "idle: stop creating conversations after this long")
	fs.IntVar(&cfg.LiveCap, "live-cap", 50, "idle: the server's live cap (GOHANDS_MAX_CONVERSATIONS)")
	fs.IntVar(&cfg.AgentConvs, "agent-convs", 100, "agents: conversations running at once")
	fs.IntVar(&cfg.AgentSteps, "agent-steps", 20, "agents: terminal steps of each conversation (at most 90)")
	fs.DurationVar(&cfg.AgentBudget, "agent-budget", 20*time.Minute, "agents: how long a run of conversations may take")
	fs.Func("server-env", "idle, agents: one more `NAME=value` setting of the server (repeatable; wins over the benchmark's)", func(v string) error {
		if name, _, ok := strings.Cut(v, "="); !ok || name == "" {
			return fmt.Errorf("want NAME=value, got %q", v)
		}
		cfg.ServerEnv = append(cfg.ServerEnv, v)
		return nil
	})
	fs.DurationVar(&cfg.ScaleIdle, "scale-idle", 10*time.Second, "scale: the idle window of the restarted server (GOHANDS_CONVERSATION_IDLE), waited once after touching every conversation")
	fs.IntVar(&cfg.ScaleSandboxes, "scale-sandboxes", 500, "scale: sandbox containers (created, never started) the last restart recovers; 0 skips it")
	fs.StringVar(&cfg.ScaleImage, "scale-image", "gohands/sandbox:bookworm", "scale: the image of the -scale-sandboxes containers (must be present)")
	fs.StringVar(&cfg.Summary, "summary", "", "print one table of the figures and ratios in `file` (the output of go test -bench) and exit")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of this process (server and clients of fanout) to `file`")
	fs.StringVar(&cfg.Trace, "trace", "", "write an execution trace of this process to `file` (large: use small sizes; go tool trace -pprof=syscall file)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, name := range strings.Split(*runList, ",") {
		name = strings.TrimSpace(name)
		switch name {
		case "":
		case "fanout", "get", "scale", "idle", "agents":
			cfg.Run = append(cfg.Run, name)
		default:
			return cfg, fmt.Errorf("-run: unknown benchmark %q (fanout, get, scale, idle, agents)", name)
		}
	}
	switch {
	case len(cfg.Run) == 0:
		return cfg, errors.New("-run: nothing to run")
	case cfg.Subscribers < 1, cfg.Events < 1, cfg.Rate <= 0, cfg.Rounds < 1, cfg.TextBytes < 0, cfg.SocketBuffer < 1:
		return cfg, errors.New("-subscribers, -events, -rate, -rounds and -socket-buffer must be positive")
	case cfg.RPS < 1, cfg.Duration <= 0, cfg.Slice <= 0:
		return cfg, errors.New("-rps, -duration and -slice must be positive")
	case cfg.ScaleConvs < 2, cfg.ScaleBig < 1, cfg.ScaleEvents < cfg.ScaleBig:
		return cfg, errors.New("-scale-convs must be at least 2, -scale-big positive and -scale-events at least -scale-big")
	case cfg.IdleConvs < 1, cfg.IdleClients < 1, cfg.IdleTimeout <= 0, cfg.IdleBudget <= 0, cfg.LiveCap < 1:
		return cfg, errors.New("-idle-convs, -idle-clients, -idle-timeout, -idle-budget and -live-cap must be positive")
	case cfg.AgentConvs < 1, cfg.AgentSteps < 2, cfg.AgentSteps > 90, cfg.AgentBudget <= 0:
		return cfg, errors.New("-agent-convs and -agent-budget must be positive, -agent-steps from 2 to 90")
	case cfg.ScaleIdle < time.Second, cfg.ScaleSandboxes < 0, cfg.ScaleSandboxes >= cfg.ScaleConvs:
		return cfg, errors.New("-scale-idle must be at least 1s and -scale-sandboxes between 0 and -scale-convs")
	}
	return cfg, nil
}

func run(ctx context.Context, cfg Config) error {
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if cfg.Trace != "" {
		f, err := os.Create(cfg.Trace)
		if err != nil {
			return fmt.Errorf("trace: %w", err)
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return fmt.Errorf("trace: %w", err)
		}
		defer trace.Stop()
	}
	out := os.Stdout
	fmt.Fprintf(out, "GoHands server benchmarks: %s, %d CPUs, %s/%s, load average %s\n",
		runtime.Version(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, loadAverage())
	fmt.Fprintf(out, "command: go run ./bench %s\n", strings.Join(os.Args[1:], " "))
	if slices.Contains(cfg.Run, "fanout") {
		res, err := fanout(ctx, cfg, out)
		if err != nil {
			return fmt.Errorf("fanout: %w", err)
		}
		res.print(out, cfg)
	}
	if slices.Contains(cfg.Run, "get") {
		res, err := getBench(ctx, cfg, out)
		if err != nil {
			return fmt.Errorf("get: %w", err)
		}
		res.print(out, cfg)
	}
	if slices.Contains(cfg.Run, "scale") {
		res, err := scaleBench(ctx, cfg, out)
		if err != nil {
			return fmt.Errorf("scale: %w", err)
		}
		res.print(out)
	}
	if slices.Contains(cfg.Run, "idle") {
		// It prints its figures itself, before it removes its containers.
		if _, err := idleBench(ctx, cfg, out); err != nil {
			return fmt.Errorf("idle: %w", err)
		}
	}
	if slices.Contains(cfg.Run, "agents") {
		if _, err := agentsBench(ctx, cfg, out); err != nil {
			return fmt.Errorf("agents: %w", err)
		}
	}
	fmt.Fprintf(out, "\nload average at the end: %s\n", loadAverage())
	return nil
}

// loadAverage returns the 1, 5 and 15 minute load averages: other work on
// the machine shows in every figure.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
