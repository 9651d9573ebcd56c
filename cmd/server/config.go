package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"

	"github.com/gohands/gohands/browser"
	"github.com/gohands/gohands/llm"
	"github.com/gohands/gohands/mcpclient"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/docker"
	"github.com/gohands/gohands/sandbox/kube"
	"github.com/gohands/gohands/session"
)

// Config is every setting of the server. LoadConfig fills it from flags,
// the environment and a JSON config file, in that order of precedence.
type Config struct {
	// Host and Port are where the server listens (--host, --port).
	Host string
	Port int
	// StatePath is the bbolt file (--state).
	StatePath string
	// ConfigPath is the JSON config file that was read, if any (--config).
	ConfigPath string
	// APIKeys are the accepted session API keys; none leaves the server open.
	APIKeys []string
	// SecretKey encrypts stored secrets.
	SecretKey string
	// CORSOrigins are the origins allowed to call the API from a browser.
	CORSOrigins []string
	// AllowedHosts are the Host names, besides localhost and the server's
	// addresses, a request may give when no API key is set.
	AllowedHosts []string
	// HTTP are the HTTP server's timeouts.
	HTTP HTTPConfig
	// Webhooks is the config file's "webhooks" value as it was written; the
	// webhook code parses it (and OH_WEBHOOKS_* itself).
	Webhooks json.RawMessage
	// LLM is the default model.
	LLM LLMConfig
	// Sandbox configures the sandboxes.
	Sandbox SandboxConfig
	// MaxLiveSandboxes caps the sandboxes live at once (running, paused
	// or starting; the warm pool's aside): session.Options.MaxLive.
	// Conversations themselves are not bounded: they live in the store.
	MaxLiveSandboxes int
	// StartQueueLength and StartQueueWait bound the starts waiting for
	// room under MaxLiveSandboxes (session.Options.StartQueue,
	// StartWait); past either a start is answered 429 with Retry-After.
	StartQueueLength int
	StartQueueWait   time.Duration
	// Secrets bounds each conversation's secrets.
	Secrets SecretsConfig
	// ConversationIdle is how long a conversation may be idle (no run, no
	// subscriber, no sandbox call) before it is dropped from memory, its
	// sandbox stopped first (session.Options.EvictAfter); 0 never drops
	// it. Sandbox.IdleTimeout counts on the same clock.
	ConversationIdle time.Duration
	// MaxBodyBytes bounds a request body (413 past it); MaxUploadBytes bounds
	// an uploaded file.
	MaxBodyBytes   int64
	MaxUploadBytes int64
	// BashOutputMaxBytes bounds what the server holds of one command's
	// output on the bash routes; the sandbox keeps the whole in a file.
	BashOutputMaxBytes int64
	// AllowedUploadTypes are lower-case file extensions with their dot
	// (".py"); empty allows every type.
	AllowedUploadTypes []string
	// LogLevel is debug, info, warn or error; LogFormat is text or json.
	LogLevel  string
	LogFormat string
	// HooksFile names a JSON file of action hooks every conversation runs.
	HooksFile string
	// SkillsDir names a folder of skills (sub-folders with a SKILL.md, or
	// .md files) offered to every conversation.
	SkillsDir string
	// AllowHostCommands lets clients set hooks and hook analyzers that run
	// commands on this host.
	AllowHostCommands bool
	// MCPServers are the MCP servers every conversation has
	// (session.Options.MCPServers), an mcpServers map.
	MCPServers mcpclient.Config
	// MCPRemoteDirect has the server dial remote MCP servers itself rather
	// than from the conversation's sandbox.
	MCPRemoteDirect bool
	// WorkspaceRoots are the host folders under which a workspace path is
	// a folder of the host, bind-mounted into the sandbox
	// (session.Options.HostRoots); empty turns host folders off.
	WorkspaceRoots []string
	// Checkpoints configures the checkpoints of sandbox files, for fork
	// and rewind.
	Checkpoints CheckpointsConfig
	// MaxForks bounds the count of one fork request.
	MaxForks int

	// Browser configures the conversations' browsers.
	Browser BrowserConfig
}

// BrowserConfig configures the browser each conversation gets beside its
// sandbox (docker.BrowserOptions, session.BrowserOptions).
type BrowserConfig struct {
	// Image is the browser image; "none" turns browsers off (the browser
	// tools then fetch pages as text).
	Image string
	// Memory and PidsLimit bound each browser container.
	Memory    int64
	PidsLimit int64
	// IdleTimeout stops a browser unused that long; 0 never.
	IdleTimeout time.Duration
	// LoadTimeout bounds the wait for a page to load; 0 is the default (30 s).
	LoadTimeout time.Duration
}

// CheckpointsConfig configures checkpoints.
type CheckpointsConfig struct {
	// On checkpoints the conversations whose create request does not say.
	On bool
	// MaxCount and MaxBytes bound what is kept per conversation; past
	// them the oldest checkpoints are merged into the next.
	MaxCount int
	MaxBytes int64
}

// HTTPConfig are the HTTP server's timeouts; 0 disables one.
type HTTPConfig struct {
	// ReadHeaderTimeout bounds the time to send a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the time to send a request's body; a file upload
	// may instead not stall for that long.
	ReadTimeout time.Duration
	// IdleTimeout closes a kept-alive connection left unused that long.
	IdleTimeout time.Duration
}

// LLMConfig is the default model and how to reach it.
type LLMConfig struct {
	Model   string
	APIKey  string
	BaseURL string
	// AllowedBaseURLs are endpoints besides BaseURL that a conversation may
	// name and still be lent APIKey (normal form, llm.NormalizeBaseURL).
	AllowedBaseURLs []string
}

// SecretsConfig bounds the secrets of one conversation (session.SecretLimits).
type SecretsConfig struct {
	// MaxPerConversation is the most secrets a conversation may hold.
	MaxPerConversation int
	// MaxValueBytes is the longest value a secret, or an LLM key, may have.
	MaxValueBytes int64
	// MaxTotalBytes bounds the bytes a conversation's masker looks for:
	// the values and the forms they take escaped in JSON.
	MaxTotalBytes int64
}

// Sandbox backends (SandboxConfig.Backend).
const (
	BackendDocker     = "docker"
	BackendKubernetes = "kubernetes"
)

