// Package worker is the job side of `worker run`: it serves the asynq queues,
// runs each transcode in a child process (`worker _child`), publishes the
// outputs atomically and reports progress, results and metrics. The client
// side (submit, status, cancel) lives in client.go.
package worker

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/abrfleet/abrfleet/internal/cli"
	"github.com/abrfleet/abrfleet/queue"
	"github.com/abrfleet/abrfleet/reports"
)

// EnvPrefix prefixes the environment variable of every flag: --live-slots is
// ABRFLEET_LIVE_SLOTS.
const EnvPrefix = "ABRFLEET_"

// Config configures `worker run`. It is assembled in one place, in this
// order: Default, then the YAML file (--config or ABRFLEET_CONFIG), then
// ABRFLEET_* environment variables, then flags, then Validate. Every field
// says its default.
type Config struct {
	// RedisURL locates Redis: redis://[user:pass@]host:port/db,
	// rediss://... (TLS), or
	// redis-sentinel://[:sentinelpass@]h1:p1,h2:p2/?master=NAME[&db=N][&tls=1].
	// Default redis://127.0.0.1:6379/0.
	RedisURL string `yaml:"redis_url"`
	// RedisPassword, when set, overrides the password of RedisURL (for
	// sentinel URLs: the master's password), so that it can come from a
	// secret rather than a URL. Default "".
	RedisPassword string `yaml:"redis_password"`
	// RedisTLSCAFile is a PEM bundle of CAs trusted for rediss:// and
	// sentinel tls=1. Default "": the system roots.
	RedisTLSCAFile string `yaml:"redis_tls_ca_file"`

	// LiveSlots is how many live jobs run at once in the live pool. Default 2;
	// LiveSlotsByInstanceType overrides it for InstanceType.
	LiveSlots int `yaml:"live_slots"`
	// LiveSlotsByInstanceType maps EC2 instance types to live slots, so one
	// config file serves a fleet (flag form: c6i.4xlarge=4,g4dn.xlarge=8).
	// Default: none.
	LiveSlotsByInstanceType map[string]int `yaml:"live_slots_by_instance_type"`
	// InstanceType selects the LiveSlotsByInstanceType entry and the bench
	// results that apply here. Default "".
	InstanceType string `yaml:"instance_type"`
	// BenchResults are results.json files written by `bench run` (or merged
	// ones). When one measured InstanceType and no LiveSlotsByInstanceType
	// entry says otherwise, the most live streams it sustained (with the best
	// encoder available there) is the live slots default. Default: none.
	BenchResults []string `yaml:"bench_results"`
	// BatchSlots is how many jobs run at once in the batch pool. Default 1:
	// one transcode already uses every core.
	BatchSlots int `yaml:"batch_slots"`
	// LiveWeight and BatchWeight are the queue weights of the batch pool,
	// which takes live jobs too when LiveWeight > 0 (live first by default:
	// 6 to 3, as queue.DefaultQueues). LiveWeight 0 keeps the batch pool to
	// batch jobs. Defaults 6 and 3.
	LiveWeight  int `yaml:"live_weight"`
	BatchWeight int `yaml:"batch_weight"`
	// StrictPriority makes the batch pool take a batch job only when the
	// live queue is empty. Default false (weighted).
	StrictPriority bool `yaml:"strict_priority"`

	// ShutdownTimeout is how long batch jobs may run on after SIGTERM before
	// they are handed back to the queue; live jobs are handed back at once
	// and a second signal hands back everything. Default 5m.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// PollInterval is how often an idle pool polls empty queues: a job
	// submitted to an idle worker starts within about this long (asynq sleeps
	// it after finding the queues empty). Default 200ms: p99 enqueue-to-start
	// ~0.3 s instead of ~1.4 s at asynq's 1 s (RELIABILITY.md), for one
	// small Lua script per pool per poll, 10 a second for an idle worker.
	PollInterval time.Duration `yaml:"poll_interval"`
	// ForwardInterval is how often due retries are moved back to their
	// queue. Default 5s.
	ForwardInterval time.Duration `yaml:"forward_interval"`
	// RetryDelay is the delay before the first retry; it doubles on each
	// retry up to RetryMaxDelay, with ±20% jitter. Defaults 10s and 10m.
	RetryDelay    time.Duration `yaml:"retry_delay"`
	RetryMaxDelay time.Duration `yaml:"retry_max_delay"`
	// OutageBudget is how long, from a task's first failure caused by
	// storage being unavailable (network, throttling, 5xx after the SDK's
	// retries), such failures are retried without counting against the
	// task's max retries (outage.go). Default 1h; 0 counts them all.
	OutageBudget time.Duration `yaml:"outage_budget"`

	// WorkDir holds one directory per job (fetched input, output before
	// publishing). Default: $TMPDIR/abrfleet-worker.
	WorkDir string `yaml:"work_dir"`
	// AllowedInputRoots are the directories file:// inputs must lie under.
	// Default: none, file:// inputs are rejected.
	AllowedInputRoots []string `yaml:"allowed_input_roots"`
	// AllowedOutputRoots are the directories local outputs must lie under.
	// Default: none, any absolute directory.
	AllowedOutputRoots []string `yaml:"allowed_output_roots"`
	// MaxTimeout caps a job's timeout. Default 48h.
	MaxTimeout time.Duration `yaml:"max_timeout"`
	// MaxInputBytes rejects larger s3:// and file:// inputs (input_too_large).
	// Default 64 GiB; 0 means no limit.
	MaxInputBytes int64 `yaml:"max_input_bytes"`
	// MaxPixels rejects larger input frames. Default 0: 8192x4320.
	MaxPixels int64 `yaml:"max_pixels"`
	// FormatWhitelist replaces, for every kind of input, the demuxers FFmpeg
	// may use (comma-separated names). Default "": transcode's list for the
	// input's kind (ordinary containers for files and https; no playlists,
	// concat or image sequences; the feed's own format for live inputs).
	FormatWhitelist string `yaml:"format_whitelist"`

	// S3 settings for s3:// inputs and outputs; credentials come from the
	// AWS default chain. Defaults: the SDK's region (else us-east-1), AWS
	// endpoints, virtual-hosted addressing, 16 MiB parts, 4 in flight.
	S3Region      string `yaml:"s3_region"`
	S3Endpoint    string `yaml:"s3_endpoint"`
	S3PathStyle   bool   `yaml:"s3_path_style"`
	S3PartSizeMB  int    `yaml:"s3_part_size_mb"`
	S3Concurrency int    `yaml:"s3_concurrency"`

	// ChildMemoryBytes is the transcode child's RLIMIT_AS. Address space is
	// not resident memory (glibc reserves 64 MiB per malloc arena), so size it
	// generously. Default 0: unlimited.
	ChildMemoryBytes int64 `yaml:"child_memory_bytes"`
	// ChildCPUTime is the child's RLIMIT_CPU (CPU time over all threads).
	// Default 0: the job's timeout times the number of CPUs, a backstop that
	// cannot fire before the timeout does.
	ChildCPUTime time.Duration `yaml:"child_cpu_time"`
	// ProgressInterval is how often a running job reports progress to its
	// task result. Default 2s.
	ProgressInterval time.Duration `yaml:"progress_interval"`

	// HTTPAddr serves /metrics, /healthz, /readyz and /monitoring/. Default
	// ":9090"; "" disables it.
	HTTPAddr string `yaml:"http_addr"`
	// Monitoring mounts the asynqmon UI at /monitoring/. Default true.
	Monitoring bool `yaml:"monitoring"`
	// MonitoringWritable lets the UI change tasks and queues. Default false:
	// read-only.
	MonitoringWritable bool `yaml:"monitoring_writable"`
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string `yaml:"log_level"`
	// ProbeCodecs are the encoders probed at startup. Default x264, x265,
	// h264_nvenc, hevc_nvenc.
	ProbeCodecs []string `yaml:"probe_codecs"`
}

