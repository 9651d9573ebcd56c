package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gohands/gohands/mcpclient"
	"github.com/gohands/gohands/sandbox"
	"github.com/gohands/gohands/sandbox/docker"
	"github.com/gohands/gohands/sandbox/kube"
)

// loadFake runs readConfig against a fake environment and fake files.
func loadFake(args []string, env, files map[string]string) (Config, error) {
	return readConfig(io.Discard, args, slices.Collect(maps.Keys(env)),
		func(k string) string { return env[k] }, fakeFiles(files))
}

func fakeFiles(files map[string]string) func(string) ([]byte, error) {
	return func(path string) ([]byte, error) {
		if data, ok := files[path]; ok {
			return []byte(data), nil
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
}

// withFile adds OPENHANDS_AGENT_SERVER_CONFIG_PATH naming a file holding data.
func withFile(env map[string]string, data string) (map[string]string, map[string]string) {
	env = maps.Clone(env)
	if env == nil {
		env = make(map[string]string)
	}
	env[configPathEnv] = "/etc/gohands.json"
	return env, map[string]string{"/etc/gohands.json": data}
}

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	got, err := loadFake(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Host:               "0.0.0.0",
		Port:               3000,
		StatePath:          "state/gohands.db",
		MaxLiveSandboxes:   100,
		StartQueueLength:   100,
		StartQueueWait:     2 * time.Minute,
		Secrets:            SecretsConfig{MaxPerConversation: 1000, MaxValueBytes: 64 << 10, MaxTotalBytes: 1 << 20},
		ConversationIdle:   30 * time.Minute,
		MaxBodyBytes:       10 << 20,
		MaxUploadBytes:     100 << 20,
		BashOutputMaxBytes: 1 << 20,
		LogLevel:           "info",
		LogFormat:          "text",
		HTTP:               HTTPConfig{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute},
		Sandbox: SandboxConfig{
			Backend:      BackendDocker,
			Image:        sandbox.DefaultImage,
			UserID:       os.Getuid(),
			GroupID:      os.Getgid(),
			PidsLimit:    sandbox.DefaultPidsLimit,
			Network:      sandbox.NetworkBridge,
			PoolSize:     1,
			ForkPoolSize: 4,
			IdleTimeout:  15 * time.Minute,
		},
		WorkspaceRoots: []string{"/tmp"}, // no HOME in the fake environment
		Checkpoints:    CheckpointsConfig{On: true, MaxCount: 200, MaxBytes: 2 << 30},
		MaxForks:       8,
		Browser: BrowserConfig{Image: sandbox.DefaultBrowserImage, Memory: 1 << 30, PidsLimit: 512,
			IdleTimeout: 10 * time.Minute, LoadTimeout: 30 * time.Second},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("defaults (-got +want):\n%s", diff)
	}

	got, err = loadFake(nil, map[string]string{conversationsEnv: "/data/conversations"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.StatePath != "/data/conversations/gohands.db" {
		t.Errorf("StatePath with %s set = %q, want /data/conversations/gohands.db", conversationsEnv, got.StatePath)
	}
}

func TestLoadConfigPrecedence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		file  string // config file contents; "" for none
		field func(Config) any
		want  any
	}{
		{"host default", nil, nil, "", func(c Config) any { return c.Host }, "0.0.0.0"},
		{"host file", nil, nil, `{"host": "10.0.0.1"}`,
			func(c Config) any { return c.Host }, "10.0.0.1"},
		{"host env beats file", nil, map[string]string{"HOST": "10.0.0.2"}, `{"host": "10.0.0.1"}`,
			func(c Config) any { return c.Host }, "10.0.0.2"},
		{"host flag beats env", []string{"--host", "10.0.0.3"}, map[string]string{"HOST": "10.0.0.2"}, `{"host": "10.0.0.1"}`,
			func(c Config) any { return c.Host }, "10.0.0.3"},

		{"checkpoints file", nil, nil, `{"checkpoints": "off"}`, func(c Config) any { return c.Checkpoints.On }, false},
		{"checkpoints env beats file", nil, map[string]string{"GOHANDS_CHECKPOINTS": "on"}, `{"checkpoints": "off"}`,
			func(c Config) any { return c.Checkpoints.On }, true},
		{"checkpoint bounds", nil, map[string]string{"GOHANDS_CHECKPOINTS_MAX_COUNT": "50", "GOHANDS_CHECKPOINTS_MAX_BYTES": "1g"}, "",
			func(c Config) any { return c.Checkpoints }, CheckpointsConfig{On: true, MaxCount: 50, MaxBytes: 1 << 30}},
		{"max forks file", nil, nil, `{"max_forks": 4}`, func(c Config) any { return c.MaxForks }, 4},
		{"port file", nil, nil, `{"port": 8080}`, func(c Config) any { return c.Port }, 8080},
		{"port env beats file", nil, map[string]string{"PORT": "8081"}, `{"port": 8080}`,
			func(c Config) any { return c.Port }, 8081},
		{"port flag beats env", []string{"-port=8082"}, map[string]string{"PORT": "8081"}, `{"port": 8080}`,
			func(c Config) any { return c.Port }, 8082},

		{"state file beats OH_CONVERSATIONS_PATH", nil, map[string]string{conversationsEnv: "/conv"}, `{"state_path": "/srv/a.db"}`,
			func(c Config) any { return c.StatePath }, "/srv/a.db"},
		{"state env beats file", nil, map[string]string{"GOHANDS_STATE": "/srv/b.db"}, `{"state_path": "/srv/a.db"}`,
			func(c Config) any { return c.StatePath }, "/srv/b.db"},
		{"state flag beats env", []string{"--state", "/srv/c.db"}, map[string]string{"GOHANDS_STATE": "/srv/b.db"}, "",
			func(c Config) any { return c.StatePath }, "/srv/c.db"},

		{"memory file", nil, nil, `{"sandbox": {"memory": "1g"}}`,
			func(c Config) any { return c.Sandbox.Memory }, int64(1 << 30)},
		{"memory env beats file", nil, map[string]string{"SANDBOX_MEMORY": "512m"}, `{"sandbox": {"memory": "1g"}}`,
			func(c Config) any { return c.Sandbox.Memory }, int64(512 << 20)},

		{"model file", nil, nil, `{"llm": {"model": "gpt-5"}}`,
			func(c Config) any { return c.LLM.Model }, "gpt-5"},
		{"model env beats file", nil, map[string]string{"LLM_MODEL": "claude-sonnet-4"}, `{"llm": {"model": "gpt-5"}}`,
			func(c Config) any { return c.LLM.Model }, "claude-sonnet-4"},

		{"log level file", nil, nil, `{"log_level": "warn"}`, func(c Config) any { return c.LogLevel }, "warn"},
		{"log level env beats file", nil, map[string]string{"GOHANDS_LOG_LEVEL": "DEBUG"}, `{"log_level": "warn"}`,
			func(c Config) any { return c.LogLevel }, "debug"},

		{"idle file", nil, nil, `{"sandbox": {"idle_timeout": "1h"}}`,
			func(c Config) any { return c.Sandbox.IdleTimeout }, time.Hour},
		{"idle env beats file", nil, map[string]string{"SANDBOX_IDLE_TIMEOUT": "0"}, `{"sandbox": {"idle_timeout": "1h"}}`,
			func(c Config) any { return c.Sandbox.IdleTimeout }, time.Duration(0)},

		{"api keys env replace file", nil, map[string]string{"OH_SESSION_API_KEYS_0": "env"}, `{"session_api_keys": ["f1", "f2"]}`,
			func(c Config) any { return c.APIKeys }, []string{"env"}},
		{"sandbox env merges by name", nil, map[string]string{"SANDBOX_ENV_B": "env"}, `{"sandbox": {"env": {"A": "file", "B": "file"}}}`,
			func(c Config) any { return c.Sandbox.Env }, map[string]string{"A": "file", "B": "env"}},
		{"file null is absent", nil, nil, `{"port": null}`, func(c Config) any { return c.Port }, 3000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, files := tt.env, map[string]string(nil)
			if tt.file != "" {
				env, files = withFile(tt.env, tt.file)
			}
			cfg, err := loadFake(tt.args, env, files)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.field(cfg), tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
		})
	}
}

func TestLoadConfigFileFlagBeatsEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{configPathEnv: "/env.json"}
	files := map[string]string{"/env.json": `{"port": 1}`, "/flag.json": `{"port": 2}`}
	cfg, err := readConfig(io.Discard, []string{"--config", "/flag.json"}, nil,
		func(k string) string { return env[k] }, fakeFiles(files))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 2 || cfg.ConfigPath != "/flag.json" {
		t.Errorf("port %d from %q, want 2 from /flag.json", cfg.Port, cfg.ConfigPath)
	}
}

// everyVariable is every environment variable the server reads itself,
// with a value that differs from the default.
var everyVariable = map[string]string{
	"HOST":                               "127.0.0.1",
	"PORT":                               "4000",
	"GOHANDS_STATE":                      "/var/lib/gohands/state.db",
	"OH_CONVERSATIONS_PATH":              "/ignored/because/GOHANDS_STATE/is/set",
	"OPENHANDS_AGENT_SERVER_CONFIG_PATH": "/etc/gohands.json",
	"OH_SESSION_API_KEYS_0":              "k0",
	"OH_SESSION_API_KEYS_1":              "k1",
	"SESSION_API_KEY":                    "k2",
	"OH_SECRET_KEY":                      "s3cret",
	"OH_ALLOW_CORS_ORIGINS":              "https://a.example, https://b.example",
	"OH_ALLOW_CORS_ORIGINS_0":            "https://c.example",
	"LLM_MODEL":                          "anthropic/claude-sonnet-4",
	"LLM_API_KEY":                        "llm-key",
	"OPENAI_API_KEY":                     "ignored-because-LLM_API_KEY-is-set",
	"LLM_BASE_URL":                       "https://llm.example/v1",
	"SANDBOX_BASE_IMAGE":                 "python:3.12-bookworm",
	"SANDBOX_VOLUMES":                    "cache:/root/.cache,/data:/data:ro",
	"WORKSPACE_BASE":                     "/home/u/proj",
	"WORKSPACE_DIR":                      "/ignored/because/WORKSPACE_BASE/is/set",
	"SANDBOX_USER_ID":                    "1001",
	"SANDBOX_GROUP_ID":                   "1002",
	"SANDBOX_MEMORY":                     "2g",
	"SANDBOX_CPUS":                       "1.5",
	"SANDBOX_PIDS_LIMIT":                 "512",
	"SANDBOX_NETWORK":                    "none",
	"SANDBOX_POOL_SIZE":                  "3",
	"SANDBOX_FORK_POOL_SIZE":             "2",
	"SANDBOX_IDLE_TIMEOUT":               "5m",
	"SANDBOX_TRANSPORT":                  "unix",
	"SANDBOX_INJECT":                     "copy",
	"SANDBOX_BACKEND":                    "Docker",
	"SANDBOX_KUBECONFIG":                 "/etc/kube/config",
	"SANDBOX_NAMESPACE":                  "agents",
	"SANDBOX_IMAGE_PULL_POLICY":          "never",
	"SANDBOX_AGENT_IMAGE":                "registry.example/gohands/runtime-agent:1",
	"SANDBOX_STORAGE_CLASS":              "fast-ssd",
	"SANDBOX_RUNTIME_CLASS":              "gvisor",
	"SANDBOX_IMAGES_WITH_AGENT":          "team/sandbox-agent:1, team/py-agent:2",
	"SANDBOX_RUN_DIR":                    "/run/gohands-test",
	"GOHANDS_AGENT_BINARY":               "/opt/bin/runtime-agent",
	"SANDBOX_ENV_FOO":                    "bar",
	"BROWSER_IMAGE":                      "gohands/browser:test",
	"BROWSER_MEMORY":                     "768m",
	"BROWSER_PIDS_LIMIT":                 "256",
	"BROWSER_IDLE_TIMEOUT":               "2m",
	"BROWSER_LOAD_TIMEOUT":               "45s",
	"GOHANDS_MAX_LIVE_SANDBOXES":         "7",
	"GOHANDS_MAX_CONVERSATIONS":          "8", // the old name: the new one wins
	"GOHANDS_START_QUEUE_LENGTH":         "9",
	"GOHANDS_START_QUEUE_WAIT":           "45s",
	"GOHANDS_MAX_SECRETS":                "50",
	"GOHANDS_MAX_SECRET_VALUE_BYTES":     "8k",
	"GOHANDS_MAX_SECRETS_TOTAL_BYTES":    "2m",
	"GOHANDS_CONVERSATION_IDLE":          "1h",
	"GOHANDS_MAX_BODY_BYTES":             "1m",
	"GOHANDS_MAX_UPLOAD_BYTES":           "5242880",
	"GOHANDS_BASH_OUTPUT_MAX_BYTES":      "64k",
	"GOHANDS_ALLOWED_UPLOAD_TYPES":       "py, .TXT,.tar.gz",
	"GOHANDS_LOG_LEVEL":                  "debug",
	"GOHANDS_LOG_FORMAT":                 "json",
	"GOHANDS_HOOKS_FILE":                 "/etc/gohands/hooks.json",
	"GOHANDS_SKILLS_DIR":                 "/etc/gohands/skills",
	"GOHANDS_ALLOW_HOST_COMMANDS":        "true",
	"GOHANDS_MCP_SERVERS":                `{"mcpServers":{"fs":{"command":"mcp-fs","args":["/workspace"]},"docs":{"url":"https://docs.example/mcp","headers":{"Authorization":"Bearer ${DOCS_TOKEN}"}}}}`,
	"GOHANDS_MCP_REMOTE_DIRECT":          "true",
	"GOHANDS_LLM_BASE_URLS":              "https://Gateway.example:443/v1/, http://127.0.0.1:8000/v1",
	"GOHANDS_ALLOWED_HOSTS":              "gohands.example, *.corp.example, [::2], 192.0.2.7",
	"GOHANDS_HTTP_READ_HEADER_TIMEOUT":   "5s",
	"GOHANDS_HTTP_READ_TIMEOUT":          "2m",
	"GOHANDS_HTTP_IDLE_TIMEOUT":          "0",
	"GOHANDS_WORKSPACE_ROOTS":            "/srv/code:/data/projects",
	"GOHANDS_CHECKPOINTS":                "off",
	"GOHANDS_CHECKPOINTS_MAX_COUNT":      "20",
	"GOHANDS_CHECKPOINTS_MAX_BYTES":      "100m",
	"GOHANDS_MAX_FORKS":                  "3",
	"HOME":                               "/home/u",
	"TMPDIR":                             "/scratch",
	"DOCKER_HOST":                        "unix:///var/run/docker.sock",
}

