package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/abrfleet/abrfleet/ladder"
	"github.com/abrfleet/abrfleet/queue"
	"github.com/abrfleet/abrfleet/storage"
)

// killGrace is how long a canceled child has between SIGTERM and SIGKILL.
const killGrace = 5 * time.Second

// Worker serves the live and batch queues of one Redis.
type Worker struct {
	cfg     Config
	base    *slog.Logger // the process logger, parent of the component loggers
	log     *slog.Logger // component=worker
	rdb     redis.UniversalClient
	insp    *asynq.Inspector
	s3      *s3.Client
	s3cfg   storage.S3Config
	runner  *childRunner
	metrics *metrics
	workDir *workDir
	jobs    jobRegistry

	encoders atomic.Pointer[map[ladder.Codec]error] // the startup probe; nil until done
	draining atomic.Bool                            // SIGTERM received
}

// Options are what Run needs besides the Config.
type Options struct {
	Logger *slog.Logger
	// Stderr receives the transcode children's logs. Default os.Stderr.
	Stderr io.Writer
	// ChildCommand is the argv that starts a transcode child. Default: this
	// executable with the argument _child.
	ChildCommand []string
	// Abort is canceled by a second signal: every job still running is
	// handed back at once. Default: never.
	Abort context.Context
	// Ready, when set, is called once the pools are serving, with the HTTP
	// address (tests use it).
	Ready func(httpAddr string)
}

// Run serves until ctx is canceled (SIGTERM), then shuts down gracefully:
// it stops taking jobs, hands live jobs back to the queue at once, lets
// batch jobs finish within cfg.ShutdownTimeout and hands back what remains.
func Run(ctx context.Context, cfg Config, o Options) (err error) {
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Abort == nil {
		o.Abort = context.Background()
	}
	if o.ChildCommand == nil {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("worker: find own executable for the transcode child: %w", err)
		}
		o.ChildCommand = []string{exe, "_child"}
	}
	log := o.Logger
	w := &Worker{cfg: cfg, base: log, log: log.With("component", "worker"),
		runner: &childRunner{command: o.ChildCommand, stderr: o.Stderr, killGrace: killGrace, logger: log.With("component", "runner")},
		s3cfg:  storage.S3Config{Region: cfg.S3Region, Endpoint: cfg.S3Endpoint, PathStyle: cfg.S3PathStyle, PartSizeMB: cfg.S3PartSizeMB, Concurrency: cfg.S3Concurrency},
	}

	// 1. The work directory, locked for this process; leftovers of dead workers go.
	if w.workDir, err = openWorkDir(cfg.WorkDir, w.log); err != nil {
		return err
	}
	defer w.workDir.Close()

	// 2. Redis: one client for both pools, the inspector and the health checks.
	connOpt, err := ParseRedis(cfg.RedisURL, cfg.RedisPassword, cfg.RedisTLSCAFile)
	if err != nil {
		return err
	}
	if w.rdb, err = newRedisClient(connOpt); err != nil {
		return err
	}
	defer w.rdb.Close()
	w.insp = asynq.NewInspectorFromRedisClient(w.rdb)
	// The inspector shares the client; closing it would close ours.

	// 3. S3 (no request is made until a job needs it).
	if w.s3, err = storage.NewS3Client(ctx, w.s3cfg); err != nil {
		return fmt.Errorf("worker: %w", err)
	}

	// 4. Metrics and the HTTP server (up before the probe, so /healthz answers).
	w.metrics = newMetrics(w.insp, log.With("component", "metrics"))
	var httpSrv *httpServer
	if cfg.HTTPAddr != "" {
		if httpSrv, err = w.startHTTP(connOpt); err != nil {
			return err
		}
		defer httpSrv.shutdown(w.log)
	}

	// 5. The encoder probe, in a child like every use of FFmpeg.
	w.probe(ctx)

	// 6. The pools.
	live, batch := w.pools()
	for _, p := range []*pool{live, batch} {
		if p == nil {
			continue
		}
		if err := p.srv.Start(asynq.HandlerFunc(w.ProcessTask)); err != nil {
			w.stopPools(live, batch, o.Abort)
			return fmt.Errorf("worker: start %s pool: %w", p.name, err)
		}
		w.log.Info("pool started", "pool", p.name, "slots", p.slots, "queues", p.queues)
	}
	// 7. Recovery: jobs of dead workers back within a minute (recover.go).
	recoverCtx, stopRecover := context.WithCancel(ctx)
	recoverDone := make(chan struct{})
	go func() {
		defer close(recoverDone)
		w.runRecoverer(recoverCtx, log.With("component", "recover"))
	}()
	defer func() { stopRecover(); <-recoverDone }()
	if o.Ready != nil {
		addr := ""
		if httpSrv != nil {
			addr = httpSrv.addr
		}
		o.Ready(addr)
	}

	<-ctx.Done()
	w.log.Info("shutting down", "cause", context.Cause(ctx))
	// Shut down in reverse order of start: recovery (7), pools (6), then
	// the deferred HTTP server (4), Redis (2) and the work directory (1).
	stopRecover()
	w.stopPools(live, batch, o.Abort)
	return nil
}