// SandboxConfig is what every sandbox gets unless a conversation asks
// otherwise. The fields map onto docker.Options or kube.Options (by
// Backend; IdleTimeout onto session.Options).
type SandboxConfig struct {
	// Backend runs the sandboxes: BackendDocker (the default) or
	// BackendKubernetes.
	Backend string
	// Kube configures the Kubernetes backend.
	Kube KubeConfig
	// Image is the default image.
	Image string
	// Volumes are SANDBOX_VOLUMES with WORKSPACE_BASE (on /workspace) added.
	Volumes []sandbox.Mount
	// UserID and GroupID are who commands run as inside the sandbox.
	UserID, GroupID int
	// Memory in bytes; 0 is unlimited.
	Memory int64
	// CPUs is a share of CPUs (1.5); 0 is unlimited. NanoCPUs = CPUs * 1e9.
	CPUs float64
	// PidsLimit bounds the processes; -1 is unlimited.
	PidsLimit int64
	// Network is "bridge", "none" or a user-defined Docker network.
	Network string
	// PoolSize is the number of warm sandboxes kept ready; 0 disables the pool.
	PoolSize int
	// ForkPoolSize is the number of running sandboxes kept, from the
	// first fork on, for forks' copy-on-write workspaces (docker only);
	// 0 disables it.
	ForkPoolSize int
	// IdleTimeout stops the sandbox of a conversation idle that long (the
	// clock of ConversationIdle; session.Options.IdleTimeout); 0 leaves it
	// to ConversationIdle.
	IdleTimeout time.Duration
	// Transport and Inject: see the docker backend's constants. Empty picks
	// by engine. (The Kubernetes backend's transport is in Kube.)
	Transport docker.Transport
	Inject    docker.Inject
	// RunDir holds the per-sandbox socket folders; empty is the sandbox default.
	RunDir string
	// AgentBinary is the runtime-agent binary as configured; empty means
	// "runtime-agent" next to the server's executable, resolved by the caller.
	AgentBinary string
	// Env is added to every sandbox's environment.
	Env map[string]string
}

// KubeConfig is the Kubernetes backend's own part of SandboxConfig (see
// kube.Options).
type KubeConfig struct {
	// Kubeconfig is the kubeconfig file's path; empty: in-cluster when
	// running in a Pod, else $KUBECONFIG or ~/.kube/config.
	Kubeconfig string
	// Namespace holds the sandboxes. Default "default".
	Namespace string
	// PullPolicy of the sandbox and agent images: Always, IfNotPresent
	// (default) or Never.
	PullPolicy string
	// AgentImage is the image with the runtime-agent (make agent-image).
	AgentImage string
	// Transport is apiserver (default) or podip.
	Transport kube.Transport
	// StorageClass, when set, gives each workspace a PVC of that class.
	StorageClass string
	// RuntimeClass is passed through as runtimeClassName.
	RuntimeClass string
	// ImagesWithAgent are images that carry this build's runtime-agent
	// (make sandbox-agent-image): one container per Pod.
	ImagesWithAgent []string
}

// Redacted returns c with keys and secrets replaced by "**********", for
// logging. The slices and maps of c are not touched.
func (c Config) Redacted() Config {
	const mask = "**********"
	if c.APIKeys != nil {
		c.APIKeys = slices.Repeat([]string{mask}, len(c.APIKeys))
	}
	if c.SecretKey != "" {
		c.SecretKey = mask
	}
	if len(c.Webhooks) > 0 {
		// Webhook specs carry their own auth headers.
		c.Webhooks = json.RawMessage(`"` + mask + `"`)
	}
	if c.LLM.APIKey != "" {
		c.LLM.APIKey = mask
	}
	if u, err := url.Parse(c.LLM.BaseURL); err == nil && u.User != nil {
		c.LLM.BaseURL = u.Redacted()
	}
	if c.Sandbox.Env != nil {
		env := make(map[string]string, len(c.Sandbox.Env))
		for k := range c.Sandbox.Env {
			env[k] = mask // tokens are often passed this way
		}
		c.Sandbox.Env = env
	}
	return c
}

// Environment variables that are not one setting each.
const (
	configPathEnv    = "OPENHANDS_AGENT_SERVER_CONFIG_PATH"
	conversationsEnv = "OH_CONVERSATIONS_PATH"
	openAIKeyEnv     = "OPENAI_API_KEY"
	sandboxEnvPrefix = "SANDBOX_ENV_"
)

// LoadConfig reads the settings. Precedence: flag > environment > the JSON
// config file named by --config or OPENHANDS_AGENT_SERVER_CONFIG_PATH >
// default. getenv reads variables and readFile the config file;
// SANDBOX_ENV_<NAME> variables are found by their names in os.Environ and
// read through getenv. With -h it prints the usage to stderr and returns
// flag.ErrHelp.
func LoadConfig(args []string, getenv func(string) string, readFile func(string) ([]byte, error)) (Config, error) {
	var names []string
	for _, kv := range os.Environ() {
		if name, _, ok := strings.Cut(kv, "="); ok {
			names = append(names, name)
		}
	}
	return readConfig(os.Stderr, args, names, getenv, readFile)
}

// readConfig is LoadConfig with the usage output and the names of the
// environment variables given.
func readConfig(out io.Writer, args, envNames []string, getenv func(string) string, readFile func(string) ([]byte, error)) (Config, error) {
	def := defaultConfig(getenv)
	flags, configFlag, err := parseFlags(out, args, def)
	if err != nil {
		return Config{}, err
	}
	l := loader{cfg: def, from: make(map[string]string)}
	l.cfg.ConfigPath = cmp.Or(configFlag, getenv(configPathEnv))
	var errs []error
	if path := l.cfg.ConfigPath; path != "" {
		data, err := readFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
		errs = append(errs, l.applyFile(path, data)...)
	}
	errs = append(errs, l.applyEnv(envNames, getenv)...)
	errs = append(errs, l.applyFlags(flags)...)
	if err := l.finish(getenv); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return l.cfg, nil
}

