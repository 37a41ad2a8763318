package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"

	"github.com/abrfleet/abrfleet/ladder"
	"github.com/abrfleet/abrfleet/queue"
	"github.com/abrfleet/abrfleet/storage"
	"github.com/abrfleet/abrfleet/transcode"
)

// childGrace is how long past the job's timeout the worker waits for the
// child to report that timeout itself before killing it.
const childGrace = 30 * time.Second

// progressResult is what a running job writes as its task result: a
// queue.Result whose Progress is set (with the encoded bytes of each rung so
// far). The final result is a plain queue.Result.
type progressResult struct {
	queue.Result
}

// attempt is one run of one task.
type attempt struct {
	task      *asynq.Task
	id        string // the asynq task ID: the payload's job_id when set
	queue     string
	typ       string // batch or live, the metrics label
	n         int    // 1 for the first run
	retried   int    // failures asynq counted so far
	maxRetry  int    // the task's asynq MaxRetry: one more than the retries it gets (queue.AsynqMaxRetry)
	start     time.Time
	log       *slog.Logger
	res       queue.Result
	frames    int64 // frames already counted in the metrics
	crashed   bool  // the previous attempt ended with transcoder_crashed
	ranBefore bool  // an earlier attempt of this task started (see ProcessTask)
	cancel    context.CancelCauseFunc
	isLive    bool
	finished  bool
}

// ProcessTask is the asynq handler of both task types. It never lets a panic
// out, writes a queue.Result after every attempt (and a progress result while
// it runs), and returns errors whose retry policy is in their type: see
// JobError and classify.
func (w *Worker) ProcessTask(ctx context.Context, t *asynq.Task) (err error) {
	a := &attempt{task: t, start: time.Now(), typ: jobType(t.Type())}
	a.id, _ = asynq.GetTaskID(ctx)
	a.queue, _ = asynq.GetQueueName(ctx)
	retried, _ := asynq.GetRetryCount(ctx)
	a.retried = retried
	a.maxRetry, _ = asynq.GetMaxRetry(ctx)
	a.isLive = t.Type() == queue.TypeLive
	// Put back by a recoverer (recover.go) or failed by a storage outage
	// (outage.go): attempts asynq did not count.
	recovered, outages, rerr := uncounted(ctx, w.rdb, a.queue, a.id)
	if rerr != nil {
		w.log.Warn("read uncounted attempts", "task_id", a.id, "err", rerr)
	}
	a.n = retried + recovered + outages + 1
	a.res.Attempt = a.n
	a.log = w.log.With("task_id", a.id, "type", a.typ, "attempt", a.n)

	ctx, a.cancel = context.WithCancelCause(ctx)
	defer a.cancel(nil)
	defer w.jobs.add(a.isLive, a.cancel)()
	w.metrics.active.WithLabelValues(a.typ).Inc()
	defer w.metrics.active.WithLabelValues(a.typ).Dec()

	defer func() {
		if x := recover(); x != nil {
			a.log.Error("handler panic", "panic", fmt.Sprint(x), "stack", string(debug.Stack()))
			err = w.finish(ctx, a, &JobError{Code: queue.CodeInternal, Op: "handler", Err: fmt.Errorf("panic: %v", x)})
		}
	}()
	if retried > 0 || outages > 0 || a.isLive {
		// asynq counts a retry after a failure or the worker's death, not
		// after a hand-back or an outage; every attempt of a live job leaves
		// a result before it writes any output, so either shows an earlier
		// attempt.
		prev, found := w.previousResult(a)
		a.crashed = retried > 0 && prev.Code == queue.CodeTranscoderCrashed
		a.ranBefore = retried > 0 || outages > 0 || found
	}
	p, err := queue.Decode(t, w.cfg.Limits())
	if err != nil {
		return w.finish(ctx, a, &JobError{Code: queue.CodeInvalidPayload, Op: "decode payload", Err: err, Permanent: true})
	}
	a.log = a.log.With("input", p.Input, "output", p.Output)
	return w.finish(ctx, a, w.run(ctx, a, p))
}