// pool is one asynq server with its own slots.
type pool struct {
	name   string
	slots  int
	queues map[string]int
	srv    *asynq.Server
}

// pools builds the live and batch pools (nil when they have no slots).
//
// Why two asynq servers on one Redis rather than one server and a
// semaphore: a server's Concurrency is the number of tasks it leases. With
// one server, a live task dequeued while the live semaphore is full would sit
// leased and blocked (or be bounced back as a failure) while an idle
// batch slot could not take batch work; two servers give each kind its own
// slots, its own shutdown timeout and honest queue metrics. The weights
// then apply where there is a choice to make: the batch pool serves both
// queues, live first (6:3), so idle batch capacity absorbs a live burst;
// --live-weight 0 keeps it to batch jobs.
func (w *Worker) pools() (live, batch *pool) {
	mk := func(name string, slots int, queues map[string]int, shutdown time.Duration) *pool {
		return &pool{name: name, slots: slots, queues: queues, srv: asynq.NewServerFromRedisClient(w.rdb, asynq.Config{
			Concurrency:              slots,
			Queues:                   queues,
			StrictPriority:           w.cfg.StrictPriority,
			ShutdownTimeout:          shutdown,
			TaskCheckInterval:        w.cfg.PollInterval,
			DelayedTaskCheckInterval: w.cfg.ForwardInterval,
			RetryDelayFunc:           w.retryDelay,
			IsFailure:                isFailure,
			ErrorHandler:             asynq.ErrorHandlerFunc(w.handlerError),
			Logger:                   asynqLogger{w.base.With("component", "asynq", "pool", name)},
			LogLevel:                 asynqLevel(w.cfg.LogLevel),
		})}
	}
	if n := w.cfg.EffectiveLiveSlots(); n > 0 {
		// Live jobs are handed back as shutdown starts; their handlers
		// return within killGrace.
		live = mk("live", n, map[string]int{queue.QueueLive: 1}, killGrace+5*time.Second)
	}
	if n := w.cfg.BatchSlots; n > 0 {
		qs := map[string]int{queue.QueueBatch: w.cfg.BatchWeight}
		if w.cfg.LiveWeight > 0 {
			qs[queue.QueueLive] = w.cfg.LiveWeight
		}
		batch = mk("batch", n, qs, w.cfg.ShutdownTimeout)
	}
	return live, batch
}

// stopPools is the graceful shutdown of the pools. A second signal (abort)
// hands back every job still running.
func (w *Worker) stopPools(live, batch *pool, abort context.Context) {
	w.draining.Store(true)
	// Stop taking jobs everywhere first, so nothing starts while we hand back.
	for _, p := range []*pool{live, batch} {
		if p != nil {
			p.srv.Stop()
		}
	}
	// Live jobs go back at once: another worker should pick the stream up
	// now rather than after a batch job's grace period.
	if n := w.jobs.cancel(true, errHandback); n > 0 {
		w.log.Info("handed back live jobs", "jobs", n)
	}
	stopAbort := context.AfterFunc(abort, func() {
		n := w.jobs.cancel(false, errHandback)
		w.log.Warn("second signal: handed back every running job", "jobs", n)
	})
	defer stopAbort()
	// Reverse order of start: batch, then live. Batch jobs get
	// ShutdownTimeout; asynq then requeues what still runs.
	for _, p := range []*pool{batch, live} {
		if p != nil {
			p.srv.Shutdown()
		}
	}
	// asynq no longer waits for what it requeued: stop those children too,
	// and wait until every handler has cleaned up after its child.
	w.jobs.cancel(false, errHandback)
	if !w.jobs.wait(killGrace + 5*time.Second) {
		w.log.Warn("some jobs did not finish cleaning up")
	}
}

// retryDelay is asynq's RetryDelayFunc: handed-back jobs, and live jobs
// whose worker died (asynq found their lease expired), are due at once:
// viewers are waiting and the stream itself did nothing wrong. Other
// failures wait RetryDelay, doubled per retry up to RetryMaxDelay, ±20%;
// storage outages back off on their own count, up to a minute (outage.go).
func (w *Worker) retryDelay(n int, err error, t *asynq.Task) time.Duration {
	if errors.Is(err, errHandback) || errors.Is(err, asynq.ErrLeaseExpired) && t.Type() == queue.TypeLive {
		return 0
	}
	var oe *outageError
	if errors.As(err, &oe) {
		return jitter(w.outageDelay(oe.n))
	}
	return jitter(backoff(w.cfg.RetryDelay, w.cfg.RetryMaxDelay, n))
}