func defaultConfig(getenv func(string) string) Config {
	o := docker.DefaultOptions()
	return Config{
		Host:             "0.0.0.0",
		Port:             3000,
		StatePath:        filepath.Join(cmp.Or(getenv(conversationsEnv), "state"), "gohands.db"),
		MaxLiveSandboxes: session.DefaultMaxLive,
		StartQueueLength: session.DefaultStartQueue,
		StartQueueWait:   session.DefaultStartWait,
		Secrets: SecretsConfig{
			MaxPerConversation: session.DefaultMaxSecrets,
			MaxValueBytes:      session.DefaultMaxSecretValueBytes,
			MaxTotalBytes:      session.DefaultMaxSecretsBytes,
		},
		ConversationIdle:   30 * time.Minute,
		MaxBodyBytes:       10 << 20,
		MaxUploadBytes:     100 << 20,
		BashOutputMaxBytes: session.DefaultBashOutputMaxBytes,
		LogLevel:           "info",
		LogFormat:          "text",
		WorkspaceRoots:     defaultWorkspaceRoots(getenv),
		Checkpoints:        CheckpointsConfig{On: true, MaxCount: 200, MaxBytes: 2 << 30},
		MaxForks:           session.DefaultMaxForks,
		HTTP:               HTTPConfig{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute},
		Browser: BrowserConfig{
			Image: o.Browser.Image, Memory: o.Browser.Memory, PidsLimit: o.Browser.PidsLimit,
			IdleTimeout: browser.DefaultIdleTimeout, LoadTimeout: browser.DefaultLoadTimeout,
		},
		Sandbox: SandboxConfig{
			Backend:      BackendDocker,
			Image:        o.Image,
			UserID:       o.UserID,
			GroupID:      o.GroupID,
			PidsLimit:    o.Limits.PidsLimit,
			Network:      o.Limits.Network,
			PoolSize:     1,
			ForkPoolSize: 4,
			IdleTimeout:  15 * time.Minute,
		},
	}
}

// parseFlags returns the flags given, by name, and --config.
func parseFlags(out io.Writer, args []string, def Config) (map[string]string, string, error) {
	fs := flag.NewFlagSet("gohands", flag.ContinueOnError)
	// The caller prints errors; usage is printed here only for -h.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	given := make(map[string]string)
	var configPath string
	fs.Func("config", "JSON config `file` (env "+configPathEnv+")", func(v string) error {
		configPath = v
		return nil
	})
	defaults := map[string]string{"host": def.Host, "port": strconv.Itoa(def.Port), "state": def.StatePath}
	for _, s := range settings {
		if s.flag == "" {
			continue
		}
		usage := fmt.Sprintf("%s (env %s, default %s)", s.usage, s.env[0], defaults[s.flag])
		fs.Func(s.flag, usage, func(v string) error {
			given[s.flag] = v
			return nil
		})
	}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(out, "Usage: gohands [flags]\n\nFlags:\n")
		fs.SetOutput(out)
		fs.PrintDefaults()
		fmt.Fprintf(out, "\nEvery other setting comes from the environment or the config file (README.md).\n"+
			"Precedence: flag > environment > config file > default.\n")
		return nil, "", err
	}
	if err != nil {
		return nil, "", err
	}
	if fs.NArg() > 0 {
		return nil, "", fmt.Errorf("unexpected argument %q (gohands takes only flags; -h lists them)", fs.Arg(0))
	}
	return given, configPath, nil
}

// loader applies one source after another onto cfg.
type loader struct {
	cfg Config
	// from records where each setting (by file key) was last set, for
	// errors that involve two settings.
	from map[string]string
	// workspace is WORKSPACE_BASE, mounted by finish.
	workspace string
}

// A setting is one Config field with its file key, environment variables
// and flag. Exactly one of set, setList, setMap and setRaw is non-nil,
// except that setRaw may come with set: the file's value as written, and
// the environment's text.
type setting struct {
	// key is the file key; "sandbox.memory" is "memory" in the "sandbox" object.
	key string
	// env are the environment variables, the first one set winning.
	env []string
	// flag is the command-line flag, if any, with its usage.
	flag, usage string
	// secret keeps the value out of error messages.
	secret bool
	// set parses a scalar: an environment value, a flag, or a file string or number.
	set func(l *loader, v string) error
	// setList takes a file array of strings, or a comma-separated string.
	// envList, if set, reads the environment instead of env.
	setList func(l *loader, items []string) error
	envList func(getenv func(string) string) (items []string, from string)
	// setMap merges a file object of strings; the environment gives one
	// entry per variable named envPrefix+NAME.
	setMap    func(l *loader, m map[string]string) error
	envPrefix string
	// setRaw takes the file value as written.
	setRaw func(l *loader, v json.RawMessage) error
}