// finish records the outcome of an attempt: task result, metrics, one log
// line. It returns the error for asynq, nil on success.
func (w *Worker) finish(ctx context.Context, a *attempt, err error) error {
	if a.finished { // a panic after finish ran
		return err
	}
	a.finished = true
	a.res.WallSeconds = time.Since(a.start).Seconds()
	w.metrics.fps.DeleteLabelValues(a.typ, a.id)
	var (
		je  *JobError
		ret error // what asynq gets: je, or an *outageError or *exhaustedError around it
	)
	if err != nil {
		je = classify(err, a.crashed)
		a.res.Code, a.res.Message = je.Code, je.Error()
		ret = exhaust(w.outageRetry(ctx, a, je), je, a.retried, a.maxRetry)
	}
	var (
		oe *outageError
		ee *exhaustedError
	)
	switch {
	case errors.As(ret, &oe):
		a.res.Message += "; " + oe.note(w.cfg.OutageBudget)
	case errors.As(ret, &ee):
		a.res.Message += "; " + ee.note()
	}
	code := "ok"
	if je != nil {
		code = string(je.Code)
	}
	w.metrics.jobs.WithLabelValues(a.typ, code).Inc()
	w.metrics.duration.WithLabelValues(a.typ, code).Observe(a.res.WallSeconds)
	if errors.Is(err, errHandback) {
		// The next attempt writes its own result; the lease may be gone.
		a.log.Info("job handed back to the queue")
		return je
	}
	w.writeFinalResult(ctx, a)
	switch {
	case je == nil:
		a.log.Info("job done", "wall_seconds", a.res.WallSeconds, "fps", a.res.FPS, "result", a.res.Output)
		return nil
	case je.Code == queue.CodeTranscoderCrashed:
		w.metrics.crashes.Inc()
		a.log.Error("transcode child crashed", "err", je.Err, "permanent", je.Permanent)
	case je.Permanent || ee != nil:
		a.log.Warn("job failed, not retrying", "code", je.Code, "err", je, "retries_exhausted", ee != nil)
	case oe != nil:
		a.log.Warn("job failed, storage unavailable: will retry without counting it", "code", je.Code, "err", je,
			"outage_failures", oe.n, "since", oe.elapsed)
	default:
		a.log.Warn("job failed, will retry", "code", je.Code, "err", je)
	}
	return ret
}

// writeResult writes v as the task's result. The write fails once the
// task's context is done (a canceled task); there is nothing to add then.
func (w *Worker) writeResult(a *attempt, v any) {
	data, err := json.Marshal(v)
	if err == nil {
		_, err = a.task.ResultWriter().Write(data)
	}
	if err != nil {
		a.log.Debug("write task result", "err", err)
	}
}

// finalResultWait bounds how long an attempt waits for Redis to take its
// final result: about the 30 s for which asynq's lease outlives a Redis
// outage.
const finalResultWait = 30 * time.Second

// writeFinalResult writes the attempt's result, retrying while Redis does
// not answer, for up to finalResultWait or until the task's context ends.
// Returning to asynq only once Redis answers again matters: asynq v0.26
// retries a completion it could not record with an already-canceled context
// (every retry fails), so a job that finished during an outage ran again
// from scratch once its lease expired. Waiting here turns that into a
// completion recorded late.
func (w *Worker) writeFinalResult(ctx context.Context, a *attempt) {
	data, err := json.Marshal(a.res)
	if err != nil {
		a.log.Error("encode task result", "err", err)
		return
	}
	deadline := time.Now().Add(finalResultWait)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		_, err := a.task.ResultWriter().Write(data)
		if err == nil {
			return
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			a.log.Warn("write task result", "err", err)
			return
		}
		a.log.Debug("write task result: retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// previousResult reads the result an earlier attempt left in the task, and
// whether there is one. When Redis cannot tell, it says there is: for a
// live job that means appending to the output rather than overwriting it.
func (w *Worker) previousResult(a *attempt) (prev queue.Result, found bool) {
	info, err := w.insp.GetTaskInfo(a.queue, a.id)
	if err != nil {
		a.log.Warn("read previous result", "err", err)
		return prev, true
	}
	if len(info.Result) == 0 {
		return prev, false
	}
	if err := json.Unmarshal(info.Result, &prev); err != nil {
		a.log.Warn("decode previous result", "err", err)
	}
	return prev, true
}

// run is one attempt of a valid job: input, child transcode, publish.
func (w *Worker) run(ctx context.Context, a *attempt, p *queue.Payload) error {
	// The payload's timeout bounds the attempt. The child enforces it and
	// reports timeout itself; the worker's bound, childGrace later, only
	// stops a child that does not. asynq's own deadline is
	// queue.TimeoutGrace later still, so the result can be written.
	deadline := a.start.Add(p.Timeout.Duration)
	ctx, cancel := context.WithDeadlineCause(ctx, deadline.Add(childGrace), errJobTimeout)
	defer cancel()
	err := w.attempt(ctx, a, p, deadline)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			return cause // canceled, timed out or handed back: that, not how a step noticed
		}
	}
	return err
}