func TestLoadConfigEveryVariable(t *testing.T) {
	t.Parallel()
	got, err := loadFake(nil, everyVariable, map[string]string{"/etc/gohands.json": `{}`})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Host:         "127.0.0.1",
		Port:         4000,
		StatePath:    "/var/lib/gohands/state.db",
		ConfigPath:   "/etc/gohands.json",
		APIKeys:      []string{"k0", "k1", "k2"},
		SecretKey:    "s3cret",
		CORSOrigins:  []string{"https://a.example", "https://b.example", "https://c.example"},
		AllowedHosts: []string{"gohands.example", "*.corp.example", "::2", "192.0.2.7"},
		HTTP:         HTTPConfig{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 2 * time.Minute},
		LLM: LLMConfig{Model: "anthropic/claude-sonnet-4", APIKey: "llm-key", BaseURL: "https://llm.example/v1",
			AllowedBaseURLs: []string{"https://gateway.example/v1", "http://127.0.0.1:8000/v1"}},
		Sandbox: SandboxConfig{
			Backend: BackendDocker,
			Kube: KubeConfig{Kubeconfig: "/etc/kube/config", Namespace: "agents", PullPolicy: "Never",
				AgentImage: "registry.example/gohands/runtime-agent:1", StorageClass: "fast-ssd", RuntimeClass: "gvisor",
				ImagesWithAgent: []string{"team/sandbox-agent:1", "team/py-agent:2"}},
			Image: "python:3.12-bookworm",
			Volumes: []sandbox.Mount{
				{Source: "cache", Target: "/root/.cache", Volume: true},
				{Source: "/data", Target: "/data", ReadOnly: true},
				{Source: "/home/u/proj", Target: "/workspace"},
			},
			UserID:       1001,
			GroupID:      1002,
			Memory:       2 << 30,
			CPUs:         1.5,
			PidsLimit:    512,
			Network:      "none",
			PoolSize:     3,
			ForkPoolSize: 2,
			IdleTimeout:  5 * time.Minute,
			Transport:    docker.TransportUnix,
			Inject:       docker.InjectCopy,
			RunDir:       "/run/gohands-test",
			AgentBinary:  "/opt/bin/runtime-agent",
			Env:          map[string]string{"FOO": "bar"},
		},
		MaxLiveSandboxes:   7,
		StartQueueLength:   9,
		StartQueueWait:     45 * time.Second,
		Secrets:            SecretsConfig{MaxPerConversation: 50, MaxValueBytes: 8 << 10, MaxTotalBytes: 2 << 20},
		ConversationIdle:   time.Hour,
		MaxBodyBytes:       1 << 20,
		MaxUploadBytes:     5 << 20,
		BashOutputMaxBytes: 64 << 10,
		AllowedUploadTypes: []string{".py", ".txt", ".tar.gz"},
		LogLevel:           "debug",
		LogFormat:          "json",
		HooksFile:          "/etc/gohands/hooks.json",
		SkillsDir:          "/etc/gohands/skills",
		AllowHostCommands:  true,
		WorkspaceRoots:     []string{"/srv/code", "/data/projects"},
		Checkpoints:        CheckpointsConfig{MaxCount: 20, MaxBytes: 100 << 20},
		MaxForks:           3,
		MCPServers: mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{
			"fs":   {Command: "mcp-fs", Args: []string{"/workspace"}},
			"docs": {URL: "https://docs.example/mcp", Headers: map[string]string{"Authorization": "Bearer ${DOCS_TOKEN}"}},
		}},
		MCPRemoteDirect: true,
		Browser: BrowserConfig{Image: "gohands/browser:test", Memory: 768 << 20, PidsLimit: 256,
			IdleTimeout: 2 * time.Minute, LoadTimeout: 45 * time.Second},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}
}