// settings is every setting except ConfigPath. Order matters only for
// the order of errors.
var settings = []setting{
	{key: "host", env: []string{"HOST"}, flag: "host", usage: "`address` to listen on",
		set: func(l *loader, v string) error { l.cfg.Host = v; return nil }},
	{key: "port", env: []string{"PORT"}, flag: "port", usage: "`port` to listen on; 0 picks a free one",
		set: func(l *loader, v string) error { return parseInt(v, 0, 65535, &l.cfg.Port) }},
	{key: "state_path", env: []string{"GOHANDS_STATE"}, flag: "state", usage: "bbolt state `file`",
		set: func(l *loader, v string) error { return nonEmpty(v, &l.cfg.StatePath) }},
	{key: "session_api_keys", envList: sessionKeysFromEnv,
		setList: func(l *loader, v []string) error { return noEmptyItems(v, &l.cfg.APIKeys) }},
	{key: "secret_key", env: []string{"OH_SECRET_KEY"}, secret: true,
		set: func(l *loader, v string) error { l.cfg.SecretKey = v; return nil }},
	{key: "allow_cors_origins", envList: corsFromEnv,
		setList: func(l *loader, v []string) error { return noEmptyItems(v, &l.cfg.CORSOrigins) }},
	{key: "allowed_hosts", env: []string{"GOHANDS_ALLOWED_HOSTS"}, setList: parseAllowedHosts},
	{key: "http.read_header_timeout", env: []string{"GOHANDS_HTTP_READ_HEADER_TIMEOUT"},
		set: func(l *loader, v string) error { return parseDuration(v, &l.cfg.HTTP.ReadHeaderTimeout) }},
	{key: "http.read_timeout", env: []string{"GOHANDS_HTTP_READ_TIMEOUT"},
		set: func(l *loader, v string) error { return parseDuration(v, &l.cfg.HTTP.ReadTimeout) }},
	{key: "http.idle_timeout", env: []string{"GOHANDS_HTTP_IDLE_TIMEOUT"},
		set: func(l *loader, v string) error { return parseDuration(v, &l.cfg.HTTP.IdleTimeout) }},
	{key: "webhooks",
		setRaw: func(l *loader, v json.RawMessage) error { l.cfg.Webhooks = slices.Clone(v); return nil }},
	{key: "llm.model", env: []string{"LLM_MODEL"},
		set: func(l *loader, v string) error { l.cfg.LLM.Model = v; return nil }},
	{key: "llm.api_key", env: []string{"LLM_API_KEY"}, secret: true,
		set: func(l *loader, v string) error { l.cfg.LLM.APIKey = v; return nil }},
	{key: "llm.base_url", env: []string{"LLM_BASE_URL"}, secret: true, set: parseBaseURL},
	{key: "llm.allowed_base_urls", env: []string{"GOHANDS_LLM_BASE_URLS"}, setList: parseAllowedBaseURLs},
	{key: "sandbox.image", env: []string{"SANDBOX_BASE_IMAGE"},
		set: func(l *loader, v string) error { return nonEmpty(v, &l.cfg.Sandbox.Image) }},
	{key: "sandbox.volumes", env: []string{"SANDBOX_VOLUMES"}, setList: parseVolumes},
	{key: "workspace_roots", env: []string{"GOHANDS_WORKSPACE_ROOTS"}, setList: parseWorkspaceRoots},
	{key: "sandbox.workspace_base", env: []string{"WORKSPACE_BASE", "WORKSPACE_DIR"}, set: parseWorkspaceBase},
	{key: "sandbox.user_id", env: []string{"SANDBOX_USER_ID"},
		set: func(l *loader, v string) error { return parseInt(v, 0, math.MaxInt32, &l.cfg.Sandbox.UserID) }},
	{key: "sandbox.group_id", env: []string{"SANDBOX_GROUP_ID"},
		set: func(l *loader, v string) error { return parseInt(v, 0, math.MaxInt32, &l.cfg.Sandbox.GroupID) }},
	{key: "sandbox.memory", env: []string{"SANDBOX_MEMORY"}, set: parseMemory},
	{key: "sandbox.cpus", env: []string{"SANDBOX_CPUS"}, set: parseCPUs},
	{key: "sandbox.pids_limit", env: []string{"SANDBOX_PIDS_LIMIT"},
		set: func(l *loader, v string) error { return parseInt(v, -1, math.MaxInt64, &l.cfg.Sandbox.PidsLimit) }},
	{key: "sandbox.network", env: []string{"SANDBOX_NETWORK"}, set: parseNetwork},
	{key: "sandbox.pool_size", env: []string{"SANDBOX_POOL_SIZE"},
		set: func(l *loader, v string) error { return parseInt(v, 0, 1000, &l.cfg.Sandbox.PoolSize) }},
	{key: "sandbox.fork_pool_size", env: []string{"SANDBOX_FORK_POOL_SIZE"},
		set: func(l *loader, v string) error { return parseInt(v, 0, 64, &l.cfg.Sandbox.ForkPoolSize) }},
	{key: "sandbox.idle_timeout", env: []string{"SANDBOX_IDLE_TIMEOUT"},
		set: func(l *loader, v string) error { return parseDuration(v, &l.cfg.Sandbox.IdleTimeout) }},
	{key: "sandbox.transport", env: []string{"SANDBOX_TRANSPORT"}, set: parseTransport},
	{key: "sandbox.backend", env: []string{"SANDBOX_BACKEND"}, set: parseBackend},
	{key: "sandbox.kubeconfig", env: []string{"SANDBOX_KUBECONFIG"},
		set: func(l *loader, v string) error { l.cfg.Sandbox.Kube.Kubeconfig = v; return nil }},
	{key: "sandbox.namespace", env: []string{"SANDBOX_NAMESPACE"}, set: parseNamespace},
	{key: "sandbox.image_pull_policy", env: []string{"SANDBOX_IMAGE_PULL_POLICY"}, set: parsePullPolicy},
	{key: "sandbox.agent_image", env: []string{"SANDBOX_AGENT_IMAGE"},
		set: func(l *loader, v string) error { return nonEmpty(v, &l.cfg.Sandbox.Kube.AgentImage) }},
	{key: "sandbox.storage_class", env: []string{"SANDBOX_STORAGE_CLASS"},
		set: func(l *loader, v string) error { l.cfg.Sandbox.Kube.StorageClass = v; return nil }},
	{key: "sandbox.runtime_class", env: []string{"SANDBOX_RUNTIME_CLASS"},
		set: func(l *loader, v string) error { l.cfg.Sandbox.Kube.RuntimeClass = v; return nil }},
	{key: "sandbox.images_with_agent", env: []string{"SANDBOX_IMAGES_WITH_AGENT"},
		setList: func(l *loader, v []string) error { return noEmptyItems(v, &l.cfg.Sandbox.Kube.ImagesWithAgent) }},
	{key: "sandbox.inject", env: []string{"SANDBOX_INJECT"}, set: parseInject},
	{key: "sandbox.run_dir", env: []string{"SANDBOX_RUN_DIR"},
		set: func(l *loader, v string) error { l.cfg.Sandbox.RunDir = v; return nil }},
	{key: "sandbox.agent_binary", env: []string{"GOHANDS_AGENT_BINARY"},
		set: func(l *loader, v string) error { l.cfg.Sandbox.AgentBinary = v; return nil }},
	{key: "sandbox.env", envPrefix: sandboxEnvPrefix, setMap: mergeSandboxEnv},
	{key: "browser.image", env: []string{"BROWSER_IMAGE"},
		set: func(l *loader, v string) error { return nonEmpty(v, &l.cfg.Browser.Image) }},
	{key: "browser.memory", env: []string{"BROWSER_MEMORY"},
		set: func(l *loader, v string) error { return parseSize(v, 64<<20, &l.cfg.Browser.Memory) }},
	{key: "browser.pids_limit", env: []string{"BROWSER_PIDS_LIMIT"},
		set: func(l *loader, v string) error { return parseInt(v, 16, math.MaxInt32, &l.cfg.Browser.PidsLimit) }},
	{key: "browser.idle_timeout", env: []string{"BROWSER_IDLE_TIMEOUT"},
		set: func(l *loader, v string) error { return parseDuration(v, &l.cfg.Browser.IdleTimeout) }},
	{key: "browser.load_timeout", env: []string{"BROWSER_LOAD_TIMEOUT"},
		set: func(l *loader, v string) error { return parseDuration(v, &l.cfg.Browser.LoadTimeout) }},
	{key: "max_live_sandboxes", env: []string{"GOHANDS_MAX_LIVE_SANDBOXES", "GOHANDS_MAX_CONVERSATIONS"},
		set: func(l *loader, v string) error { return parseInt(v, 1, math.MaxInt32, &l.cfg.MaxLiveSandboxes) }},
	// The old name of max_live_sandboxes, which the new one beats.
	{key: "max_conversations",
		set: func(l *loader, v string) error { return parseInt(v, 1, math.MaxInt32, &l.cfg.MaxLiveSandboxes) }},
	{key: "start_queue_length", env: []string{"GOHANDS_START_QUEUE_LENGTH"},
		set: func(l *loader, v string) error { return parseInt(v, 1, 1_000_000, &l.cfg.StartQueueLength) }},
	{key: "start_queue_wait", env: []string{"GOHANDS_START_QUEUE_WAIT"}, set: parseStartQueueWait},
	{key: "secrets.max_per_conversation", env: []string{"GOHANDS_MAX_SECRETS"},
		set: func(l *loader, v string) error { return parseInt(v, 1, 1_000_000, &l.cfg.Secrets.MaxPerConversation) }},
	{key: "secrets.max_value_bytes", env: []string{"GOHANDS_MAX_SECRET_VALUE_BYTES"},
		set: func(l *loader, v string) error {
			return parseSizeUpTo(v, 1, maxSecretsBytes, &l.cfg.Secrets.MaxValueBytes)
		}},
	{key: "secrets.max_total_bytes", env: []string{"GOHANDS_MAX_SECRETS_TOTAL_BYTES"},
		set: func(l *loader, v string) error {
			return parseSizeUpTo(v, 1, maxSecretsBytes, &l.cfg.Secrets.MaxTotalBytes)
		}},
	{key: "conversation_idle", env: []string{"GOHANDS_CONVERSATION_IDLE"},
		set: func(l *loader, v string) error { return parseDuration(v, &l.cfg.ConversationIdle) }},
	{key: "max_body_bytes", env: []string{"GOHANDS_MAX_BODY_BYTES"},
		set: func(l *loader, v string) error { return parseSize(v, 1, &l.cfg.MaxBodyBytes) }},
	{key: "max_upload_bytes", env: []string{"GOHANDS_MAX_UPLOAD_BYTES"},
		set: func(l *loader, v string) error { return parseSize(v, 1, &l.cfg.MaxUploadBytes) }},
	{key: "bash_output_max_bytes", env: []string{"GOHANDS_BASH_OUTPUT_MAX_BYTES"}, set: parseBashOutputMax},
	{key: "allowed_upload_types", env: []string{"GOHANDS_ALLOWED_UPLOAD_TYPES"}, setList: parseUploadTypes},
	{key: "log_level", env: []string{"GOHANDS_LOG_LEVEL"},
		set: func(l *loader, v string) error { return oneOf(v, &l.cfg.LogLevel, "debug", "info", "warn", "error") }},
	{key: "log_format", env: []string{"GOHANDS_LOG_FORMAT"},
		set: func(l *loader, v string) error { return oneOf(v, &l.cfg.LogFormat, "text", "json") }},
	{key: "hooks_file", env: []string{"GOHANDS_HOOKS_FILE"},
		set: func(l *loader, v string) error { return nonEmpty(v, &l.cfg.HooksFile) }},
	{key: "skills_dir", env: []string{"GOHANDS_SKILLS_DIR"},
		set: func(l *loader, v string) error { return nonEmpty(v, &l.cfg.SkillsDir) }},
	{key: "checkpoints", env: []string{"GOHANDS_CHECKPOINTS"}, set: parseCheckpoints},
	{key: "checkpoints_max_count", env: []string{"GOHANDS_CHECKPOINTS_MAX_COUNT"},
		set: func(l *loader, v string) error { return parseInt(v, 1, 1_000_000, &l.cfg.Checkpoints.MaxCount) }},
	{key: "checkpoints_max_bytes", env: []string{"GOHANDS_CHECKPOINTS_MAX_BYTES"},
		set: func(l *loader, v string) error { return parseSize(v, 1<<20, &l.cfg.Checkpoints.MaxBytes) }},
	{key: "max_forks", env: []string{"GOHANDS_MAX_FORKS"},
		set: func(l *loader, v string) error { return parseInt(v, 1, 64, &l.cfg.MaxForks) }},
	{key: "allow_host_commands", env: []string{"GOHANDS_ALLOW_HOST_COMMANDS"},
		set: func(l *loader, v string) error { return parseBool(v, &l.cfg.AllowHostCommands) }},
	{key: "mcp_servers", env: []string{"GOHANDS_MCP_SERVERS"}, secret: true,
		set:    func(l *loader, v string) error { return parseMCPServers([]byte(v), &l.cfg.MCPServers) },
		setRaw: func(l *loader, v json.RawMessage) error { return parseMCPServers(v, &l.cfg.MCPServers) }},
	{key: "mcp_remote_direct", env: []string{"GOHANDS_MCP_REMOTE_DIRECT"},
		set: func(l *loader, v string) error { return parseBool(v, &l.cfg.MCPRemoteDirect) }},
}

