package worker_test

// End-to-end tests: the real worker binary (built once in TestMain) as a
// subprocess, a real redis-server on a free port, and gofakes3 over HTTP
// driven by the real AWS SDK. Inputs are rendered in-process with
// transcode.Render.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/hibiken/asynq"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/abrfleet/abrfleet/hls"
	"github.com/abrfleet/abrfleet/internal/redistest"
	"github.com/abrfleet/abrfleet/internal/worker"
	"github.com/abrfleet/abrfleet/ladder"
	"github.com/abrfleet/abrfleet/queue"
	"github.com/abrfleet/abrfleet/storage"
	"github.com/abrfleet/abrfleet/transcode"
)

const (
	inBucket  = "abr-in"
	outBucket = "abr-out"
)

// Built and rendered once by TestMain.
var (
	workerBin string // the worker binary
	smallMP4  []byte // 320x180, 60 frames: a tiny job
	longMP4   []byte // 640x360, 1500 frames: a job that runs for seconds
)

// twoRungs keeps jobs small.
var twoRungs = &ladder.Ladder{Name: "small", Rungs: []ladder.Rung{
	{Name: "180p", Width: 320, Height: 180, BitrateKbps: 300},
	{Name: "120p", Width: 214, Height: 120, BitrateKbps: 150},
}}

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "worker-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	workerBin = filepath.Join(dir, "worker")
	build := exec.Command("go", "build", "-o", workerBin, "github.com/abrfleet/abrfleet/cmd/worker")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build worker:", err)
		return 1
	}
	transcode.RouteFFmpegLogs(slog.New(slog.DiscardHandler), slog.LevelError) // Render's own log
	ultrafast := []ladder.Option{{Key: "preset", Value: "ultrafast"}, {Key: "crf", Value: "23"}}
	for _, in := range []struct {
		src string
		dst *[]byte
	}{
		{"synthetic:medium?size=320x180&fps=30&frames=60", &smallMP4},
		{"synthetic:medium?size=640x360&fps=30&frames=1500", &longMP4},
	} {
		name := filepath.Join(dir, "in.mp4")
		if err := transcode.Render(context.Background(), transcode.RenderOptions{Source: in.src, Output: name, Options: ultrafast}); err != nil {
			fmt.Fprintln(os.Stderr, "render input:", err)
			return 1
		}
		if *in.dst, err = os.ReadFile(name); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// env is one test's world: Redis, S3, a client, and worker processes.
type env struct {
	t      *testing.T
	redis  *redistest.Server
	s3     *fakeS3
	client *worker.Client
	roots  string // allowed input root for file:// inputs
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, redis: redistest.Start(t), s3: newFakeS3(t), roots: t.TempDir()}
	c, err := worker.NewClient(e.redis.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e.client = c
	return e
}

// proc is a running `worker run`.
type proc struct {
	cmd    *exec.Cmd
	http   string // host:port
	log    *syncBuffer
	exited chan struct{}
	err    error // after exited
}

// startWorker runs `worker run` with the test's settings plus extra
// ABRFLEET_* variables, and waits until /readyz answers.
func (e *env) startWorker(extra ...string) *proc {
	e.t.Helper()
	port := freePort(e.t)
	var environ []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, worker.EnvPrefix) && !strings.HasPrefix(kv, "AWS_") {
			environ = append(environ, kv)
		}
	}
	environ = append(environ,
		"ABRFLEET_REDIS_URL="+e.redis.URL,
		"ABRFLEET_HTTP_ADDR="+net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		"ABRFLEET_WORK_DIR="+e.t.TempDir(),
		"ABRFLEET_ALLOWED_INPUT_ROOTS="+e.roots,
		"ABRFLEET_POLL_INTERVAL=100ms",
		"ABRFLEET_FORWARD_INTERVAL=1s",
		"ABRFLEET_RETRY_DELAY=1s",
		"ABRFLEET_PROGRESS_INTERVAL=200ms",
		"ABRFLEET_PROBE_CODECS=x264",
		"ABRFLEET_LIVE_SLOTS=1",
		"ABRFLEET_S3_ENDPOINT="+e.s3.url,
		"ABRFLEET_S3_PATH_STYLE=true",
		"ABRFLEET_S3_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKID", "AWS_SECRET_ACCESS_KEY=SECRET",
		"AWS_REQUEST_CHECKSUM_CALCULATION=when_required", "AWS_RESPONSE_CHECKSUM_VALIDATION=when_required",
		"AWS_EC2_METADATA_DISABLED=true",
	)
	environ = append(environ, extra...)
	p := &proc{http: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), log: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(workerBin, "run")
	p.cmd.Env = environ
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	e.t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if e.t.Failed() {
			e.t.Logf("worker %d log:\n%s", p.cmd.Process.Pid, p.log.String())
		}
	})
	waitFor(e.t, 30*time.Second, "worker ready", func() (bool, error) {
		select {
		case <-p.exited:
			return false, fmt.Errorf("worker exited: %v\n%s", p.err, p.log.String())
		default:
		}
		resp, err := http.Get("http://" + p.http + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	return p
}

func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// children lists the worker's transcode children.
func (p *proc) children() []int {
	var pids []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		cmdline, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if len(fields) > 1 && fields[1] == strconv.Itoa(p.cmd.Process.Pid) && bytes.Contains(cmdline, []byte("_child")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitChild waits for a transcode child of p and returns its pid.
func (e *env) waitChild(p *proc) int {
	e.t.Helper()
	return e.waitChildWithin(p, 30*time.Second)
}

func (e *env) waitChildWithin(p *proc, d time.Duration) int {
	e.t.Helper()
	var pid int
	waitFor(e.t, d, "transcode child", func() (bool, error) {
		if c := p.children(); len(c) > 0 {
			pid = c[0]
			return true, nil
		}
		return false, nil
	})
	return pid
}

func (e *env) metrics(p *proc) string {
	e.t.Helper()
	resp, err := http.Get("http://" + p.http + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// submit enqueues a batch job from s3://abr-in/<key> to s3://abr-out/<id>.
func (e *env) submit(id, key string) {
	e.t.Helper()
	p := &queue.Payload{Version: queue.Version, JobID: id, Mode: ladder.Batch, Input: "s3://" + inBucket + "/" + key,
		Output: "s3://" + outBucket + "/" + id, Codec: "x264", Ladder: &queue.LadderRef{Inline: twoRungs}}
	if _, err := e.client.Submit(context.Background(), p, queue.Limits{}); err != nil {
		e.t.Fatalf("submit %s: %v", id, err)
	}
}

// waitDone waits until the task is completed or archived.
func (e *env) waitDone(id string, d time.Duration) *worker.Status {
	e.t.Helper()
	var s *worker.Status
	waitFor(e.t, d, "task "+id+" done", func() (bool, error) {
		var err error
		s, err = e.client.Status(id, "")
		return err == nil && s.Done(), nil
	})
	return s
}

func (e *env) status(id string) *worker.Status {
	e.t.Helper()
	s, err := e.client.Status(id, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// checkPublished checks the HLS tree under s3://abr-out/<prefix>: the master
// lists every rung of the result, every rung's playlist and the segments it
// lists exist, the manifest agrees with the result, and the master was
// written exactly once.
func (e *env) checkPublished(prefix string, r *queue.Result) {
	e.t.Helper()
	keys := e.s3.keys(outBucket, prefix+"/")
	has := func(k string) bool { return slices.Contains(keys, prefix+"/"+k) }
	master, ok := e.s3.get(outBucket, prefix+"/master.m3u8")
	if !ok {
		e.t.Fatalf("%s: no master.m3u8 among %v", prefix, keys)
	}
	if n := e.s3.masterPuts(outBucket, prefix+"/master.m3u8"); n != 1 {
		e.t.Errorf("%s: master.m3u8 written %d times, want 1", prefix, n)
	}
	if len(r.Rungs) != len(twoRungs.Rungs) {
		e.t.Fatalf("%s: result has %d rungs, want %d", prefix, len(r.Rungs), len(twoRungs.Rungs))
	}
	for _, g := range r.Rungs {
		uri := g.Name + "/index.m3u8"
		if !strings.Contains(string(master), uri) {
			e.t.Errorf("%s: master does not list %s:\n%s", prefix, uri, master)
		}
		if !has(uri) || !has(g.Name+"/init.mp4") {
			e.t.Errorf("%s: rung %s incomplete: %v", prefix, g.Name, keys)
			continue
		}
		pl, _ := e.s3.get(outBucket, prefix+"/"+uri)
		media, err := hls.ParseMediaPlaylist(pl)
		if err != nil {
			e.t.Errorf("%s: %s: %v", prefix, uri, err)
			continue
		}
		if len(media.Segments) == 0 {
			e.t.Errorf("%s: %s lists no segments", prefix, uri)
		}
		for _, s := range media.Segments {
			if !has(g.Name + "/" + s.URI) {
				e.t.Errorf("%s: %s lists %s, which is missing", prefix, uri, s.URI)
			}
		}
		if g.Frames != 60 && g.Frames != 1500 {
			e.t.Errorf("%s: rung %s has %d frames", prefix, g.Name, g.Frames)
		}
	}
	data, ok := e.s3.get(outBucket, prefix+"/manifest.json")
	if !ok {
		e.t.Fatalf("%s: no manifest.json", prefix)
	}
	var man transcode.Result
	if err := json.Unmarshal(data, &man); err != nil {
		e.t.Fatalf("%s: manifest: %v", prefix, err)
	}
	for i, g := range r.Rungs {
		if i >= len(man.Rungs) || man.Rungs[i].Name != g.Name || man.Rungs[i].Frames != g.Frames || man.Rungs[i].CodecString != g.CodecString {
			e.t.Errorf("%s: manifest rungs %+v disagree with the result %+v", prefix, man.Rungs, r.Rungs)
			break
		}
	}
}

func TestBatchJobS3(t *testing.T) {
	e := newEnv(t)
	e.s3.put(inBucket, "small.mp4", smallMP4)
	w := e.startWorker()
	start := time.Now()
	e.submit("job-s3", "small.mp4")
	s := e.waitDone("job-s3", time.Minute)
	t.Logf("batch job done in %v", time.Since(start).Round(time.Millisecond))
	if s.Info.State != asynq.TaskStateCompleted {
		t.Fatalf("state %s, last error %q, result %+v", s.Info.State, s.Info.LastErr, s.Result)
	}
	r := s.Result
	if r.Code != "" || r.Attempt != 1 || r.Output != "s3://abr-out/job-s3/master.m3u8" || r.FPS <= 0 {
		t.Errorf("result %+v", r)
	}
	e.checkPublished("job-s3", r)
	data, _ := e.s3.get(outBucket, "job-s3/manifest.json")
	var man transcode.Result
	if err := json.Unmarshal(data, &man); err != nil || man.Input != "s3://abr-in/small.mp4" {
		t.Errorf("manifest.json records the input %q (%v), want the one submitted", man.Input, err)
	}
	m := e.metrics(w)
	for _, want := range []string{`abrfleet_jobs_total{code="ok",type="batch"} 1`, `abrfleet_frames_encoded_total{type="batch"} 60`,
		`abrfleet_encoder_available{codec="x264"} 1`, `abrfleet_queue_tasks{queue="batch",state="completed"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestBadInputsAreArchivedNotRetried(t *testing.T) {
	e := newEnv(t)
	garbage := bytes.Repeat([]byte("not a video, just bytes. "), 4000)
	e.s3.put(inBucket, "empty.mp4", nil)
	e.s3.put(inBucket, "garbage.mp4", garbage)
	e.s3.put(inBucket, "truncated.mp4", longMP4[:len(longMP4)/2]) // moov is at the end: gone
	w := e.startWorker()

	cases := []struct {
		name, key string
		want      queue.Code
	}{
		{"empty", "empty.mp4", queue.CodeInputInvalid},
		{"garbage", "garbage.mp4", queue.CodeInputInvalid},
		{"truncated", "truncated.mp4", queue.CodeInputInvalid},
		{"missing", "missing.mp4", queue.CodeInputUnreadable},
	}
	for _, c := range cases {
		e.submit("bad-"+c.name, c.key)
	}
	// A payload no producer of ours would send: asynq delivers it, Decode rejects it.
	raw := asynq.NewTask(queue.TypeBatch, []byte(`{"version":1,"mode":"batch","input":"ftp://x/y"}`),
		asynq.Queue(queue.QueueBatch), asynq.TaskID("bad-payload"), asynq.MaxRetry(3), asynq.Retention(time.Hour))
	ac := asynq.NewClient(asynq.RedisClientOpt{Addr: e.redis.Addr})
	defer ac.Close()
	if _, err := ac.Enqueue(raw); err != nil {
		t.Fatal(err)
	}
	cases = append(cases, struct {
		name, key string
		want      queue.Code
	}{"payload", "", queue.CodeInvalidPayload})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := e.waitDone("bad-"+c.name, time.Minute)
			if s.Info.State != asynq.TaskStateArchived || s.Info.Retried != 0 {
				t.Errorf("state %s after %d retries, want archived after 0", s.Info.State, s.Info.Retried)
			}
			if s.Result == nil || s.Result.Code != c.want {
				t.Errorf("result %+v, want code %s", s.Result, c.want)
			}
		})
	}
	if !w.alive() {
		t.Fatal("worker died")
	}
	// Still working.
	e.s3.put(inBucket, "small.mp4", smallMP4)
	e.submit("good-after-bad", "small.mp4")
	if s := e.waitDone("good-after-bad", time.Minute); s.Info.State != asynq.TaskStateCompleted {
		t.Fatalf("good job after bad ones: %s %q", s.Info.State, s.Info.LastErr)
	}
}

func TestChildKilledIsRetried(t *testing.T) {
	e := newEnv(t)
	e.s3.put(inBucket, "long.mp4", longMP4)
	w := e.startWorker()
	e.submit("job-kill-child", "long.mp4")
	pid := e.waitChild(w)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s := e.waitDone("job-kill-child", 2*time.Minute)
	if s.Info.State != asynq.TaskStateCompleted || s.Info.Retried != 1 || s.Result.Attempt != 2 {
		t.Fatalf("state %s, retried %d, result %+v, want completed on attempt 2", s.Info.State, s.Info.Retried, s.Result)
	}
	e.checkPublished("job-kill-child", s.Result)
	if !w.alive() {
		t.Fatal("worker died")
	}
	if m := e.metrics(w); !strings.Contains(m, `abrfleet_jobs_total{code="transcoder_crashed",type="batch"} 1`) {
		t.Error("metrics do not count the crash")
	}
}

func TestChildCrashingTwiceIsArchived(t *testing.T) {
	e := newEnv(t)
	e.s3.put(inBucket, "long.mp4", longMP4)
	w := e.startWorker()
	e.submit("job-crash-twice", "long.mp4")
	for attempt := 1; attempt <= 2; attempt++ {
		pid := e.waitChild(w)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "child gone", func() (bool, error) { return !slices.Contains(w.children(), pid), nil })
	}
	s := e.waitDone("job-crash-twice", time.Minute)
	if s.Info.State != asynq.TaskStateArchived || s.Info.Retried != 1 || s.Result.Code != queue.CodeTranscoderCrashed || s.Result.Attempt != 2 {
		t.Fatalf("state %s, retried %d, result %+v, want archived with transcoder_crashed after attempt 2", s.Info.State, s.Info.Retried, s.Result)
	}
	if keys := e.s3.keys(outBucket, "job-crash-twice/"); len(keys) != 0 {
		t.Errorf("a crashed job published %v", keys)
	}
	if !w.alive() {
		t.Fatal("worker died")
	}
}

func TestWorkerKilledMidJob(t *testing.T) {
	e := newEnv(t)
	e.s3.put(inBucket, "long.mp4", longMP4)
	a := e.startWorker()
	e.submit("job-kill-worker", "long.mp4")
	child := e.waitChild(a)
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-a.exited
	// Pdeathsig: the child dies with its parent.
	waitFor(t, 10*time.Second, "orphaned child killed", func() (bool, error) {
		return syscall.Kill(child, 0) != nil, nil
	})
	if keys := e.s3.keys(outBucket, "job-kill-worker/"); len(keys) != 0 {
		t.Fatalf("output visible after the worker died: %v", keys)
	}
	// The lease (30 s) expires; the new worker's recoverer puts the task
	// back 15 s later (recover.go), where asynq's own would take 60-120 s.
	start := time.Now()
	e.startWorker()
	s := e.waitDone("job-kill-worker", 3*time.Minute)
	t.Logf("recovered and completed %v after the restart", time.Since(start).Round(time.Second))
	if s.Info.State != asynq.TaskStateCompleted || s.Info.Retried != 0 || s.Result == nil || s.Result.Attempt != 2 {
		t.Fatalf("state %s after %d retries, result %+v, last error %q: want completed at attempt 2, put back by the recoverer",
			s.Info.State, s.Info.Retried, s.Result, s.Info.LastErr)
	}
	e.checkPublished("job-kill-worker", s.Result)
}

// TestManyJobsTwoWorkers: 100 short jobs on 2 workers x 2 slots, each
// completed, published once and run once (runManyJobs in load_test.go;
// TestLoadSoak runs 500).
func TestManyJobsTwoWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("100 jobs")
	}
	runManyJobs(t, 100)
}

func TestSIGTERMDuringBatchJob(t *testing.T) {
	t.Run("finishes within the shutdown timeout", func(t *testing.T) {
		e := newEnv(t)
		e.s3.put(inBucket, "long.mp4", longMP4)
		w := e.startWorker("ABRFLEET_SHUTDOWN_TIMEOUT=2m")
		e.submit("job-term-finish", "long.mp4")
		e.waitChild(w)
		if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 2*time.Minute, "worker exit", func() (bool, error) { return !w.alive(), nil })
		if w.err != nil {
			t.Errorf("worker exited with %v", w.err)
		}
		s := e.status("job-term-finish")
		if s.Info.State != asynq.TaskStateCompleted {
			t.Fatalf("state %s after a graceful shutdown, want completed", s.Info.State)
		}
		e.checkPublished("job-term-finish", s.Result)
	})
	t.Run("handed back after the shutdown timeout", func(t *testing.T) {
		e := newEnv(t)
		e.s3.put(inBucket, "long.mp4", longMP4)
		w := e.startWorker("ABRFLEET_SHUTDOWN_TIMEOUT=1ms")
		e.submit("job-term-requeue", "long.mp4")
		child := e.waitChild(w)
		if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Minute, "worker exit", func() (bool, error) { return !w.alive(), nil })
		if w.err != nil {
			t.Errorf("worker exited with %v", w.err)
		}
		if syscall.Kill(child, 0) == nil {
			t.Error("transcode child outlived the worker")
		}
		s := e.status("job-term-requeue")
		if s.Info.State != asynq.TaskStatePending && s.Info.State != asynq.TaskStateRetry || s.Info.Retried != 0 {
			t.Fatalf("state %s after %d retries, want back in the queue with no retry counted", s.Info.State, s.Info.Retried)
		}
		if keys := e.s3.keys(outBucket, "job-term-requeue/"); len(keys) != 0 {
			t.Fatalf("output visible after the hand-back: %v", keys)
		}
		e.startWorker()
		s = e.waitDone("job-term-requeue", 2*time.Minute)
		if s.Info.State != asynq.TaskStateCompleted {
			t.Fatalf("state %s, last error %q", s.Info.State, s.Info.LastErr)
		}
		e.checkPublished("job-term-requeue", s.Result)
	})
}

// waitFor polls cond every 20 ms until it holds, fails or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not within %v", what, d)
		}
		<-tick.C
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeS3 is gofakes3 over HTTP, counting successful writes of master
// playlists (publication), and of every object, per key.
type fakeS3 struct {
	t       testing.TB
	url     string
	backend *s3mem.Backend
	client  *s3.Client

	mu      sync.Mutex
	masters map[string]int // bucket/key -> successful PUTs of master.m3u8
	puts    map[string]int // bucket/key -> successful PUTs
}

func newFakeS3(t *testing.T) *fakeS3 {
	t.Helper()
	f := &fakeS3{t: t, backend: s3mem.New(), masters: map[string]int{}, puts: map[string]int{}}
	for _, b := range []string{inBucket, outBucket} {
		if err := f.backend.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	h := gofakes3.New(f.backend).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		if r.Method == http.MethodPut && rec.status == http.StatusOK {
			key := strings.TrimPrefix(r.URL.Path, "/")
			f.mu.Lock()
			f.puts[key]++
			if strings.HasSuffix(key, "/master.m3u8") {
				f.masters[key]++
			}
			f.mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	var err error
	f.client, err = storage.NewS3Client(context.Background(), storage.S3Config{Region: "us-east-1", Endpoint: srv.URL, PathStyle: true},
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (f *fakeS3) put(bucket, key string, body []byte) {
	if _, err := f.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: bytes.NewReader(body)}); err != nil {
		f.t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
}

func (f *fakeS3) get(bucket, key string) ([]byte, bool) {
	out, err := f.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, false
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return b, err == nil
}

func (f *fakeS3) keys(bucket, prefix string) []string {
	var keys []string
	p := s3.NewListObjectsV2Paginator(f.client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			f.t.Fatalf("list s3://%s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// putCount is how many PUTs of bucket/key succeeded.
func (f *fakeS3) putCount(bucket, key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.puts[bucket+"/"+key]
}

func (f *fakeS3) masterPuts(bucket, key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.masters[bucket+"/"+key]
}

func TestLiveJobS3(t *testing.T) {
	e := newEnv(t)
	e.s3.put(inBucket, "small.mp4", smallMP4) // 2 s, paced in real time as a feed would be
	e.startWorker()
	p := &queue.Payload{Version: queue.Version, JobID: "live-1", Mode: ladder.Live, Input: "s3://" + inBucket + "/small.mp4",
		Output: "s3://" + outBucket + "/live-1", Codec: "x264", Ladder: &queue.LadderRef{Inline: twoRungs}}
	if _, err := e.client.Submit(context.Background(), p, queue.Limits{}); err != nil {
		t.Fatal(err)
	}
	s := e.waitDone("live-1", time.Minute)
	if s.Info.State != asynq.TaskStateCompleted || s.Info.Queue != queue.QueueLive {
		t.Fatalf("state %s in %s, last error %q", s.Info.State, s.Info.Queue, s.Info.LastErr)
	}
	if s.Result.WallSeconds < 1.5 {
		t.Errorf("a 2 s live input took %.2f s: not paced", s.Result.WallSeconds)
	}
	keys := e.s3.keys(outBucket, "live-1/")
	for _, want := range []string{"live-1/master.m3u8", "live-1/180p/index.m3u8", "live-1/120p/index.m3u8", "live-1/180p/init.mp4", "live-1/manifest.json"} {
		if !slices.Contains(keys, want) {
			t.Errorf("%s missing from %v", want, keys)
		}
	}
}

func TestSIGTERMHandsBackLiveJobs(t *testing.T) {
	e := newEnv(t)
	e.s3.put(inBucket, "long.mp4", longMP4) // 50 s paced in real time
	w := e.startWorker("ABRFLEET_SHUTDOWN_TIMEOUT=5m")
	p := &queue.Payload{Version: queue.Version, JobID: "live-term", Mode: ladder.Live, Input: "s3://" + inBucket + "/long.mp4",
		Output: "s3://" + outBucket + "/live-term", Codec: "x264", Ladder: &queue.LadderRef{Inline: twoRungs}}
	if _, err := e.client.Submit(context.Background(), p, queue.Limits{}); err != nil {
		t.Fatal(err)
	}
	e.waitChild(w)
	start := time.Now()
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Not the 5 minutes a batch job would get.
	waitFor(t, 30*time.Second, "worker exit", func() (bool, error) { return !w.alive(), nil })
	t.Logf("worker with a live job exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	if w.err != nil {
		t.Errorf("worker exited with %v", w.err)
	}
	s := e.status("live-term")
	if s.Info.State != asynq.TaskStatePending && s.Info.State != asynq.TaskStateRetry || s.Info.Retried != 0 {
		t.Fatalf("live job is %s after %d retries, want back in the queue with no retry counted", s.Info.State, s.Info.Retried)
	}
}

func TestCLISubmitWaitStatusCancel(t *testing.T) {
	e := newEnv(t)
	e.s3.put(inBucket, "small.mp4", smallMP4)
	e.s3.put(inBucket, "long.mp4", longMP4)
	e.s3.put(inBucket, "garbage.mp4", bytes.Repeat([]byte{0xde, 0xad}, 5000))
	ladderFile := filepath.Join(t.TempDir(), "ladder.json")
	data, _ := json.Marshal(twoRungs)
	os.WriteFile(ladderFile, data, 0o600)
	cli := func(args ...string) (stdout, stderr string, code int) {
		cmd := exec.Command(workerBin, args...)
		cmd.Env = append(os.Environ(), "ABRFLEET_REDIS_URL="+e.redis.URL)
		var o, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return o.String(), errb.String(), code
	}

	// Cancel a job no worker has taken yet: deleted.
	out, errOut, code := cli("submit", "--input", "s3://abr-in/small.mp4", "--output", "s3://abr-out/pending", "--job-id", "pending")
	if code != 0 || strings.TrimSpace(out) != "pending" {
		t.Fatalf("submit: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if out, errOut, code = cli("cancel", "pending"); code != 0 || !strings.Contains(out, "deleted from pending") {
		t.Fatalf("cancel pending: exit %d, %q %q", code, out, errOut)
	}

	w := e.startWorker()
	out, errOut, code = cli("submit", "--input", "s3://abr-in/small.mp4", "--output", "s3://abr-out/cli-ok",
		"--ladder-file", ladderFile, "--job-id", "cli-ok", "--wait")
	if code != 0 || !strings.HasPrefix(out, "cli-ok\n") || !strings.Contains(out, `"output": "s3://abr-out/cli-ok/master.m3u8"`) {
		t.Fatalf("submit --wait: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = cli("submit", "--input", "s3://abr-in/garbage.mp4", "--output", "s3://abr-out/cli-bad", "--job-id", "cli-bad", "--wait")
	if code != 1 || !strings.Contains(errOut, "input_invalid") {
		t.Fatalf("submit --wait of garbage: exit %d, stderr %q, want 1 and input_invalid", code, errOut)
	}
	if out, _, code = cli("status", "cli-ok"); code != 0 || !strings.Contains(out, "completed") || !strings.Contains(out, "180p") {
		t.Fatalf("status: exit %d, %q", code, out)
	}

	// Cancel a running job: its child is killed, the task archived.
	if _, errOut, code = cli("submit", "--input", "s3://abr-in/long.mp4", "--output", "s3://abr-out/cli-run", "--job-id", "cli-run"); code != 0 {
		t.Fatal(errOut)
	}
	child := e.waitChild(w)
	if out, errOut, code = cli("cancel", "cli-run"); code != 0 || !strings.Contains(out, "canceled") {
		t.Fatalf("cancel running: exit %d, %q %q", code, out, errOut)
	}
	waitFor(t, 15*time.Second, "canceled child gone", func() (bool, error) { return syscall.Kill(child, 0) != nil, nil })
	if s := e.status("cli-run"); s.Info.State != asynq.TaskStateArchived {
		t.Errorf("canceled task is %s, want archived", s.Info.State)
	}
	if !w.alive() {
		t.Fatal("worker died")
	}
}