// TestLoadConfigReadsEveryVariable checks that the variables read are the
// ones above, no more and no fewer.
func TestLoadConfigReadsEveryVariable(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	read := make(map[string]bool)
	getenv := func(k string) string {
		mu.Lock()
		defer mu.Unlock()
		read[k] = true
		return ""
	}
	if _, err := readConfig(io.Discard, nil, nil, getenv, fakeFiles(nil)); err != nil {
		t.Fatal(err)
	}
	var want []string
	for k := range everyVariable {
		// Indexed lists are read up to the first gap; SANDBOX_ENV_* are found by name.
		if !strings.HasSuffix(k, "_1") && !strings.HasPrefix(k, sandboxEnvPrefix) {
			want = append(want, k)
		}
	}
	if diff := cmp.Diff(slices.Sorted(maps.Keys(read)), slices.Sorted(slices.Values(want))); diff != "" {
		t.Errorf("variables read (-got +want):\n%s", diff)
	}
}

// everyKey sets every config file key.
const everyKey = `{
	"host": "10.0.0.1", "port": 8080, "state_path": "/srv/g.db",
	"session_api_keys": ["a", "b"], "secret_key": "sk",
	"allow_cors_origins": ["https://x.example"],
	"webhooks": [{"base_url": "https://hook.example"}],
	"llm": {"model": "gpt-5", "api_key": "k", "base_url": "http://localhost:4000", "allowed_base_urls": ["https://gw.example/v1"]},
	"sandbox": {
		"image": "img:1", "volumes": ["/a:/a:ro"], "workspace_base": "/w",
		"user_id": 0, "group_id": "0", "memory": "512m", "cpus": 2, "pids_limit": -1,
		"network": "gohands-net", "pool_size": 0, "fork_pool_size": 1, "idle_timeout": "0s",
		"transport": "tcp", "inject": "bind", "run_dir": "/r", "agent_binary": "/b",
		"env": {"A": "1"}, "backend": "docker", "kubeconfig": "/k", "namespace": "ns1",
		"image_pull_policy": "Always", "agent_image": "a:1", "storage_class": "sc", "runtime_class": "kata",
		"images_with_agent": ["img:1"]
	},
	"secrets": {"max_per_conversation": 20, "max_value_bytes": 4096, "max_total_bytes": "128k"},
	"max_live_sandboxes": 5, "max_conversations": 6, "start_queue_length": 12, "start_queue_wait": "30s",
	"conversation_idle": "10m", "max_body_bytes": 2048,
	"max_upload_bytes": "1g", "bash_output_max_bytes": 8192, "allowed_upload_types": ".md", "log_level": "WARN", "log_format": "json",
	"hooks_file": "/etc/gohands/hooks.json", "skills_dir": "/etc/gohands/skills", "allow_host_commands": "true",
	"allowed_hosts": ["GoHands.Example."],
	"http": {"read_header_timeout": "1s", "read_timeout": "30s", "idle_timeout": "5m"},
	"workspace_roots": "/srv/code,/home",
	"checkpoints": "off", "checkpoints_max_count": 30, "checkpoints_max_bytes": "1g", "max_forks": 2,
	"mcp_servers": {"everything": {"command": "/opt/mcp/everything", "env": {"LOG": "1"}}},
	"mcp_remote_direct": "false",
	"browser": {"image": "none", "memory": "2g", "pids_limit": 100, "idle_timeout": "0", "load_timeout": "10s"}
}`

func TestLoadConfigEveryKey(t *testing.T) {
	t.Parallel()
	env, files := withFile(nil, everyKey)
	got, err := loadFake(nil, env, files)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Host:         "10.0.0.1",
		Port:         8080,
		StatePath:    "/srv/g.db",
		ConfigPath:   "/etc/gohands.json",
		APIKeys:      []string{"a", "b"},
		SecretKey:    "sk",
		CORSOrigins:  []string{"https://x.example"},
		AllowedHosts: []string{"gohands.example."},
		HTTP:         HTTPConfig{ReadHeaderTimeout: time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 5 * time.Minute},
		Webhooks:     json.RawMessage(`[{"base_url": "https://hook.example"}]`),
		LLM: LLMConfig{Model: "gpt-5", APIKey: "k", BaseURL: "http://localhost:4000",
			AllowedBaseURLs: []string{"https://gw.example/v1"}},
		Sandbox: SandboxConfig{
			Backend: BackendDocker,
			Kube: KubeConfig{Kubeconfig: "/k", Namespace: "ns1", PullPolicy: "Always", AgentImage: "a:1",
				StorageClass: "sc", RuntimeClass: "kata", ImagesWithAgent: []string{"img:1"}},
			Image: "img:1",
			Volumes: []sandbox.Mount{
				{Source: "/a", Target: "/a", ReadOnly: true},
				{Source: "/w", Target: "/workspace"},
			},
			Memory:       512 << 20,
			CPUs:         2,
			PidsLimit:    -1,
			ForkPoolSize: 1,
			Network:      "gohands-net",
			Transport:    docker.TransportTCP,
			Inject:       docker.InjectBind,
			RunDir:       "/r",
			AgentBinary:  "/b",
			Env:          map[string]string{"A": "1"},
		},
		MaxLiveSandboxes:   5,
		StartQueueLength:   12,
		StartQueueWait:     30 * time.Second,
		Secrets:            SecretsConfig{MaxPerConversation: 20, MaxValueBytes: 4096, MaxTotalBytes: 128 << 10},
		ConversationIdle:   10 * time.Minute,
		MaxBodyBytes:       2048,
		MaxUploadBytes:     1 << 30,
		BashOutputMaxBytes: 8192,
		AllowedUploadTypes: []string{".md"},
		LogLevel:           "warn",
		LogFormat:          "json",
		HooksFile:          "/etc/gohands/hooks.json",
		SkillsDir:          "/etc/gohands/skills",
		AllowHostCommands:  true,
		WorkspaceRoots:     []string{"/srv/code", "/home"},
		Checkpoints:        CheckpointsConfig{MaxCount: 30, MaxBytes: 1 << 30},
		MaxForks:           2,
		MCPServers: mcpclient.Config{Servers: map[string]mcpclient.ServerConfig{
			"everything": {Command: "/opt/mcp/everything", Env: map[string]string{"LOG": "1"}},
		}},
		Browser: BrowserConfig{Image: "none", Memory: 2 << 30, PidsLimit: 100, LoadTimeout: 10 * time.Second},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("(-got +want):\n%s", diff)
	}

	// everyKey must name every setting, so a new one is tested here.
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(everyKey), &doc); err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		section, key, nested := strings.Cut(s.key, ".")
		raw := doc[section]
		if nested {
			var inner map[string]json.RawMessage
			_ = json.Unmarshal(raw, &inner)
			raw = inner[key]
		}
		if raw == nil {
			t.Errorf("everyKey lacks %q", s.key)
		}
	}
}

func TestLoadConfigRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		file   string
		want   []string // substrings of the error
		is     error    // if set, errors.Is must hold
		hidden string   // must not appear in the error
	}{
		{name: "PORT not a number", env: map[string]string{"PORT": "x"}, want: []string{`PORT="x"`, "whole number"}},
		{name: "GOHANDS_MCP_SERVERS not JSON", env: map[string]string{"GOHANDS_MCP_SERVERS": "{github"}, want: []string{"GOHANDS_MCP_SERVERS"}},
		{name: "flag port out of range", args: []string{"--port", "70000"}, want: []string{`flag --port="70000"`}},
		{name: "unknown flag", args: []string{"--colour"}, want: []string{"-colour"}},
		{name: "argument", args: []string{"serve"}, want: []string{`"serve"`}},
		{name: "SANDBOX_MEMORY not a size", env: map[string]string{"SANDBOX_MEMORY": "lots"}, want: []string{`SANDBOX_MEMORY="lots"`}},
		{name: "SANDBOX_MEMORY below minimum", env: map[string]string{"SANDBOX_MEMORY": "1m"}, want: []string{"SANDBOX_MEMORY", "6 MiB"}},
		{name: "SANDBOX_NETWORK host", env: map[string]string{"SANDBOX_NETWORK": "host"}, want: []string{`SANDBOX_NETWORK="host"`, "host's"}},
		{name: "SANDBOX_NETWORK container", env: map[string]string{"SANDBOX_NETWORK": "container:abc"}, want: []string{"SANDBOX_NETWORK"}},
		{name: "SANDBOX_VOLUMES bad entry", env: map[string]string{"SANDBOX_VOLUMES": "/ok:/ok,/a:rel"},
			want: []string{"SANDBOX_VOLUMES", `"/a:rel"`, "not absolute"}, is: sandbox.ErrBadVolume},
		{name: "WORKSPACE_BASE relative", env: map[string]string{"WORKSPACE_BASE": "proj"}, want: []string{`WORKSPACE_BASE="proj"`, "absolute"}},
		{name: "WORKSPACE_BASE and SANDBOX_VOLUMES both on /workspace",
			env:  map[string]string{"WORKSPACE_BASE": "/w", "SANDBOX_VOLUMES": "/v:/workspace"},
			want: []string{"WORKSPACE_BASE", "SANDBOX_VOLUMES", `"/v:/workspace:rw"`}, is: sandbox.ErrBadVolume},
		{name: "WORKSPACE_DIR and file volumes both on /workspace",
			env: map[string]string{"WORKSPACE_DIR": "/w"}, file: `{"sandbox": {"volumes": "/v:/workspace"}}`,
			want: []string{"WORKSPACE_DIR", "config file key sandbox.volumes"}, is: sandbox.ErrBadVolume},
		{name: "SANDBOX_CPUS negative", env: map[string]string{"SANDBOX_CPUS": "-1"}, want: []string{"SANDBOX_CPUS"}},
		{name: "SANDBOX_CPUS NaN", env: map[string]string{"SANDBOX_CPUS": "NaN"}, want: []string{"SANDBOX_CPUS"}},
		{name: "SANDBOX_PIDS_LIMIT", env: map[string]string{"SANDBOX_PIDS_LIMIT": "-2"}, want: []string{"SANDBOX_PIDS_LIMIT"}},
		{name: "SANDBOX_USER_ID", env: map[string]string{"SANDBOX_USER_ID": "-1"}, want: []string{"SANDBOX_USER_ID"}},
		{name: "SANDBOX_TRANSPORT", env: map[string]string{"SANDBOX_TRANSPORT": "udp"}, want: []string{"SANDBOX_TRANSPORT"}},
		{name: "SANDBOX_INJECT", env: map[string]string{"SANDBOX_INJECT": "mount"}, want: []string{"SANDBOX_INJECT"}},
		{name: "SANDBOX_BACKEND", env: map[string]string{"SANDBOX_BACKEND": "podman"}, want: []string{"SANDBOX_BACKEND"}},
		{name: "SANDBOX_NAMESPACE", env: map[string]string{"SANDBOX_NAMESPACE": "Bad_NS"}, want: []string{"SANDBOX_NAMESPACE"}},
		{name: "SANDBOX_IMAGE_PULL_POLICY", env: map[string]string{"SANDBOX_IMAGE_PULL_POLICY": "Sometimes"}, want: []string{"SANDBOX_IMAGE_PULL_POLICY"}},
		{name: "kube transport on docker", env: map[string]string{"SANDBOX_TRANSPORT": "podip"}, want: []string{"SANDBOX_TRANSPORT", "kubernetes"}},
		{name: "docker transport on kubernetes", env: map[string]string{"SANDBOX_BACKEND": "kubernetes", "SANDBOX_TRANSPORT": "unix"}, want: []string{"SANDBOX_TRANSPORT", "apiserver"}},
		{name: "host folder on kubernetes", env: map[string]string{"SANDBOX_BACKEND": "kubernetes", "SANDBOX_VOLUMES": "/srv/data:/data"}, want: []string{"SANDBOX_VOLUMES", "host"}},
		{name: "workspace base on kubernetes", env: map[string]string{"SANDBOX_BACKEND": "kubernetes", "WORKSPACE_BASE": "/w"}, want: []string{"WORKSPACE_BASE", "host"}},
		{name: "network none on kubernetes", env: map[string]string{"SANDBOX_BACKEND": "kubernetes", "SANDBOX_NETWORK": "none"}, want: []string{"SANDBOX_NETWORK", "NetworkPolicy"}},
		{name: "SANDBOX_ENV_ bad name", env: map[string]string{"SANDBOX_ENV_A-B": "x"}, want: []string{"SANDBOX_ENV_", `"A-B"`}},
		{name: "duration without unit", env: map[string]string{"GOHANDS_CONVERSATION_IDLE": "30"}, want: []string{"GOHANDS_CONVERSATION_IDLE"}},
		{name: "max conversations zero", env: map[string]string{"GOHANDS_MAX_CONVERSATIONS": "0"}, want: []string{"GOHANDS_MAX_CONVERSATIONS"}},
		{name: "max live sandboxes zero", env: map[string]string{"GOHANDS_MAX_LIVE_SANDBOXES": "0"}, want: []string{"GOHANDS_MAX_LIVE_SANDBOXES"}},
		{name: "start queue length zero", env: map[string]string{"GOHANDS_START_QUEUE_LENGTH": "0"}, want: []string{"GOHANDS_START_QUEUE_LENGTH"}},
		{name: "start queue wait zero", file: `{"start_queue_wait": "0s"}`, want: []string{"start_queue_wait", "positive"}},
		{name: "bash output bound below the least", env: map[string]string{"GOHANDS_BASH_OUTPUT_MAX_BYTES": "1k"},
			want: []string{`GOHANDS_BASH_OUTPUT_MAX_BYTES="1k"`, "at least 4096 bytes"}},
		{name: "bash output bound over the most", file: `{"bash_output_max_bytes": "2g"}`,
			want: []string{"bash_output_max_bytes", "1g"}},
		{name: "body limit zero", env: map[string]string{"GOHANDS_MAX_BODY_BYTES": "0"}, want: []string{"GOHANDS_MAX_BODY_BYTES"}},
		{name: "max secrets zero", env: map[string]string{"GOHANDS_MAX_SECRETS": "0"}, want: []string{"GOHANDS_MAX_SECRETS", "whole number"}},
		{name: "secret value size", env: map[string]string{"GOHANDS_MAX_SECRET_VALUE_BYTES": "big"}, want: []string{"GOHANDS_MAX_SECRET_VALUE_BYTES", "size"}},
		{name: "secrets total too big", file: `{"secrets": {"max_total_bytes": "1g"}}`, want: []string{"secrets.max_total_bytes", "64MiB"}},
		{name: "unknown secrets key", file: `{"secrets": {"max": 1}}`, want: []string{`unknown key "secrets.max"`}},
		{name: "upload type", env: map[string]string{"GOHANDS_ALLOWED_UPLOAD_TYPES": ".py,.tar.gz,a/b"}, want: []string{"GOHANDS_ALLOWED_UPLOAD_TYPES", `"a/b"`}},
		{name: "log level", env: map[string]string{"GOHANDS_LOG_LEVEL": "loud"}, want: []string{"GOHANDS_LOG_LEVEL", "debug, info, warn, error"}},
		{name: "log format", env: map[string]string{"GOHANDS_LOG_FORMAT": "xml"}, want: []string{"GOHANDS_LOG_FORMAT"}},
		{name: "allowed LLM base URL", env: map[string]string{"GOHANDS_LLM_BASE_URLS": "https://ok.example/v1,file:///etc"},
			want: []string{"GOHANDS_LLM_BASE_URLS", "file:///etc", "http"}},
		{name: "base URL hides its value", env: map[string]string{"LLM_BASE_URL": "ftp://user:hunter2@llm.example"},
			want: []string{"LLM_BASE_URL", "http"}, hidden: "hunter2"},
		{name: "config file missing", env: map[string]string{configPathEnv: "/nowhere/gohands.json"},
			want: []string{"/nowhere/gohands.json"}, is: fs.ErrNotExist},
		{name: "config file from flag missing", args: []string{"--config", "/flag/gohands.json"},
			want: []string{"/flag/gohands.json"}, is: fs.ErrNotExist},
		{name: "unknown key", file: `{"colour": "blue"}`, want: []string{"/etc/gohands.json", `unknown key "colour"`}},
		{name: "unknown nested key", file: `{"sandbox": {"memroy": "1g"}}`, want: []string{`unknown key "sandbox.memroy"`}},
		{name: "config_path is not a file key", file: `{"config_path": "/x"}`, want: []string{`unknown key "config_path"`}},
		{name: "file bad value", file: `{"port": "x"}`, want: []string{"/etc/gohands.json", `port="x"`}},
		{name: "checkpoints neither on nor off", env: map[string]string{"GOHANDS_CHECKPOINTS": "sometimes"},
			want: []string{"GOHANDS_CHECKPOINTS", "on or off"}},
		{name: "max forks too many", file: `{"max_forks": 1000}`, want: []string{"max_forks"}},
		{name: "file bad nested value", file: `{"sandbox": {"memory": "lots"}}`, want: []string{`sandbox.memory="lots"`}},
		{name: "file wrong type", file: `{"host": true}`, want: []string{"host", "string or a number"}},
		{name: "file bad MCP server", file: `{"mcp_servers": {"mcpServers": {"both": {"command": "a", "url": "http://b"}}}}`, want: []string{"both"}},
		{name: "file list of numbers", file: `{"session_api_keys": [1]}`, want: []string{"session_api_keys", "array of strings"}},
		{name: "file empty key", file: `{"session_api_keys": ["a", " "]}`, want: []string{"session_api_keys", "item 1 is empty"}},
		{name: "file section not an object", file: `{"llm": "gpt-5"}`, want: []string{"llm", "object"}},
		{name: "file env not strings", file: `{"sandbox": {"env": {"A": 1}}}`, want: []string{"sandbox.env", "object of strings"}},
		{name: "file not an object", file: `[1]`, want: []string{"/etc/gohands.json", "JSON object"}},
		{name: "file trailing data", file: `{} }`, want: []string{"/etc/gohands.json"}},
		{name: "allowed host a URL", env: map[string]string{"GOHANDS_ALLOWED_HOSTS": "https://gohands.example"},
			want: []string{"GOHANDS_ALLOWED_HOSTS", `"https://gohands.example"`, "host name alone"}},
		{name: "allowed host with a port", env: map[string]string{"GOHANDS_ALLOWED_HOSTS": "gohands.example:3000"},
			want: []string{"GOHANDS_ALLOWED_HOSTS", "port"}},
		{name: "allowed host not a name", env: map[string]string{"GOHANDS_ALLOWED_HOSTS": "a b"},
			want: []string{"GOHANDS_ALLOWED_HOSTS", `"a b"`}},
		{name: "allowed host wildcard inside", file: `{"allowed_hosts": ["a.*.example"]}`,
			want: []string{"allowed_hosts", `"a.*.example"`}},
		{name: "http timeout negative", env: map[string]string{"GOHANDS_HTTP_IDLE_TIMEOUT": "-1s"},
			want: []string{"GOHANDS_HTTP_IDLE_TIMEOUT", "duration"}},
		{name: "http timeout in file", file: `{"http": {"read_timeout": "soon"}}`,
			want: []string{`http.read_timeout="soon"`}},
		{name: "every error at once", env: map[string]string{"PORT": "x", "SANDBOX_CPUS": "y"}, file: `{"colour": 1}`,
			want: []string{"PORT", "SANDBOX_CPUS", "colour"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, files := tt.env, map[string]string(nil)
			if tt.file != "" {
				env, files = withFile(tt.env, tt.file)
			}
			_, err := loadFake(tt.args, env, files)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			if tt.hidden != "" && strings.Contains(err.Error(), tt.hidden) {
				t.Errorf("error %q shows %q", err, tt.hidden)
			}
		})
	}
}