// parseStartQueueWait reads how long a sandbox start may wait for room:
// a positive duration.
func parseStartQueueWait(l *loader, v string) error {
	var d time.Duration
	if err := parseDuration(v, &d); err != nil {
		return err
	}
	if d <= 0 {
		return fmt.Errorf("%q is not a positive duration", v)
	}
	l.cfg.StartQueueWait = d
	return nil
}

func parseBool(v string, dst *bool) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%q is not true or false", v)
	}
	*dst = b
	return nil
}

// parseMCPServers reads an mcpServers map: {"mcpServers": {...}}, or the
// bare map of servers.
func parseMCPServers(raw []byte, dst *mcpclient.Config) error {
	cfg, err := mcpclient.ParseConfig(raw)
	if err != nil {
		return err
	}
	*dst = cfg
	return nil
}

// parseCheckpoints reads on or off.
func parseCheckpoints(l *loader, v string) error {
	switch strings.ToLower(v) {
	case "on", "true":
		l.cfg.Checkpoints.On = true
	case "off", "false":
		l.cfg.Checkpoints.On = false
	default:
		return fmt.Errorf("%q is not on or off", v)
	}
	return nil
}

func lookupSetting(key string) (setting, bool) {
	i := slices.IndexFunc(settings, func(s setting) bool { return s.key == key })
	if i < 0 {
		return setting{}, false
	}
	return settings[i], true
}