// Default returns the documented defaults.
func Default() Config {
	return Config{
		RedisURL:         "redis://127.0.0.1:6379/0",
		LiveSlots:        2,
		BatchSlots:       1,
		LiveWeight:       queue.DefaultLiveWeight,
		BatchWeight:      queue.DefaultBatchWeight,
		ShutdownTimeout:  5 * time.Minute,
		PollInterval:     200 * time.Millisecond,
		ForwardInterval:  5 * time.Second,
		RetryDelay:       10 * time.Second,
		RetryMaxDelay:    10 * time.Minute,
		OutageBudget:     time.Hour,
		WorkDir:          filepath.Join(os.TempDir(), "abrfleet-worker"),
		MaxTimeout:       queue.DefaultMaxTimeout,
		MaxInputBytes:    64 << 30,
		ProgressInterval: 2 * time.Second,
		HTTPAddr:         ":9090",
		Monitoring:       true,
		LogLevel:         "info",
		ProbeCodecs:      []string{"x264", "x265", "h264_nvenc", "hevc_nvenc"},
	}
}

// Flags binds c's fields to flags of fs; the flags' defaults are c's current
// values. Each flag's environment variable is EnvPrefix + its name in upper
// snake case.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.RedisURL, "redis-url", c.RedisURL, "Redis: redis://, rediss:// (TLS) or redis-sentinel://h1:p1,h2:p2/?master=NAME")
	fs.StringVar(&c.RedisPassword, "redis-password", c.RedisPassword, "Redis password, overriding the URL's (sentinel: the master's)")
	fs.StringVar(&c.RedisTLSCAFile, "redis-tls-ca-file", c.RedisTLSCAFile, "PEM CA bundle for Redis TLS (default: system roots)")
	fs.IntVar(&c.LiveSlots, "live-slots", c.LiveSlots, "live jobs at once in the live pool")
	fs.Var(intMap{&c.LiveSlotsByInstanceType}, "live-slots-by-instance-type", "live slots per instance type, e.g. c6i.4xlarge=4,g4dn.xlarge=8")
	fs.StringVar(&c.InstanceType, "instance-type", c.InstanceType, "this instance's type, selecting --live-slots-by-instance-type")
	fs.IntVar(&c.BatchSlots, "batch-slots", c.BatchSlots, "jobs at once in the batch pool")
	fs.IntVar(&c.LiveWeight, "live-weight", c.LiveWeight, "weight of the live queue in the batch pool (0: batch pool takes batch jobs only)")
	fs.IntVar(&c.BatchWeight, "batch-weight", c.BatchWeight, "weight of the batch queue in the batch pool")
	fs.BoolVar(&c.StrictPriority, "strict-priority", c.StrictPriority, "batch pool takes batch jobs only when the live queue is empty")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long batch jobs may finish after SIGTERM before being handed back")
	fs.DurationVar(&c.PollInterval, "poll-interval", c.PollInterval, "idle queue poll interval")
	fs.DurationVar(&c.ForwardInterval, "forward-interval", c.ForwardInterval, "how often due retries are moved back to their queue")
	fs.DurationVar(&c.RetryDelay, "retry-delay", c.RetryDelay, "delay before the first retry, doubled on each retry")
	fs.DurationVar(&c.RetryMaxDelay, "retry-max-delay", c.RetryMaxDelay, "longest retry delay")
	fs.DurationVar(&c.OutageBudget, "outage-budget", c.OutageBudget, "how long storage-outage failures are retried without counting against max retries (0: they count)")
	fs.StringVar(&c.WorkDir, "work-dir", c.WorkDir, "directory for per-job inputs and outputs")
	fs.Var(stringList{&c.BenchResults}, "bench-results", "comma-separated bench results.json files: live slots default to what this instance type sustained")
	fs.Var(stringList{&c.AllowedInputRoots}, "allowed-input-roots", "comma-separated directories file:// inputs may come from")
	fs.Var(stringList{&c.AllowedOutputRoots}, "allowed-output-roots", "comma-separated directories local outputs may go to (default: any)")
	fs.DurationVar(&c.MaxTimeout, "max-timeout", c.MaxTimeout, "longest job timeout accepted")
	fs.Int64Var(&c.MaxInputBytes, "max-input-bytes", c.MaxInputBytes, "largest s3:// or file:// input in bytes (0: no limit)")
	fs.Int64Var(&c.MaxPixels, "max-pixels", c.MaxPixels, "largest input frame in pixels (0: 8192x4320)")
	fs.StringVar(&c.FormatWhitelist, "format-whitelist", c.FormatWhitelist, "demuxers FFmpeg may use on inputs (default: transcode's list per input kind)")
	fs.StringVar(&c.S3Region, "s3-region", c.S3Region, "S3 region (default: the AWS SDK's, else us-east-1)")
	fs.StringVar(&c.S3Endpoint, "s3-endpoint", c.S3Endpoint, "S3 endpoint for S3-compatible stores (default: AWS)")
	fs.BoolVar(&c.S3PathStyle, "s3-path-style", c.S3PathStyle, "S3 path-style addressing")
	fs.IntVar(&c.S3PartSizeMB, "s3-part-size-mb", c.S3PartSizeMB, "S3 multipart part size in MiB (0: 16)")
	fs.IntVar(&c.S3Concurrency, "s3-concurrency", c.S3Concurrency, "S3 requests in flight per transfer (0: 4)")
	fs.Int64Var(&c.ChildMemoryBytes, "child-memory-bytes", c.ChildMemoryBytes, "transcode child's address-space limit in bytes (0: unlimited)")
	fs.DurationVar(&c.ChildCPUTime, "child-cpu-time", c.ChildCPUTime, "transcode child's CPU-time limit (0: job timeout x CPUs)")
	fs.DurationVar(&c.ProgressInterval, "progress-interval", c.ProgressInterval, "how often running jobs report progress")
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, `address for /metrics, /healthz, /readyz, /monitoring/ ("" disables)`)
	fs.BoolVar(&c.Monitoring, "monitoring", c.Monitoring, "mount the asynqmon UI at /monitoring/")
	fs.BoolVar(&c.MonitoringWritable, "monitoring-writable", c.MonitoringWritable, "let the asynqmon UI change tasks and queues")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.Var(stringList{&c.ProbeCodecs}, "probe-codecs", "encoders probed at startup")
}