// TestLoadConfigKubernetes: the Kubernetes backend's settings, and the
// default workspace roots (host folders) dropped with it.
func TestLoadConfigKubernetes(t *testing.T) {
	t.Parallel()
	got, err := loadFake(nil, map[string]string{"SANDBOX_BACKEND": "kubernetes", "SANDBOX_TRANSPORT": "podip",
		"SANDBOX_NAMESPACE": "agents", "SANDBOX_VOLUMES": "volume:datasets:/data:ro"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := got.Sandbox
	if s.Backend != BackendKubernetes || s.Kube.Transport != kube.TransportPodIP || s.Kube.Namespace != "agents" || s.Transport != docker.TransportAuto {
		t.Errorf("sandbox settings %+v", s)
	}
	if len(got.WorkspaceRoots) != 0 {
		t.Errorf("workspace roots %v kept for Kubernetes sandboxes", got.WorkspaceRoots)
	}
	def, err := loadFake(nil, nil, nil)
	if err != nil || def.Sandbox.Backend != BackendDocker {
		t.Errorf("default backend %q (%v), want docker", def.Sandbox.Backend, err)
	}
}

func TestLoadConfigAPIKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"none", nil, nil},
		{"gap stops the list", map[string]string{"OH_SESSION_API_KEYS_0": "a", "OH_SESSION_API_KEYS_1": "b", "OH_SESSION_API_KEYS_3": "d"}, []string{"a", "b"}},
		{"no _0, no list", map[string]string{"OH_SESSION_API_KEYS_1": "b"}, nil},
		{"SESSION_API_KEY alone", map[string]string{"SESSION_API_KEY": "s"}, []string{"s"}},
		{"SESSION_API_KEY added", map[string]string{"OH_SESSION_API_KEYS_0": "a", "SESSION_API_KEY": "s"}, []string{"a", "s"}},
		{"SESSION_API_KEY not repeated", map[string]string{"OH_SESSION_API_KEYS_0": "s", "SESSION_API_KEY": "s"}, []string{"s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadFake(nil, tt.env, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(cfg.APIKeys, tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
		})
	}
}