// sections are the config file keys that are objects of settings.
var sections = []string{"llm", "sandbox", "secrets", "http", "browser"}

// applyFile applies a JSON object of settings; the sections are objects
// of their own.
func (l *loader) applyFile(path string, data []byte) []error {
	wrap := func(err error) error { return fmt.Errorf("config file %s: %w", path, err) }
	var top map[string]json.RawMessage
	if err := decodeJSON(data, &top); err != nil {
		return []error{wrap(fmt.Errorf("want a JSON object of settings: %w", err))}
	}
	if top == nil {
		return []error{wrap(errors.New("want a JSON object of settings, not null"))}
	}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(top)) {
		if !slices.Contains(sections, k) {
			errs = append(errs, l.applyFileKey(k, top[k])...)
			continue
		}
		var section map[string]json.RawMessage
		if err := decodeJSON(top[k], &section); err != nil {
			errs = append(errs, fmt.Errorf("%s: want an object", k))
			continue
		}
		for _, sk := range slices.Sorted(maps.Keys(section)) {
			errs = append(errs, l.applyFileKey(k+"."+sk, section[sk])...)
		}
	}
	for i, err := range errs {
		errs[i] = wrap(err)
	}
	return errs
}

func (l *loader) applyFileKey(key string, raw json.RawMessage) []error {
	s, ok := lookupSetting(key)
	if !ok {
		return []error{fmt.Errorf("unknown key %q", key)}
	}
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil // as if absent
	}
	var err error
	switch {
	case s.setRaw != nil:
		err = s.setRaw(l, raw)
	case s.set != nil:
		var v any
		if err = decodeJSON(raw, &v); err == nil {
			switch v := v.(type) {
			case string:
				err = l.set(s, key, v)
			case json.Number:
				err = l.set(s, key, v.String())
			default:
				err = fmt.Errorf("%s: want a string or a number", key)
			}
		}
	case s.setList != nil:
		var items []string
		var one string
		if decodeJSON(raw, &items) == nil {
			err = l.setList(s, key, items)
		} else if decodeJSON(raw, &one) == nil {
			err = l.setList(s, key, splitList(one))
		} else {
			err = fmt.Errorf("%s: want an array of strings or a comma-separated string", key)
		}
	case s.setMap != nil:
		var m map[string]string
		if err = decodeJSON(raw, &m); err != nil {
			err = fmt.Errorf("%s: want an object of strings", key)
		} else if err = s.setMap(l, m); err != nil {
			err = fmt.Errorf("%s: %w", key, err)
		}
	}
	if err != nil {
		return []error{err}
	}
	l.from[s.key] = fmt.Sprintf("config file key %s", key)
	return nil
}