// backoff is base doubled steps times, capped at limit.
func backoff(base, limit time.Duration, steps int) time.Duration {
	d := base
	for i := 0; i < steps && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// jitter spreads d by ±20%, so jobs failed together do not retry together.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// isFailure is asynq's IsFailure: whether a failed attempt counts against
// the task's MaxRetry. A hand-back (shutdown) and a storage outage within
// its budget (outage.go) do not.
func isFailure(err error) bool {
	var oe *outageError
	return !errors.Is(err, errHandback) && !errors.As(err, &oe)
}

// handlerError sees every failed attempt; ProcessTask logged it already,
// except a panic that escaped it (it cannot, but asynq would catch one).
func (w *Worker) handlerError(ctx context.Context, t *asynq.Task, err error) {
	if asynq.IsPanicError(err) {
		id, _ := asynq.GetTaskID(ctx)
		w.log.Error("task panicked", "task_id", id, "type", t.Type(), "err", err)
	}
}

// probe finds which encoders open on this host, in a child process.
func (w *Worker) probe(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	codecs := make([]ladder.Codec, 0, len(w.cfg.ProbeCodecs))
	for _, c := range w.cfg.ProbeCodecs {
		codec, _ := ladder.ParseCodec(c) // validated
		codecs = append(codecs, codec)
	}
	found := map[ladder.Codec]error{}
	msg, err := w.runner.run(ctx, ChildSpec{JobID: "probe", LogLevel: w.cfg.LogLevel, Probe: codecs}, nil, nil)
	if err != nil || msg.Probe == nil {
		w.log.Error("encoder probe failed; assuming x264 only", "err", err)
		for _, c := range codecs {
			found[c] = errors.New("probe failed")
		}
		found[ladder.X264] = nil
	} else {
		for c, e := range msg.Probe {
			found[c] = nil
			if e != "" {
				found[c] = errors.New(e)
			}
		}
	}
	var ok []string
	for c, err := range found {
		v := 0.0
		if err == nil {
			v = 1
			ok = append(ok, string(c))
		} else {
			w.log.Info("encoder unavailable", "codec", c, "err", err)
		}
		w.metrics.encoders.WithLabelValues(string(c)).Set(v)
	}
	w.log.Info("encoder probe done", "available", ok)
	w.encoders.Store(&found)
}

func (w *Worker) encoderOK(c ladder.Codec) bool {
	m := w.encoders.Load()
	if m == nil {
		return false
	}
	err, probed := (*m)[c]
	return probed && err == nil
}

// jobRegistry knows the running jobs, to hand them back on shutdown.
type jobRegistry struct {
	mu   sync.Mutex
	jobs map[*runningJob]struct{}
	wg   sync.WaitGroup
}

type runningJob struct {
	live   bool
	cancel context.CancelCauseFunc
}

// add registers a job; the returned function unregisters it.
func (r *jobRegistry) add(live bool, cancel context.CancelCauseFunc) (remove func()) {
	j := &runningJob{live: live, cancel: cancel}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.jobs == nil {
		r.jobs = map[*runningJob]struct{}{}
	}
	r.jobs[j] = struct{}{}
	r.wg.Add(1)
	return func() {
		r.mu.Lock()
		delete(r.jobs, j)
		r.mu.Unlock()
		r.wg.Done()
	}
}

// cancel cancels the live jobs (onlyLive) or all of them with cause, and
// says how many.
func (r *jobRegistry) cancel(onlyLive bool, cause error) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for j := range r.jobs {
		if j.live || !onlyLive {
			j.cancel(cause)
			n++
		}
	}
	return n
}

// wait waits until no job is registered, at most d.
func (r *jobRegistry) wait(d time.Duration) bool {
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// asynqLogger adapts slog to asynq.Logger.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }

// Fatal logs at error level only: asynq's server never calls it, and
// nothing below cmd/ may end the process.
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...), "asynq_level", "fatal") }

func asynqLevel(s string) asynq.LogLevel {
	l, _ := parseLevel(s)
	switch {
	case l <= slog.LevelDebug:
		return asynq.DebugLevel
	case l <= slog.LevelInfo:
		return asynq.InfoLevel
	case l <= slog.LevelWarn:
		return asynq.WarnLevel
	}
	return asynq.ErrorLevel
}