func TestLoadConfigOpenAIKeyFallback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		file string
		want string
	}{
		{"OPENAI_API_KEY alone", map[string]string{"OPENAI_API_KEY": "openai"}, "", "openai"},
		{"LLM_API_KEY beats it", map[string]string{"OPENAI_API_KEY": "openai", "LLM_API_KEY": "llm"}, "", "llm"},
		{"file key beats it", map[string]string{"OPENAI_API_KEY": "openai"}, `{"llm": {"api_key": "file"}}`, "file"},
		{"LLM_API_KEY beats file", map[string]string{"LLM_API_KEY": "llm"}, `{"llm": {"api_key": "file"}}`, "llm"},
		{"none", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, files := tt.env, map[string]string(nil)
			if tt.file != "" {
				env, files = withFile(tt.env, tt.file)
			}
			cfg, err := loadFake(nil, env, files)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.LLM.APIKey != tt.want {
				t.Errorf("LLM.APIKey = %q, want %q", cfg.LLM.APIKey, tt.want)
			}
		})
	}
}

func TestLoadConfigWorkspace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want []sandbox.Mount
	}{
		{"WORKSPACE_BASE", map[string]string{"WORKSPACE_BASE": "/p/"}, []sandbox.Mount{{Source: "/p", Target: "/workspace"}}},
		{"WORKSPACE_DIR, the older name", map[string]string{"WORKSPACE_DIR": "/d"}, []sandbox.Mount{{Source: "/d", Target: "/workspace"}}},
		{"WORKSPACE_BASE beats WORKSPACE_DIR", map[string]string{"WORKSPACE_BASE": "/p", "WORKSPACE_DIR": "/d"},
			[]sandbox.Mount{{Source: "/p", Target: "/workspace"}}},
		{"after SANDBOX_VOLUMES", map[string]string{"WORKSPACE_BASE": "/p", "SANDBOX_VOLUMES": "/c:/cache:ro"},
			[]sandbox.Mount{{Source: "/c", Target: "/cache", ReadOnly: true}, {Source: "/p", Target: "/workspace"}}},
		{"SANDBOX_VOLUMES workspace alone", map[string]string{"SANDBOX_VOLUMES": "ws:/workspace"},
			[]sandbox.Mount{{Source: "ws", Target: "/workspace", Volume: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadFake(nil, tt.env, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(cfg.Sandbox.Volumes, tt.want); diff != "" {
				t.Errorf("(-got +want):\n%s", diff)
			}
		})
	}
}

func TestLoadConfigHelp(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "--help"} {
		var out bytes.Buffer
		_, err := readConfig(&out, []string{arg}, nil, func(string) string { return "" }, fakeFiles(nil))
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s: err = %v, want flag.ErrHelp", arg, err)
		}
		for _, w := range []string{"-host address", "-port port", "-state file", "-config file", "env HOST", "default 3000", "Precedence"} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: usage does not mention %q:\n%s", arg, w, out.String())
			}
		}
	}
}