// EnvName is the environment variable of the flag name.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// ApplyEnv sets every flag of fs whose environment variable is set, using
// the flag's own parser, so env and flags accept the same forms.
func ApplyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := lookup(EnvName(f.Name)); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// LoadFile reads a YAML config file over c; unknown keys are errors.
func (c *Config) LoadFile(name string) error {
	data, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("config %s: %w", name, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		return fmt.Errorf("config %s: %w", name, err)
	}
	return nil
}

// Load assembles the config of `worker run` from the defaults, the YAML file
// named by --config (or ABRFLEET_CONFIG), the environment, then args, and
// validates it. Flag errors are cli.ErrUsage.
func Load(args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (Config, error) {
	newFlags := func(c *Config, file *string) *flag.FlagSet {
		fs := flag.NewFlagSet("worker run", flag.ContinueOnError)
		c.Flags(fs)
		fs.StringVar(file, "config", *file, "YAML config file (env "+EnvName("config")+"); flags and env override it")
		return fs
	}
	// First pass: only to learn --config (and report flag errors once).
	var file string
	if v, ok := lookupEnv(EnvName("config")); ok {
		file = v
	}
	scratch := Default()
	fs := newFlags(&scratch, &file)
	if err := cli.ParseFlags(fs, args, stderr); err != nil {
		return Config{}, err
	}
	if isHelp(args) {
		return Config{}, ErrHelp
	}
	c := Default()
	if file != "" {
		if err := c.LoadFile(file); err != nil {
			return Config{}, err
		}
	}
	fs = newFlags(&c, &file)
	if err := ApplyEnv(fs, lookupEnv); err != nil {
		return Config{}, fmt.Errorf("environment: %w", err)
	}
	if err := fs.Parse(args); err != nil { // parsed cleanly in the first pass
		return Config{}, fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// ErrHelp is returned by Load when -h was asked for; the usage is printed.
var ErrHelp = cli.ErrHelp

func isHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "-h" || a == "-help" || a == "--help" || a == "--h" {
			return true
		}
	}
	return false
}

// EffectiveLiveSlots is LiveSlotsByInstanceType[InstanceType] when present,
// else what the bench measured for InstanceType (BenchResults), else
// LiveSlots.
func (c *Config) EffectiveLiveSlots() int {
	if n, ok := c.LiveSlotsByInstanceType[c.InstanceType]; ok && c.InstanceType != "" {
		return n
	}
	if n, err := c.benchLiveSlots(); err == nil && n > 0 {
		return n
	}
	return c.LiveSlots
}

// benchLiveSlots is the largest sustained live level measured on InstanceType
// in BenchResults, over the encoders that were available there; 0 if none.
func (c *Config) benchLiveSlots() (int, error) {
	if len(c.BenchResults) == 0 {
		return 0, nil
	}
	results, err := reports.Load(c.BenchResults...)
	if err != nil || c.InstanceType == "" {
		return 0, err
	}
	best := 0
	for _, r := range results {
		if r.Machine.InstanceType != c.InstanceType {
			continue
		}
		for _, lc := range r.Live {
			if !lc.Unavailable {
				best = max(best, lc.MaxSustained)
			}
		}
	}
	return best, nil
}

// SlogLevel is LogLevel as a slog.Level.
func (c *Config) SlogLevel() (slog.Level, error) { return parseLevel(c.LogLevel) }

// Limits is the payload policy derived from c.
func (c *Config) Limits() queue.Limits {
	return queue.Limits{AllowedInputRoots: c.AllowedInputRoots, AllowedOutputRoots: c.AllowedOutputRoots, MaxTimeout: c.MaxTimeout}
}

// Validate reports every problem with c.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if _, err := ParseRedis(c.RedisURL, c.RedisPassword, c.RedisTLSCAFile); err != nil {
		errs = append(errs, err)
	}
	if c.LiveSlots < 0 {
		bad("live_slots %d: must be 0 or more", c.LiveSlots)
	}
	for t, n := range c.LiveSlotsByInstanceType {
		if n < 0 || t == "" {
			bad("live_slots_by_instance_type %q=%d: want a type and 0 or more slots", t, n)
		}
	}
	if c.BatchSlots < 0 {
		bad("batch_slots %d: must be 0 or more", c.BatchSlots)
	}
	if _, err := c.benchLiveSlots(); err != nil {
		bad("bench_results: %v", err)
	}
	if c.BatchSlots == 0 && c.EffectiveLiveSlots() == 0 {
		bad("batch_slots and live_slots are both 0: nothing to run")
	}
	if c.LiveWeight < 0 || c.BatchWeight < 1 {
		bad("live_weight %d, batch_weight %d: want live_weight >= 0 and batch_weight >= 1", c.LiveWeight, c.BatchWeight)
	}
	for name, d := range map[string]time.Duration{"shutdown_timeout": c.ShutdownTimeout, "poll_interval": c.PollInterval,
		"forward_interval": c.ForwardInterval, "retry_delay": c.RetryDelay, "retry_max_delay": c.RetryMaxDelay,
		"max_timeout": c.MaxTimeout, "progress_interval": c.ProgressInterval} {
		if d <= 0 {
			bad("%s %v: must be positive", name, d)
		}
	}
	if c.ForwardInterval > 0 && c.ForwardInterval < time.Second {
		bad("forward_interval %v: asynq schedules retries to the second, want at least 1s", c.ForwardInterval)
	}
	if c.RetryMaxDelay < c.RetryDelay {
		bad("retry_max_delay %v is below retry_delay %v", c.RetryMaxDelay, c.RetryDelay)
	}
	if c.ChildCPUTime < 0 || c.ChildMemoryBytes < 0 || c.MaxInputBytes < 0 || c.MaxPixels < 0 || c.OutageBudget < 0 {
		bad("child_cpu_time, child_memory_bytes, max_input_bytes, max_pixels and outage_budget must not be negative")
	}
	if !filepath.IsAbs(c.WorkDir) {
		bad("work_dir %q: must be absolute", c.WorkDir)
	}
	for _, r := range slices.Concat(c.AllowedInputRoots, c.AllowedOutputRoots) {
		if !filepath.IsAbs(r) {
			bad("allowed root %q: must be absolute", r)
		}
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	for _, codec := range c.ProbeCodecs {
		if _, err := parseCodec(codec); err != nil {
			bad("probe_codecs: %v", err)
		}
	}
	if c.S3PartSizeMB < 0 || c.S3Concurrency < 0 {
		bad("s3_part_size_mb and s3_concurrency must not be negative")
	}
	return errors.Join(errs...)
}

// stringList is a comma-separated flag.Value; Set replaces the list, so a
// flag overrides what the file or env said rather than appending to it.
type stringList struct{ p *[]string }

func (s stringList) String() string {
	if s.p == nil {
		return ""
	}
	return strings.Join(*s.p, ",")
}

func (s stringList) Set(v string) error {
	*s.p = nil
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			*s.p = append(*s.p, e)
		}
	}
	return nil
}

// intMap is a k=v,k=v flag.Value; Set replaces the map.
type intMap struct{ p *map[string]int }

func (m intMap) String() string {
	if m.p == nil || len(*m.p) == 0 {
		return ""
	}
	var parts []string
	for k, v := range *m.p {
		parts = append(parts, k+"="+strconv.Itoa(v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (m intMap) Set(v string) error {
	out := map[string]int{}
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		k, n, ok := strings.Cut(e, "=")
		i, err := strconv.Atoi(strings.TrimSpace(n))
		if !ok || err != nil || strings.TrimSpace(k) == "" {
			return fmt.Errorf("%q: want type=slots", e)
		}
		out[strings.TrimSpace(k)] = i
	}
	*m.p = out
	return nil
}