func (w *Worker) attempt(ctx context.Context, a *attempt, p *queue.Payload, deadline time.Time) error {
	dst, err := storage.ParseLocation(p.Output)
	if err != nil {
		return &JobError{Code: queue.CodeInvalidPayload, Op: "output", Err: err, Permanent: true}
	}
	lad, err := p.Ladder.Resolve()
	if err != nil {
		return &JobError{Code: queue.CodeInvalidPayload, Op: "ladder", Err: err, Permanent: true}
	}
	codec, err := w.resolveCodec(p.Codec)
	if err != nil {
		return err
	}
	dir := filepath.Join(w.workDir.dir, fmt.Sprintf("%s.%d", a.id, a.n))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		code := queue.CodeInternal
		if noSpace(err) {
			code = queue.CodeNoSpace
		}
		return &JobError{Code: code, Op: "create job directory " + dir, Err: err}
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			a.log.Warn("remove job directory", "dir", dir, "err", err)
		}
	}()
	// The download has until the job's deadline, not childGrace more: the
	// SDK bounds no S3 response, so a request S3 never answers ends here.
	fetchCtx, cancelFetch := context.WithDeadlineCause(ctx, deadline, errJobTimeout)
	in, err := w.input(fetchCtx, p, dir)
	timedOut := errors.Is(context.Cause(fetchCtx), errJobTimeout)
	cancelFetch()
	if err != nil {
		if timedOut {
			return &JobError{Code: queue.CodeTimeout, Op: "fetch " + p.Input, Err: errJobTimeout, Permanent: true}
		}
		return err
	}
	defer in.close()

	live := p.Mode == ladder.Live
	outDir := filepath.Join(dir, "out")
	var uploader *storage.LiveUploader
	switch {
	case live && dst.Scheme == "file":
		// A live rendition is published as it grows: the HLS muxer writes
		// segments before the playlists that list them, and playlists by
		// rename, so the destination directory is written in place.
		outDir = dst.Path
	case live:
		uploader = storage.NewLiveUploader(w.s3, dst, outDir)
	}
	spec := ChildSpec{
		JobID: a.id, Attempt: a.n, LogLevel: w.cfg.LogLevel,
		Input: in.url, InputName: p.Input, OutputDir: outDir, Codec: codec, Preset: p.Preset, Mode: p.Mode, Ladder: lad,
		HLS: slices.Contains(p.Outputs, queue.OutputHLS), MP4: slices.Contains(p.Outputs, queue.OutputMP4),
		FallbackToCPU: p.FallbackToCPU,
		// A live job on a file stands for a feed: pace it. Network feeds
		// arrive in real time already.
		Realtime:         live && !in.network,
		Timeout:          time.Until(deadline),
		ProgressInterval: w.cfg.ProgressInterval,
		InputOptions:     w.inputOptions(in.kind),
		MemoryBytes:      uint64(w.cfg.ChildMemoryBytes),
		CPUSeconds:       w.cpuSeconds(p.Timeout.Duration),
	}
	if spec.Timeout <= 0 {
		return &JobError{Code: queue.CodeTimeout, Op: "fetch", Err: errors.New("no time left to transcode"), Permanent: true}
	}
	if live {
		// A feed silent for IdleTimeout has ended: the input reports end
		// of stream and the job finishes with what it encoded.
		spec.InputOptions.ReadTimeout = p.IdleTimeout.Duration
		if spec.ResumeHLS, err = w.resumeLive(ctx, a, dst, outDir, lad, uploader); err != nil {
			return err
		}
		// From here on the output may hold this task's stream: say that an
		// attempt ran, so that a re-delivery continues it (see resumeLive).
		a.res.Progress = &queue.ProgressInfo{}
		w.writeResult(a, progressResult{Result: a.res})
	}

	stopSync := func() {}
	if uploader != nil {
		stopSync = w.syncLive(ctx, a, uploader)
	}
	msg, err := w.runner.run(ctx, spec, in.files, func(pr transcode.Progress) { w.progress(a, pr) })
	stopSync()
	if err != nil {
		return err
	}
	res := msg.Result
	if res == nil {
		return &JobError{Code: queue.CodeInternal, Op: "transcode", Err: errors.New("child sent no result")}
	}
	w.countFrames(a, res.SourceFrames)

	switch {
	case uploader != nil:
		if err := uploader.Sync(ctx); err != nil {
			return publishError(dst.String(), err)
		}
	case !live:
		pub := storage.NewLocalPublisher()
		if dst.Scheme == "s3" {
			pub = storage.NewS3Publisher(w.s3, w.s3cfg)
		}
		err := pub.Publish(ctx, outDir, dst, a.id)
		switch {
		case errors.Is(err, storage.ErrAlreadyPublished):
			a.log.Info("output already published by an earlier attempt of this job")
		case err != nil:
			return publishError(dst.String(), err)
		}
	}
	a.res.FPS = res.FPS
	a.res.Output = dst.String()
	if res.Master != "" {
		a.res.Output = joinLocation(dst, res.Master)
	}
	for _, r := range res.Rungs {
		a.res.Rungs = append(a.res.Rungs, queue.RungFigures{Name: r.Name, Width: r.Width, Height: r.Height,
			Frames: r.Frames, Bytes: r.Bytes, BitrateKbps: r.BitrateKbps, CodecString: r.CodecString})
	}
	return nil
}