// TestLoadConfigProcessEnvironment runs LoadConfig as main does, on the
// real environment, where SANDBOX_ENV_* are found by name.
func TestLoadConfigProcessEnvironment(t *testing.T) {
	t.Setenv("SANDBOX_ENV_GOHANDS_CONFIG_TEST", "yes")
	path := filepath.Join(t.TempDir(), "gohands.json")
	if err := os.WriteFile(path, []byte(`{"port": 4321}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig([]string{"--config", path}, os.Getenv, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Sandbox.Env["GOHANDS_CONFIG_TEST"]; got != "yes" {
		t.Errorf("Sandbox.Env[GOHANDS_CONFIG_TEST] = %q, want yes", got)
	}
	if os.Getenv("PORT") == "" && cfg.Port != 4321 {
		t.Errorf("Port = %d, want 4321 from %s", cfg.Port, path)
	}
}

func TestRedacted(t *testing.T) {
	t.Parallel()
	cfg := Config{
		Host:      "0.0.0.0",
		APIKeys:   []string{"k1", "k2"},
		SecretKey: "secret",
		Webhooks:  json.RawMessage(`[{"headers": {"Authorization": "Bearer x"}}]`),
		LLM:       LLMConfig{Model: "gpt-5", APIKey: "sk-1", BaseURL: "https://u:pw@llm.example/v1"},
		Sandbox:   SandboxConfig{Env: map[string]string{"GITHUB_TOKEN": "ghp"}},
	}
	orig := Config{
		Host:      cfg.Host,
		APIKeys:   slices.Clone(cfg.APIKeys),
		SecretKey: cfg.SecretKey,
		Webhooks:  slices.Clone(cfg.Webhooks),
		LLM:       cfg.LLM,
		Sandbox:   SandboxConfig{Env: maps.Clone(cfg.Sandbox.Env)},
	}
	const mask = "**********"
	want := Config{
		Host:      "0.0.0.0",
		APIKeys:   []string{mask, mask},
		SecretKey: mask,
		Webhooks:  json.RawMessage(`"` + mask + `"`),
		LLM:       LLMConfig{Model: "gpt-5", APIKey: mask, BaseURL: "https://u:xxxxx@llm.example/v1"},
		Sandbox:   SandboxConfig{Env: map[string]string{"GITHUB_TOKEN": mask}},
	}
	if diff := cmp.Diff(cfg.Redacted(), want); diff != "" {
		t.Errorf("Redacted (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(cfg, orig); diff != "" {
		t.Errorf("Redacted changed its receiver (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(Config{}.Redacted(), Config{}); diff != "" {
		t.Errorf("Redacted of nothing (-got +want):\n%s", diff)
	}
}

// TestREADMEListsEverySetting keeps the README's configuration table whole.
func TestREADMEListsEverySetting(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "## Configuration\n")
	if !ok {
		t.Fatal("README.md has no ## Configuration section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var names []string
	for k := range everyVariable {
		if !strings.HasPrefix(k, sandboxEnvPrefix) { // the prefix is added below
			names = append(names, strings.TrimSuffix(strings.TrimSuffix(k, "_0"), "_1"))
		}
	}
	for _, s := range settings {
		names = append(names, s.key)
		if s.flag != "" {
			names = append(names, "--"+s.flag)
		}
	}
	names = append(names, "--config", sandboxEnvPrefix)
	for _, name := range names {
		if !strings.Contains(section, name) {
			t.Errorf("README.md's configuration section does not mention %s", name)
		}
	}
}

// FuzzConfigFile feeds arbitrary config files; none may panic, and one
// that is accepted yields values in range.
func FuzzConfigFile(f *testing.F) {
	f.Add([]byte(everyKey))
	f.Add([]byte(`{"port": 1e3, "sandbox": {"memory": 1e30}}`))
	f.Add([]byte(`{"llm": null, "sandbox": {"volumes": "a:/b,/c:/workspace", "workspace_base": "/w"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, files := withFile(nil, string(data))
		cfg, err := loadFake(nil, env, files)
		if err != nil {
			return
		}
		if cfg.Port < 0 || cfg.Port > 65535 || cfg.Sandbox.Memory < 0 || cfg.Sandbox.CPUs < 0 || cfg.MaxBodyBytes < 1 {
			t.Errorf("out of range: %+v", cfg)
		}
	})
}

// TestMaxLiveSandboxesNames reads the live sandbox cap under its name and
// its old one (max_conversations, GOHANDS_MAX_CONVERSATIONS); the new
// name wins where both are given.
func TestMaxLiveSandboxesNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		file string
		want int
	}{
		{name: "new variable", env: map[string]string{"GOHANDS_MAX_LIVE_SANDBOXES": "12"}, want: 12},
		{name: "old variable", env: map[string]string{"GOHANDS_MAX_CONVERSATIONS": "13"}, want: 13},
		{name: "both variables", env: map[string]string{"GOHANDS_MAX_CONVERSATIONS": "13", "GOHANDS_MAX_LIVE_SANDBOXES": "12"}, want: 12},
		{name: "new key", file: `{"max_live_sandboxes": 14}`, want: 14},
		{name: "old key", file: `{"max_conversations": 15}`, want: 15},
		{name: "both keys", file: `{"max_live_sandboxes": 14, "max_conversations": 15}`, want: 14},
		{name: "variable beats key", env: map[string]string{"GOHANDS_MAX_CONVERSATIONS": "13"}, file: `{"max_live_sandboxes": 14}`, want: 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := maps.Clone(tt.env)
			if env == nil {
				env = map[string]string{}
			}
			if tt.file != "" {
				path := filepath.Join(t.TempDir(), "config.json")
				if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
				env["OPENHANDS_AGENT_SERVER_CONFIG_PATH"] = path
			}
			cfg, err := LoadConfig(nil, func(k string) string { return env[k] }, os.ReadFile)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MaxLiveSandboxes != tt.want {
				t.Errorf("MaxLiveSandboxes = %d, want %d", cfg.MaxLiveSandboxes, tt.want)
			}
		})
	}
}