// applyEnv applies the environment; names are every variable's name, for
// the ones found by prefix.
func (l *loader) applyEnv(names []string, getenv func(string) string) []error {
	var errs []error
	for _, s := range settings {
		var err error
		switch {
		case s.envList != nil:
			if items, from := s.envList(getenv); len(items) > 0 {
				err = l.setList(s, from, items)
			}
		case s.envPrefix != "":
			m := make(map[string]string)
			for _, name := range names {
				if k, ok := strings.CutPrefix(name, s.envPrefix); ok {
					if v := getenv(name); v != "" {
						m[k] = v
					}
				}
			}
			if len(m) > 0 {
				if err = s.setMap(l, m); err != nil {
					err = fmt.Errorf("%s*: %w", s.envPrefix, err)
				}
			}
		default:
			for _, name := range s.env {
				if v := getenv(name); v != "" {
					if s.setList != nil {
						err = l.setList(s, name, splitList(v))
					} else {
						err = l.set(s, name, v)
					}
					break
				}
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// applyFlags applies the flags given, by name.
func (l *loader) applyFlags(given map[string]string) []error {
	var errs []error
	for _, s := range settings {
		if v, ok := given[s.flag]; ok {
			if err := l.set(s, "flag --"+s.flag, v); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// set applies a scalar from the source named from.
func (l *loader) set(s setting, from, v string) error {
	if err := s.set(l, v); err != nil {
		if s.secret {
			return fmt.Errorf("%s: %w", from, err)
		}
		return fmt.Errorf("%s=%q: %w", from, v, err)
	}
	l.from[s.key] = from
	return nil
}

func (l *loader) setList(s setting, from string, items []string) error {
	if err := s.setList(l, items); err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	l.from[s.key] = from
	return nil
}

// finish applies what depends on more than one setting: the
// OPENAI_API_KEY fallback and WORKSPACE_BASE on top of SANDBOX_VOLUMES.
func (l *loader) finish(getenv func(string) string) error {
	if _, ok := l.from["llm.api_key"]; !ok {
		// A fallback only: a key exported for other tools must not beat
		// one the config file names.
		l.cfg.LLM.APIKey = getenv(openAIKeyEnv)
	}
	if from, ok := l.from["workspace_roots"]; ok {
		if err := checkWorkspaceRoots(l.cfg.WorkspaceRoots, getenv("DOCKER_HOST")); err != nil {
			return fmt.Errorf("%s: %w", from, err)
		}
	} else {
		// A default root that would be refused is left out: the
		// server starts, without host folders there.
		l.cfg.WorkspaceRoots = slices.DeleteFunc(l.cfg.WorkspaceRoots, func(r string) bool {
			return checkWorkspaceRoots([]string{r}, getenv("DOCKER_HOST")) != nil
		})
	}
	if err := l.checkBackend(); err != nil {
		return err
	}
	if l.workspace == "" {
		return nil
	}
	if ws, ok := sandbox.Workspace(l.cfg.Sandbox.Volumes); ok {
		return fmt.Errorf("%s %q and %s entry %q both mount %s: %w",
			l.from["sandbox.workspace_base"], l.workspace, l.from["sandbox.volumes"], ws.String(),
			sandbox.WorkspaceDir, sandbox.ErrBadVolume)
	}
	l.cfg.Sandbox.Volumes = append(slices.Clip(l.cfg.Sandbox.Volumes), sandbox.Mount{Source: l.workspace, Target: sandbox.WorkspaceDir})
	return nil
}

// checkBackend refuses settings the chosen backend cannot honour. A
// Kubernetes sandbox has no host folders: WORKSPACE_BASE, host paths in
// SANDBOX_VOLUMES and workspace roots given are refused, default roots
// dropped; the Docker transports and the Kubernetes ones do not mix.
func (l *loader) checkBackend() error {
	sc := &l.cfg.Sandbox
	if sc.Backend != BackendKubernetes {
		if sc.Kube.Transport != "" {
			return fmt.Errorf("%s: transport %s needs %s=kubernetes", l.from["sandbox.transport"], sc.Kube.Transport, "SANDBOX_BACKEND")
		}
		return nil
	}
	if sc.Transport != docker.TransportAuto {
		return fmt.Errorf("%s: transport %s is the Docker backend's; the Kubernetes backend's are apiserver and podip", l.from["sandbox.transport"], sc.Transport)
	}
	if l.workspace != "" {
		return fmt.Errorf("%s: a Kubernetes sandbox cannot mount a folder of the server's host", l.from["sandbox.workspace_base"])
	}
	for _, m := range sc.Volumes {
		if !m.Volume {
			return fmt.Errorf("%s: %q: a Kubernetes sandbox cannot mount a folder of the server's host (name a PersistentVolumeClaim as volume:NAME): %w", l.from["sandbox.volumes"], m.String(), sandbox.ErrBadVolume)
		}
	}
	if from, ok := l.from["workspace_roots"]; ok && len(l.cfg.WorkspaceRoots) > 0 {
		return fmt.Errorf("%s: host folders cannot be mounted into Kubernetes sandboxes", from)
	}
	l.cfg.WorkspaceRoots = nil
	if sc.Network != sandbox.NetworkBridge {
		return fmt.Errorf("%s: a Kubernetes sandbox is on the Pod network (bridge); restrict it with a NetworkPolicy", cmp.Or(l.from["sandbox.network"], "sandbox.network"))
	}
	return nil
}

// decodeJSON decodes one JSON value, numbers as json.Number.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(v string) []string {
	var items []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// indexedEnv reads NAME_0, NAME_1, ... up to the first one unset.
func indexedEnv(getenv func(string) string, name string) []string {
	var items []string
	for i := 0; i < 1000; i++ { // bounded, whatever getenv does
		v := getenv(name + "_" + strconv.Itoa(i))
		if v == "" {
			break
		}
		items = append(items, v)
	}
	return items
}

func sessionKeysFromEnv(getenv func(string) string) ([]string, string) {
	keys := indexedEnv(getenv, "OH_SESSION_API_KEYS")
	if k := getenv("SESSION_API_KEY"); k != "" && !slices.Contains(keys, k) {
		keys = append(keys, k)
	}
	return keys, "OH_SESSION_API_KEYS_n/SESSION_API_KEY"
}

func corsFromEnv(getenv func(string) string) ([]string, string) {
	return append(splitList(getenv("OH_ALLOW_CORS_ORIGINS")), indexedEnv(getenv, "OH_ALLOW_CORS_ORIGINS")...),
		"OH_ALLOW_CORS_ORIGINS"
}

func nonEmpty(v string, dst *string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("want a value")
	}
	*dst = v
	return nil
}

func noEmptyItems(items []string, dst *[]string) error {
	out := make([]string, 0, len(items))
	for i, item := range items {
		if item = strings.TrimSpace(item); item == "" {
			return fmt.Errorf("item %d is empty", i)
		}
		out = append(out, item)
	}
	*dst = out
	return nil
}

func parseInt[T int | int64](v string, lo, hi T, dst *T) error {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < int64(lo) || n > int64(hi) {
		return fmt.Errorf("want a whole number from %d to %d", lo, hi)
	}
	*dst = T(n)
	return nil
}

func parseDuration(v string, dst *time.Duration) error {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d < 0 {
		return errors.New(`want a duration like "90s", "15m" or "1h30m" (0 disables)`)
	}
	*dst = d
	return nil
}

// parseSize reads "2g", "512m", "10MiB" (all powers of 1024) or bytes.
func parseSize(v string, lo int64, dst *int64) error {
	n, err := units.RAMInBytes(strings.TrimSpace(v))
	if err != nil || n < lo {
		return fmt.Errorf("want a size of at least %d bytes like 512m, 2g or a number of bytes", lo)
	}
	*dst = n
	return nil
}

// maxBashOutput is the most BashOutputMaxBytes may be: a bound past it
// would not bound anything a server can hold for many commands.
const maxBashOutput = 1 << 30

func parseBashOutputMax(l *loader, v string) error {
	var n int64
	if err := parseSize(v, session.MinBashOutputMaxBytes, &n); err != nil {
		return err
	}
	if n > maxBashOutput {
		return fmt.Errorf("more than the most allowed, 1g (%d bytes)", int64(maxBashOutput))
	}
	l.cfg.BashOutputMaxBytes = n
	return nil
}

// maxSecretsBytes bounds the secrets settings: a masker takes about 25
// bytes of memory for each byte it looks for.
const maxSecretsBytes = 64 << 20

// parseSizeUpTo is parseSize with an upper bound.
func parseSizeUpTo(v string, lo, hi int64, dst *int64) error {
	var n int64
	if err := parseSize(v, lo, &n); err != nil || n > hi {
		return fmt.Errorf("want a size from %d bytes to %s like 64k, 1m or a number of bytes", lo, units.BytesSize(float64(hi)))
	}
	*dst = n
	return nil
}

func parseMemory(l *loader, v string) error {
	var n int64
	if err := parseSize(v, 0, &n); err != nil {
		return err
	}
	if n > 0 && n < 6<<20 {
		return errors.New("below the engine's minimum of 6 MiB (0 is unlimited)")
	}
	l.cfg.Sandbox.Memory = n
	return nil
}

func parseCPUs(l *loader, v string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1<<20 {
		return errors.New("want a number of CPUs like 1.5 (0 is unlimited)")
	}
	l.cfg.Sandbox.CPUs = f
	return nil
}

// networkName is Docker's rule for network names.
var networkName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func parseNetwork(l *loader, v string) error {
	switch {
	case v == "host" || strings.HasPrefix(v, "container:"):
		return errors.New("would share the host's or another container's network; want bridge, none or a user-defined network")
	case !networkName.MatchString(v):
		return errors.New("want bridge, none or the name of a user-defined network")
	}
	l.cfg.Sandbox.Network = v
	return nil
}

func parseTransport(l *loader, v string) error {
	switch t := docker.Transport(strings.ToLower(v)); t {
	case docker.TransportAuto, docker.TransportTCP, docker.TransportUnix:
		l.cfg.Sandbox.Transport = t
	case "auto":
		l.cfg.Sandbox.Transport = docker.TransportAuto
	case docker.Transport(kube.TransportAPIServer), docker.Transport(kube.TransportPodIP):
		l.cfg.Sandbox.Kube.Transport = kube.Transport(t)
	default:
		return errors.New("want auto, tcp or unix (Docker), apiserver or podip (Kubernetes)")
	}
	return nil
}

func parseBackend(l *loader, v string) error {
	switch b := strings.ToLower(v); b {
	case BackendDocker, BackendKubernetes:
		l.cfg.Sandbox.Backend = b
	case "k8s", "kube":
		l.cfg.Sandbox.Backend = BackendKubernetes
	default:
		return errors.New("want docker or kubernetes")
	}
	return nil
}

// namespaceName is what a Kubernetes namespace may be called.
var namespaceName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

func parseNamespace(l *loader, v string) error {
	if !namespaceName.MatchString(v) {
		return errors.New("want a Kubernetes namespace name (lower-case letters, digits and -, at most 63)")
	}
	l.cfg.Sandbox.Kube.Namespace = v
	return nil
}

func parsePullPolicy(l *loader, v string) error {
	for _, p := range []string{"Always", "IfNotPresent", "Never"} {
		if strings.EqualFold(v, p) {
			l.cfg.Sandbox.Kube.PullPolicy = p
			return nil
		}
	}
	return errors.New("want Always, IfNotPresent or Never")
}

func parseInject(l *loader, v string) error {
	switch i := docker.Inject(strings.ToLower(v)); i {
	case docker.InjectAuto, docker.InjectBind, docker.InjectCopy:
		l.cfg.Sandbox.Inject = i
	case "auto":
		l.cfg.Sandbox.Inject = docker.InjectAuto
	default:
		return errors.New("want auto, bind or copy")
	}
	return nil
}

func oneOf(v string, dst *string, allowed ...string) error {
	v = strings.ToLower(strings.TrimSpace(v))
	if !slices.Contains(allowed, v) {
		return fmt.Errorf("want one of %s", strings.Join(allowed, ", "))
	}
	*dst = v
	return nil
}

func parseBaseURL(l *loader, v string) error {
	if v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("want an http:// or https:// URL")
		}
	}
	l.cfg.LLM.BaseURL = v
	return nil
}

// parseAllowedBaseURLs takes the endpoints besides llm.base_url that the
// server's LLM key may be sent to.
func parseAllowedBaseURLs(l *loader, items []string) error {
	var urls []string
	for _, item := range items {
		if strings.TrimSpace(item) == "" {
			continue
		}
		u, err := llm.NormalizeBaseURL(item)
		if err != nil {
			return err
		}
		urls = append(urls, u)
	}
	l.cfg.LLM.AllowedBaseURLs = urls
	return nil
}

func parseVolumes(l *loader, items []string) error {
	mounts, err := sandbox.ParseVolumes(strings.Join(items, ","))
	if err != nil {
		return err
	}
	l.cfg.Sandbox.Volumes = mounts
	return nil
}

// parseWorkspaceBase keeps the folder for finish, which mounts it on
// /workspace once SANDBOX_VOLUMES is known.
func parseWorkspaceBase(l *loader, v string) error {
	if !filepath.IsAbs(v) {
		return errors.New("want an absolute path")
	}
	l.workspace = filepath.Clean(v)
	return nil
}

// hostLabel is what a part of a host name may be.
var hostLabel = regexp.MustCompile(`^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$`)

// parseAllowedHosts takes host names ("gohands.example"), their
// subdomains ("*.example.com"), addresses ("192.0.2.7", "[::1]") or "*".
func parseAllowedHosts(l *loader, items []string) error {
	hosts := make([]string, 0, len(items))
	for _, item := range items {
		h := strings.ToLower(strings.TrimSpace(item))
		switch {
		case h == "*":
		case strings.Contains(h, "://") || strings.Contains(h, "/"):
			return fmt.Errorf("%q is a URL: give the host name alone, like gohands.example", item)
		case strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]"):
			if _, err := netip.ParseAddr(h[1 : len(h)-1]); err != nil {
				return fmt.Errorf("%q is not an IPv6 address", item)
			}
			h = h[1 : len(h)-1]
		default:
			if _, err := netip.ParseAddr(h); err == nil {
				break
			}
			if strings.Contains(h, ":") {
				return fmt.Errorf("%q has a port: give the host name alone (ports are not checked)", item)
			}
			name := strings.TrimSuffix(strings.TrimPrefix(h, "*."), ".")
			for label := range strings.SplitSeq(name, ".") {
				if !hostLabel.MatchString(label) {
					return fmt.Errorf("%q is not a host name like gohands.example or *.example.com", item)
				}
			}
		}
		hosts = append(hosts, h)
	}
	l.cfg.AllowedHosts = hosts
	return nil
}

func parseUploadTypes(l *loader, items []string) error {
	types := make([]string, 0, len(items))
	for _, item := range items {
		ext := strings.ToLower(strings.TrimSpace(item))
		if !strings.HasPrefix(ext, ".") {
			ext = "." + ext
		}
		if ext == "." || strings.ContainsAny(ext, "/\\ \t") {
			return fmt.Errorf("%q is not a file extension like .py", item)
		}
		types = append(types, ext)
	}
	l.cfg.AllowedUploadTypes = types
	return nil
}

// envName is what a sandbox variable may be called.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func mergeSandboxEnv(l *loader, m map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !envName.MatchString(k) {
			return fmt.Errorf("%q is not a variable name", k)
		}
	}
	if l.cfg.Sandbox.Env == nil {
		l.cfg.Sandbox.Env = make(map[string]string, len(m))
	}
	maps.Copy(l.cfg.Sandbox.Env, m)
	return nil
}