// progress reports a child's progress line: metrics and the task result.
func (w *Worker) progress(a *attempt, pr transcode.Progress) {
	w.countFrames(a, pr.Frames)
	w.metrics.fps.WithLabelValues(a.typ, a.id).Set(pr.FPS)
	a.res.Progress = &queue.ProgressInfo{Frames: pr.Frames, TotalFrames: pr.TotalFrames, FPS: pr.FPS,
		ETASeconds: pr.ETA.Seconds(), RungBytes: pr.RungBytes}
	a.res.WallSeconds = time.Since(a.start).Seconds()
	w.writeResult(a, progressResult{Result: a.res})
}

// countFrames adds the frames transcoded since the last report to the metrics.
func (w *Worker) countFrames(a *attempt, frames int64) {
	if d := frames - a.frames; d > 0 {
		w.metrics.frames.WithLabelValues(a.typ).Add(float64(d))
		a.frames = frames
	}
}

// liveSyncTimeout bounds one pass of the live mirror: a pass uploads the
// 2 s segments written since the last one, and then the playlists.
const liveSyncTimeout = 30 * time.Second

// syncLive mirrors a live output to S3 every 2 s until the returned function
// is called.
func (w *Worker) syncLive(ctx context.Context, a *attempt, u *storage.LiveUploader) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				// S3 answers no request by itself (the SDK sets no response
				// timeout): bound each pass, so one request S3 never answers
				// does not stop the mirroring until the job ends.
				sctx, cancel := context.WithTimeout(ctx, liveSyncTimeout)
				err := u.Sync(sctx)
				cancel()
				if err != nil && ctx.Err() == nil {
					a.log.Warn("live upload", "err", err) // the next Sync retries
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// cpuSeconds is the child's CPU-time limit for a job of this timeout.
func (w *Worker) cpuSeconds(timeout time.Duration) uint64 {
	if w.cfg.ChildCPUTime > 0 {
		return uint64(w.cfg.ChildCPUTime.Seconds())
	}
	return uint64((timeout + childGrace).Seconds()) * uint64(runtime.NumCPU())
}

// resolveCodec turns "auto" into h264_nvenc when the startup probe opened
// it, else x264.
func (w *Worker) resolveCodec(s string) (ladder.Codec, error) {
	if s == queue.CodecAuto {
		if w.encoderOK(ladder.H264NVENC) {
			return ladder.H264NVENC, nil
		}
		return ladder.X264, nil
	}
	c, err := ladder.ParseCodec(s)
	if err != nil {
		return "", &JobError{Code: queue.CodeInvalidPayload, Op: "codec", Err: err, Permanent: true}
	}
	return c, nil
}

// inputOptions are transcode's defences for an input of kind k, with the configured overrides.
func (w *Worker) inputOptions(k transcode.InputKind) transcode.InputOptions {
	o := transcode.DefaultInputOptions(k)
	if w.cfg.FormatWhitelist != "" {
		o.FormatWhitelist = w.cfg.FormatWhitelist
	}
	if w.cfg.MaxPixels > 0 {
		o.MaxPixels = w.cfg.MaxPixels
	}
	if k == transcode.InputFile {
		o.MaxInputBytes = w.cfg.MaxInputBytes // 0: no limit
	}
	return o
}

// jobInput is the input as the child opens it.
type jobInput struct {
	url     string              // what FFmpeg opens
	files   []*os.File          // inherited by the child as fds 3...
	kind    transcode.InputKind // chooses transcode's defences (protocols, demuxers, limits)
	network bool                // a live network feed
}

func (in *jobInput) close() {
	for _, f := range in.files {
		f.Close()
	}
}

// input prepares p.Input: s3:// is downloaded into dir; file:// is opened
// under its allowed root (so no symbolic link leads out of it) and handed
// to the child as an open file; network URLs go to FFmpeg as they are (udp
// with transcode's defences for their kind.
func (w *Worker) input(ctx context.Context, p *queue.Payload, dir string) (*jobInput, error) {
	u, err := url.Parse(p.Input)
	if err != nil {
		return nil, &JobError{Code: queue.CodeInvalidPayload, Op: "input", Err: err, Permanent: true}
	}
	switch u.Scheme {
	case "s3":
		loc, err := storage.ParseLocation(p.Input)
		if err != nil {
			return nil, &JobError{Code: queue.CodeInvalidPayload, Op: "input", Err: err, Permanent: true}
		}
		dst := filepath.Join(dir, "input"+safeExt(loc.Key))
		if _, err := storage.Fetch(ctx, w.s3, loc, dst, w.cfg.MaxInputBytes); err != nil {
			return nil, fetchError(p.Input, err)
		}
		return &jobInput{url: dst, kind: transcode.InputFile}, nil
	case "file":
		loc, err := storage.ParseLocation(p.Input)
		if err != nil {
			return nil, &JobError{Code: queue.CodeInvalidPayload, Op: "input", Err: err, Permanent: true}
		}
		f, err := openUnder(loc.Path, w.cfg.AllowedInputRoots)
		if err != nil {
			return nil, err
		}
		// FFmpeg reopens the inherited descriptor by its /dev/fd name: the
		// file the worker checked, whatever the path names by then.
		return &jobInput{url: "/dev/fd/3", files: []*os.File{f}, kind: transcode.InputFile}, nil
	case "https":
		return &jobInput{url: p.Input, kind: transcode.InputHTTPS}, nil
	case "srt":
		return &jobInput{url: p.Input, kind: transcode.InputSRT, network: true}, nil
	case "rtmp":
		return &jobInput{url: p.Input, kind: transcode.InputRTMP, network: true}, nil
	case "udp":
		return &jobInput{url: p.Input, kind: transcode.InputUDP, network: true}, nil
	}
	return nil, &JobError{Code: queue.CodeInvalidPayload, Op: "input", Err: fmt.Errorf("scheme %q", u.Scheme), Permanent: true}
}

// openUnder opens the regular file p through an os.Root on the allowed root
// that contains it.
func openUnder(p string, roots []string) (*os.File, error) {
	for _, r := range roots {
		r = filepath.Clean(r)
		rel, err := filepath.Rel(r, p)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			continue
		}
		f, err := os.OpenInRoot(r, rel)
		if err != nil {
			// Missing, forbidden, or leading out of the root: retrying cannot
			// help, unless this process merely ran out of something.
			transient := errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOMEM)
			return nil, &JobError{Code: queue.CodeInputUnreadable, Op: "open input " + p, Err: err, Permanent: !transient}
		}
		if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
			f.Close()
			return nil, &JobError{Code: queue.CodeInputUnreadable, Op: "open input " + p, Err: errors.New("not a regular file"), Permanent: true}
		}
		return f, nil
	}
	return nil, &JobError{Code: queue.CodeInvalidPayload, Op: "input " + p, Err: errors.New("outside the allowed input roots"), Permanent: true}
}

// safeExt keeps a short alphanumeric extension of key, which helps FFmpeg
// guess raw formats; anything else becomes "".
func safeExt(key string) string {
	ext := strings.ToLower(path.Ext(key))
	if len(ext) < 2 || len(ext) > 8 {
		return ""
	}
	for _, c := range ext[1:] {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return ""
		}
	}
	return ext
}

func joinLocation(l storage.Location, rel string) string {
	if l.Scheme == "s3" {
		return "s3://" + l.Bucket + "/" + path.Join(l.Key, rel)
	}
	return filepath.Join(l.Path, filepath.FromSlash(rel))
}

func jobType(taskType string) string {
	switch taskType {
	case queue.TypeLive:
		return "live"
	case queue.TypeBatch:
		return "batch"
	}
	return "unknown"
}
