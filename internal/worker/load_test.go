package worker_test

// Load and Redis-fault tests, end to end like e2e_test.go (whose helpers
// they use). Each has a modest version that runs in `make test` and a large
// one that runs only with ABRFLEET_SOAK=1 (`make test-soak`). They assert
// correctness (every job completed, published once, none lost, none run
// twice unless a fault explains it) and only print times.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/montanaflynn/stats"

	"github.com/abrfleet/abrfleet/internal/redistest"
	"github.com/abrfleet/abrfleet/internal/worker"
	"github.com/abrfleet/abrfleet/ladder"
	"github.com/abrfleet/abrfleet/queue"
)

// soakEnv turns on the large versions of these tests.
const soakEnv = "ABRFLEET_SOAK"

func soaking() bool { return os.Getenv(soakEnv) == "1" }

// soakOnly skips a large test unless ABRFLEET_SOAK=1.
func soakOnly(t *testing.T) {
	t.Helper()
	if !soaking() {
		t.Skip("soak test: runs with " + soakEnv + "=1 (make test-soak)")
	}
}

// newEnvRedis is newEnv with a Redis of the test's choosing.
func newEnvRedis(t *testing.T, srv *redistest.Server) *env {
	t.Helper()
	e := &env{t: t, redis: srv, s3: newFakeS3(t), roots: t.TempDir()}
	c, err := worker.NewClient(srv.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e.client = c
	return e
}

// logRecord is a line of a worker's JSON log.
type logRecord struct {
	Time        time.Time `json:"time"`
	Msg         string    `json:"msg"`
	Component   string    `json:"component"`
	TaskID      string    `json:"task_id"`
	Attempt     int       `json:"attempt"`
	WallSeconds float64   `json:"wall_seconds"`
}

// start is when the attempt's handler started (ProcessTask's first line):
// finish takes wall_seconds from that instant just before it writes the
// result and logs the line, so this is late by one result write.
func (r logRecord) start() time.Time {
	return r.Time.Add(-time.Duration(r.WallSeconds * float64(time.Second)))
}

// finishMessages are the lines that end an attempt (handler.go's finish),
// one per attempt that ran to its end in a living worker.
var finishMessages = map[string]bool{
	"job done":                     true,
	"job failed, will retry":       true,
	"job failed, not retrying":     true,
	"transcode child crashed":      true,
	"job handed back to the queue": true,
}

// workerRecords parses the worker-component lines of the processes' logs.
func workerRecords(ps ...*proc) []logRecord {
	var out []logRecord
	for _, p := range ps {
		sc := bufio.NewScanner(strings.NewReader(p.log.String()))
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if !bytes.HasPrefix(line, []byte("{")) {
				continue
			}
			var r logRecord
			if json.Unmarshal(line, &r) == nil && r.Component == "worker" {
				out = append(out, r)
			}
		}
	}
	return out
}

// jobTally is what the workers' logs say about a set of jobs.
type jobTally struct {
	attempts  map[string]int         // task id -> attempts that reached finish
	done      map[string][]logRecord // task id -> its "job done" lines
	published map[string]int         // task id -> "already published by an earlier attempt" lines
}

func tally(ps ...*proc) jobTally {
	t := jobTally{attempts: map[string]int{}, done: map[string][]logRecord{}, published: map[string]int{}}
	for _, r := range workerRecords(ps...) {
		switch {
		case finishMessages[r.Msg]:
			t.attempts[r.TaskID]++
			if r.Msg == "job done" {
				t.done[r.TaskID] = append(t.done[r.TaskID], r)
			}
		case r.Msg == "output already published by an earlier attempt of this job":
			t.published[r.TaskID]++
		}
	}
	return t
}

// waitLogged waits until the logs of ws hold a finished attempt of every
// job of ids: a worker logs it before asynq records the completion, but the
// line reaches the test through a pipe.
func waitLogged(t *testing.T, ids []string, ws ...*proc) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tl := tally(ws...)
		missing := 0
		for _, id := range ids {
			if tl.attempts[id] == 0 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			return // checkJobs reports what is missing
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitAll waits until every task in ids is completed or archived, at most
// d, and returns the last status of each (nil when never found).
func (e *env) waitAll(ids []string, d time.Duration) map[string]*worker.Status {
	e.t.Helper()
	out := make(map[string]*worker.Status, len(ids))
	left := append([]string(nil), ids...)
	deadline := time.Now().Add(d)
	for len(left) > 0 && time.Now().Before(deadline) {
		var next []string
		for _, id := range left {
			s, err := e.client.Status(id, "")
			if err == nil {
				out[id] = s
			}
			if err != nil || !s.Done() {
				next = append(next, id)
			}
		}
		left = next
		if len(left) > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	return out
}

// submitErr is submit returning the error.
func (e *env) submitErr(ctx context.Context, id, key string) error {
	p := &queue.Payload{Version: queue.Version, JobID: id, Mode: ladder.Batch, Input: "s3://" + inBucket + "/" + key,
		Output: "s3://" + outBucket + "/" + id, Codec: "x264", Ladder: &queue.LadderRef{Inline: twoRungs}}
	_, err := e.client.Submit(ctx, p, queue.Limits{})
	return err
}

// summary is n, median, p95, p99 and max of xs.
func summary(xs []float64) string {
	if len(xs) == 0 {
		return "n=0"
	}
	med, _ := stats.Median(xs)
	p95, _ := stats.Percentile(xs, 95)
	p99, _ := stats.Percentile(xs, 99)
	maxv, _ := stats.Max(xs)
	minv, _ := stats.Min(xs)
	return fmt.Sprintf("n=%d min=%.1fms median=%.1fms p95=%.1fms p99=%.1fms max=%.1fms", len(xs), minv, med, p95, p99, maxv)
}

// checkJobs checks that every job of ids completed, was published once and
// ran once (one attempt in the logs, result attempt 1, no retry counted),
// and returns the number of jobs with more than one attempt.
func (e *env) checkJobs(ids []string, st map[string]*worker.Status, tl jobTally) (dups int) {
	e.t.Helper()
	for _, id := range ids {
		s := st[id]
		if s == nil || s.Info.State != asynq.TaskStateCompleted {
			if s == nil {
				e.t.Errorf("%s: not found", id)
			} else {
				e.t.Errorf("%s: %s %q", id, s.Info.State, s.Info.LastErr)
			}
			continue
		}
		e.checkPublished(id, s.Result)
		if n := tl.attempts[id]; n != 1 || s.Result.Attempt != 1 || s.Info.Retried != 0 {
			dups++
			e.t.Errorf("%s: %d attempts in the logs, result attempt %d, retried %d; want 1, 1, 0", id, n, s.Result.Attempt, s.Info.Retried)
		}
	}
	return dups
}

// runManyJobs starts 2 workers x 2 batch slots and queues n short batch
// jobs at once; the time printed runs from the first submit until every
// job was seen done (polled every 100 ms).
func runManyJobs(t *testing.T, n int) {
	e := newEnv(t)
	e.s3.put(inBucket, "small.mp4", smallMP4)
	w1 := e.startWorker("ABRFLEET_BATCH_SLOTS=2")
	w2 := e.startWorker("ABRFLEET_BATCH_SLOTS=2")
	ids := make([]string, n)
	start := time.Now()
	for i := range ids {
		ids[i] = fmt.Sprintf("many-%03d", i)
		e.submit(ids[i], "small.mp4")
	}
	submitted := time.Since(start)
	st := e.waitAll(ids, time.Duration(n)*time.Second+2*time.Minute)
	wall := time.Since(start)
	waitLogged(t, ids, w1, w2)
	tl := tally(w1, w2)
	dups := e.checkJobs(ids, st, tl)
	per := [2]int{}
	for i, w := range []*proc{w1, w2} {
		per[i] = len(tally(w).done)
	}
	if !w1.alive() || !w2.alive() {
		t.Error("a worker died")
	}
	t.Logf("%d jobs on 2 workers x 2 slots in %v (submitting took %v): %d run more than once; jobs per worker %d + %d",
		n, wall.Round(time.Millisecond), submitted.Round(time.Millisecond), dups, per[0], per[1])
}

// TestLoadSoak is TestManyJobsTwoWorkers with 500 jobs.
func TestLoadSoak(t *testing.T) {
	soakOnly(t)
	runManyJobs(t, 500)
}

// restartPlan is one run of the Redis restart test.
type restartPlan struct {
	long, short int           // jobs of longMP4 (queued first) and smallMP4
	outage      time.Duration // how long Redis stays down
	// stops says, per restart, how Redis goes down (true: SHUTDOWN, else
	// kill -9) and when: long jobs running, or short ones.
	stops []restartStop
}

type restartStop struct {
	graceful bool
	whenLong bool          // when every long job is running; else when short jobs run and some are done
	outage   time.Duration // overrides the plan's
}

// TestRedisRestart restarts Redis (AOF, appendfsync always) under 2 busy
// workers, with an outage of a few seconds: both workers must stay up,
// turn unready and ready again, enqueueing during the outage must fail
// clearly, and every job enqueued must complete and be published once.
// Here the jobs in flight are long ones that outlive the outage; see
// TestRedisRestartSoak for short jobs finishing while Redis is away.
func TestRedisRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts Redis under load")
	}
	t.Run("kill -9", func(t *testing.T) {
		runRedisRestart(t, restartPlan{long: 4, short: 16, outage: 3 * time.Second, stops: []restartStop{{whenLong: true}}})
	})
	t.Run("SHUTDOWN", func(t *testing.T) {
		runRedisRestart(t, restartPlan{long: 4, short: 16, outage: 3 * time.Second, stops: []restartStop{{graceful: true, whenLong: true}}})
	})
}

// TestRedisRestartSoak restarts Redis five times under 204 jobs, four
// times while short jobs are in flight, the last time for 40 s, longer
// than asynq's 30 s lease. Short jobs in flight finish while Redis is
// down, so asynq cannot record their completion: they stay active until
// its recoverer finds their lease expired (30 s lease, 30 s margin,
// checked once a minute) and run again, published once all the same.
func TestRedisRestartSoak(t *testing.T) {
	soakOnly(t)
	runRedisRestart(t, restartPlan{long: 4, short: 200, outage: 5 * time.Second, stops: []restartStop{
		{whenLong: true}, {}, {graceful: true}, {}, {outage: 40 * time.Second},
	}})
}

func runRedisRestart(t *testing.T, plan restartPlan) {
	srv := redistest.StartWith(t, redistest.Options{AppendOnly: true, AppendFsync: "always"})
	e := newEnvRedis(t, srv)
	e.s3.put(inBucket, "small.mp4", smallMP4)
	e.s3.put(inBucket, "long.mp4", longMP4)
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: srv.Addr})
	defer insp.Close()
	ws := []*proc{e.startWorker("ABRFLEET_BATCH_SLOTS=2"), e.startWorker("ABRFLEET_BATCH_SLOTS=2")}

	var ids, longIDs []string
	for i := range plan.long {
		id := fmt.Sprintf("rr-long-%d", i)
		e.submit(id, "long.mp4")
		ids, longIDs = append(ids, id), append(longIDs, id)
	}
	for i := range plan.short {
		id := fmt.Sprintf("rr-%03d", i)
		e.submit(id, "small.mp4")
		ids = append(ids, id)
	}
	// A `worker submit --wait` follows a job across the restarts.
	waiter := startCLIWait(t, srv.URL, "rr-wait")
	waitFor(t, 30*time.Second, "rr-wait queued", func() (bool, error) {
		_, err := e.client.Status("rr-wait", "")
		return err == nil, nil
	})
	ids = append(ids, "rr-wait")
	start := time.Now()

	var refused []string // submitted during an outage: must not exist
	var recoveries []string
	for r, stop := range plan.stops {
		// Pick the moment.
		waitFor(t, 3*time.Minute, fmt.Sprintf("moment for restart %d", r+1), func() (bool, error) {
			if stop.whenLong {
				running := 0
				for _, id := range longIDs {
					if s, err := e.client.Status(id, ""); err == nil && s.Info.State == asynq.TaskStateActive && s.Result != nil {
						running++ // a progress result: its child is transcoding
					}
				}
				return running == len(longIDs), nil
			}
			qi, err := insp.GetQueueInfo(queue.QueueBatch)
			if err != nil {
				return false, nil
			}
			// Short jobs only in flight, a share of them done, some still queued.
			want := plan.long + (r*plan.short)/(len(plan.stops)+1)
			return qi.Completed >= want && qi.Active > 0 && qi.Pending > 0 && !longActive(e, longIDs), nil
		})
		qi, _ := insp.GetQueueInfo(queue.QueueBatch)
		how := "kill -9"
		cpu0 := make([]time.Duration, len(ws))
		for i, w := range ws {
			cpu0[i] = cpuTime(w.cmd.Process.Pid)
		}
		down := time.Now()
		if stop.graceful {
			how = "SHUTDOWN"
			if err := srv.Shutdown(); err != nil {
				t.Fatal(err)
			}
		} else {
			srv.Kill()
		}
		t.Logf("restart %d (%s) at %v: %d active, %d pending, %d completed", r+1, how, down.Sub(start).Round(time.Millisecond),
			qi.Active, qi.Pending, qi.Completed)

		// During the outage: workers alive but unready; enqueueing fails clearly.
		for i, w := range ws {
			waitFor(t, plan.outage, fmt.Sprintf("worker %d unready", i+1), func() (bool, error) {
				if !w.alive() {
					return false, fmt.Errorf("worker %d died: %v", i+1, w.err)
				}
				return readyz(w) == http.StatusServiceUnavailable, nil
			})
		}
		id := fmt.Sprintf("rr-outage-%d", r)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t0 := time.Now()
		err := e.submitErr(ctx, id, "small.mp4")
		cancel()
		if err == nil {
			t.Errorf("submit during the outage succeeded")
		} else {
			t.Logf("submit during the outage failed after %v: %v", time.Since(t0).Round(time.Millisecond), err)
			checkOutageError(t, err.Error(), srv.Addr)
			refused = append(refused, id)
		}
		cliID := fmt.Sprintf("rr-outage-cli-%d", r)
		code, stderr := cliSubmit(t, srv.URL, cliID)
		if code == 0 {
			t.Errorf("worker submit during the outage exited 0")
		} else {
			t.Logf("worker submit during the outage: exit %d: %s", code, strings.TrimSpace(stderr))
			checkOutageError(t, stderr, srv.Addr)
			refused = append(refused, cliID)
		}
		outage := plan.outage
		if stop.outage > 0 {
			outage = stop.outage
		}
		if d := outage - time.Since(down); d > 0 {
			time.Sleep(d)
		}
		if err := srv.Restart(); err != nil {
			t.Fatal(err)
		}
		up := time.Now()
		var cpu []string
		for i, w := range ws {
			cpu = append(cpu, fmt.Sprintf("%.2f", (cpuTime(w.cmd.Process.Pid)-cpu0[i]).Seconds()/up.Sub(down).Seconds()))
		}

		// Back: both workers ready again.
		var wg sync.WaitGroup
		ready := make([]time.Duration, len(ws))
		for i, w := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				deadline := time.Now().Add(time.Minute)
				for time.Now().Before(deadline) && w.alive() {
					if readyz(w) == http.StatusOK {
						ready[i] = time.Since(up)
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
				ready[i] = -1
			}()
		}
		wg.Wait()
		for i, d := range ready {
			if d < 0 {
				t.Fatalf("worker %d not ready within a minute of Redis's return (alive %v)", i+1, ws[i].alive())
			}
		}
		recoveries = append(recoveries, fmt.Sprintf("restart %d (%s, down %v): /readyz back after %v and %v; worker CPU during the outage %s of a core",
			r+1, how, up.Sub(down).Round(time.Millisecond), ready[0].Round(time.Millisecond), ready[1].Round(time.Millisecond), strings.Join(cpu, " and ")))
		if stop.whenLong {
			// Every slot is busy with a long job: the sign of work resuming is
			// their progress reaching Redis again.
			if d, ok := progressAfter(e, up, longIDs, time.Minute); ok {
				recoveries[len(recoveries)-1] += fmt.Sprintf("; first progress written %v after Redis's return", d.Round(time.Millisecond))
			} else {
				t.Errorf("restart %d: no progress from the long jobs within a minute of Redis's return", r+1)
			}
		} else if d, ok := firstStartAfter(up, ids, ws, 2*time.Minute); ok {
			recoveries[len(recoveries)-1] += fmt.Sprintf("; first job started %v after Redis's return", d.Round(time.Millisecond))
		} else {
			t.Errorf("restart %d: no job started within 2 minutes of Redis's return", r+1)
		}
	}

	// Every job enqueued completes. A job that finished while Redis was
	// down comes back through asynq's recoverer: 30 s lease + 30 s margin,
	// checked once a minute.
	st := e.waitAll(ids, 4*time.Minute)
	wall := time.Since(start)
	waitLogged(t, ids, ws...)
	tl := tally(ws...)
	var lost, dupRuns, extraRuns, dupPublish, skipped, attempt2, redelivered []string
	for _, id := range ids {
		s := st[id]
		if s == nil || s.Info.State != asynq.TaskStateCompleted {
			lost = append(lost, id)
			if s == nil {
				t.Errorf("%s: lost (not found)", id)
			} else {
				t.Errorf("%s: %s %q", id, s.Info.State, s.Info.LastErr)
			}
			continue
		}
		if n := tl.attempts[id]; n > 1 {
			dupRuns = append(dupRuns, id)
			for range n - 1 {
				extraRuns = append(extraRuns, id)
			}
		}
		if e.s3.masterPuts(outBucket, id+"/master.m3u8") > 1 {
			dupPublish = append(dupPublish, id)
		}
		if tl.published[id] > 0 {
			skipped = append(skipped, id)
		}
		if s.Result.Attempt != 1 {
			attempt2 = append(attempt2, fmt.Sprintf("%s(attempt %d, retried %d)", id, s.Result.Attempt, s.Info.Retried))
			if tl.attempts[id] == 1 {
				// Dequeued in Redis, the reply lost with the server: no
				// worker ran it until the lease expired.
				redelivered = append(redelivered, id)
			}
		}
		e.checkPublished(id, s.Result) // master.m3u8 put exactly once, tree complete
		if tl.attempts[id] == 0 {
			t.Errorf("%s: completed, but no worker logged an attempt", id)
		}
	}
	// The CLI's wait outlived the outages and reported the job's success.
	select {
	case <-waiter.done:
	case <-time.After(30 * time.Second):
		t.Errorf("worker submit --wait still waiting 30 s after its job completed")
	}
	if waiter.err != nil || !strings.Contains(waiter.stdout.String(), `"output": "s3://abr-out/rr-wait/master.m3u8"`) {
		t.Errorf("worker submit --wait across the restarts: %v\nstdout %q\nstderr %q", waiter.err, waiter.stdout.String(), waiter.stderr.String())
	}
	for _, id := range refused {
		if _, err := e.client.Status(id, ""); !errors.Is(err, asynq.ErrTaskNotFound) {
			t.Errorf("%s: submit reported a failure during the outage, yet Status says %v", id, err)
		}
	}
	for i, w := range ws {
		if !w.alive() {
			t.Errorf("worker %d died: %v", i+1, w.err)
		}
	}
	for _, s := range recoveries {
		t.Log(s)
	}
	// What asynq logged about Redis being away.
	var said []string
	for _, what := range []string{"Will retry syncing", "Dequeue error", "Failed to extend lease", "recoverer"} {
		n := 0
		for _, w := range ws {
			n += strings.Count(w.log.String(), what)
		}
		said = append(said, fmt.Sprintf("%q %d", what, n))
	}
	t.Logf("worker log lines: %s", strings.Join(said, ", "))
	t.Logf("%d jobs enqueued, %d restarts, all done in %v: %d completed, %d lost; %d transcoded more than once (%d extra transcodes: %v); "+
		"%d published twice; %d publishes skipped as already published; final result attempt > 1: %d %v, of which run once: %v",
		len(ids), len(plan.stops), wall.Round(time.Millisecond), len(ids)-len(lost), len(lost), len(dupRuns), len(extraRuns), dupRuns,
		len(dupPublish), len(skipped), len(attempt2), attempt2, redelivered)
}

// longActive says whether any long job is still active.
func longActive(e *env, ids []string) bool {
	for _, id := range ids {
		if s, err := e.client.Status(id, ""); err != nil || !s.Done() {
			return true
		}
	}
	return false
}

// checkOutageError checks that an enqueue error while Redis is down says
// what failed and where.
func checkOutageError(t *testing.T, msg, addr string) {
	t.Helper()
	for _, want := range []string{"enqueue", addr, "connection refused"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
}

// cliSubmit runs `worker submit` and returns its exit code and stderr.
func cliSubmit(t *testing.T, redisURL, id string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, workerBin, "submit", "--input", "s3://abr-in/small.mp4", "--output", "s3://abr-out/"+id, "--job-id", id)
	cmd.Env = append(os.Environ(), "ABRFLEET_REDIS_URL="+redisURL)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), stderr.String()
	case err != nil:
		t.Fatal(err)
	}
	return 0, stderr.String()
}

// cliWait is a running `worker submit --wait`.
type cliWait struct {
	stdout, stderr *syncBuffer
	done           chan struct{}
	err            error // after done
}

// startCLIWait starts `worker submit --wait` of a 2-rung job of small.mp4.
func startCLIWait(t *testing.T, redisURL, id string) *cliWait {
	t.Helper()
	ladderFile := filepath.Join(t.TempDir(), "ladder.json")
	data, _ := json.Marshal(twoRungs)
	if err := os.WriteFile(ladderFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	c := &cliWait{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd := exec.Command(workerBin, "submit", "--input", "s3://abr-in/small.mp4", "--output", "s3://abr-out/"+id,
		"--ladder-file", ladderFile, "--job-id", id, "--wait")
	cmd.Env = append(os.Environ(), "ABRFLEET_REDIS_URL="+redisURL)
	cmd.Stdout, cmd.Stderr = c.stdout, c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-c.done })
	return c
}

// readyz is the status of the worker's /readyz, 0 when it does not answer.
func readyz(p *proc) int {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + p.http + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// cpuTime is the user+system CPU time of process pid (not its children).
func cpuTime(pid int) time.Duration {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	// After the command: state is field 3, utime 14 and stime 15 (1-based).
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

// firstStartAfter waits until some job of ids has started after t0 and says
// how long after t0 the first did (from the workers' "job done" lines).
func firstStartAfter(t0 time.Time, ids []string, ws []*proc, d time.Duration) (time.Duration, bool) {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		first := time.Time{}
		for _, r := range workerRecords(ws...) {
			if r.Msg == "job done" && want[r.TaskID] && r.start().After(t0) && (first.IsZero() || r.start().Before(first)) {
				first = r.start()
			}
		}
		if !first.IsZero() {
			return first.Sub(t0), true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return 0, false
}

// progressAfter waits until the result of one of ids (running jobs) shows
// progress written after t0, or the job done, and says when that was seen.
// A job's result kept the last progress written before Redis went down.
func progressAfter(e *env, t0 time.Time, ids []string, d time.Duration) (time.Duration, bool) {
	frames := map[string]int64{}
	for _, id := range ids {
		if s, err := e.client.Status(id, ""); err == nil && s.Result != nil && s.Result.Progress != nil {
			frames[id] = s.Result.Progress.Frames
		}
	}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for _, id := range ids {
			s, err := e.client.Status(id, "")
			if err != nil {
				continue
			}
			if s.Done() || s.Result != nil && s.Result.Progress != nil && s.Result.Progress.Frames != frames[id] {
				return time.Since(t0), true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, false
}

// TestEnqueueToStart measures, on an idle worker, the time from Submit
// returning to the handler starting the job, one job at a time, with the
// tests' poll interval and with the production default. It prints the
// figures and asserts only that every job started once, in the window
// where it could, and completed.
func TestEnqueueToStart(t *testing.T) {
	if testing.Short() {
		t.Skip("sequential jobs")
	}
	runLatency(t, 20)
}

// TestEnqueueToStartSoak is TestEnqueueToStart with 200 jobs per poll interval.
func TestEnqueueToStartSoak(t *testing.T) {
	soakOnly(t)
	runLatency(t, 200)
}

// runLatency submits n jobs one at a time to one worker (1 batch slot),
// each once the previous is done: every other one at once ("back to back":
// the worker has just polled an empty queue and sleeps), the others after
// an idle gap drawn from [0, 2 poll intervals) ("idle": arrivals at random
// in the worker's poll cycle, as jobs arrive in production).
//
// The start signal is the worker's "job done" line: its time minus its
// wall_seconds is the instant ProcessTask began (late by one result write,
// well under a millisecond here). Workers and test share the host's clock.
func runLatency(t *testing.T, n int) {
	e := newEnv(t)
	e.s3.put(inBucket, "small.mp4", smallMP4)
	for _, poll := range []time.Duration{100 * time.Millisecond, worker.Default().PollInterval} {
		t.Run("poll="+poll.String(), func(t *testing.T) {
			e := *e
			e.t = t
			w := e.startWorker("ABRFLEET_POLL_INTERVAL=" + poll.String())
			type sample struct {
				id               string
				idle             bool // submitted after a random idle gap
				before, returned time.Time
				seen             time.Time // observed done
			}
			samples := make([]sample, n)
			ids := make([]string, n)
			for i := range samples {
				s := &samples[i]
				s.id = fmt.Sprintf("lat-%s-%03d", poll, i)
				ids[i] = s.id
				if s.idle = i%2 == 1; s.idle {
					time.Sleep(rand.N(2 * poll))
				}
				s.before = time.Now()
				e.submit(s.id, "small.mp4")
				s.returned = time.Now()
				st := e.waitDone(s.id, time.Minute)
				s.seen = time.Now()
				if st.Info.State != asynq.TaskStateCompleted {
					t.Fatalf("%s: %s %q", s.id, st.Info.State, st.Info.LastErr)
				}
			}
			waitLogged(t, ids, w)
			tl := tally(w)
			var idle, b2b, all, run []float64
			for _, s := range samples {
				done := tl.done[s.id]
				if len(done) != 1 || tl.attempts[s.id] != 1 || done[0].Attempt != 1 {
					t.Errorf("%s: %d attempts, %d done lines; want 1 on attempt 1", s.id, tl.attempts[s.id], len(done))
					continue
				}
				started := done[0].start()
				// The handler cannot start before the task exists, nor after it was seen done.
				if started.Before(s.before) || started.After(s.seen) {
					t.Errorf("%s: started at %v, outside submit (%v) .. seen done (%v)", s.id,
						started.Format(time.RFC3339Nano), s.before.Format(time.RFC3339Nano), s.seen.Format(time.RFC3339Nano))
					continue
				}
				ms := float64(started.Sub(s.returned)) / float64(time.Millisecond)
				if s.idle {
					idle = append(idle, ms)
				} else {
					b2b = append(b2b, ms)
				}
				all = append(all, ms)
				run = append(run, done[0].WallSeconds*1000)
			}
			t.Logf("poll %v, enqueue to handler start, idle worker (random arrival): %s", poll, summary(idle))
			t.Logf("poll %v, enqueue to handler start, back to back (just after a job): %s", poll, summary(b2b))
			t.Logf("poll %v, enqueue to handler start, all: %s", poll, summary(all))
			t.Logf("poll %v, handler run time: %s", poll, summary(run))
			_ = w.cmd.Process.Signal(syscall.SIGTERM)
			<-w.exited
		})
	}
}

// TestClientWaitRedisOutage: Client.Wait rides out a Redis outage shorter
// than WaitOutage, gives up after a longer one, and ends at once for a task
// that does not exist.
func TestClientWaitRedisOutage(t *testing.T) {
	srv := redistest.StartWith(t, redistest.Options{AppendOnly: true})
	c, err := worker.NewClient(srv.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WaitOutage = 4 * time.Second // more than the 1 s outage below plus go-redis's 1 s redial backoff
	p := &queue.Payload{Version: queue.Version, JobID: "w-1", Mode: ladder.Batch, Input: "s3://" + inBucket + "/small.mp4",
		Output: "s3://" + outBucket + "/w-1", Codec: "x264", Ladder: &queue.LadderRef{Inline: twoRungs}}
	if _, err := c.Submit(context.Background(), p, queue.Limits{}); err != nil {
		t.Fatal(err)
	}

	t0 := time.Now()
	if _, err := c.Wait(context.Background(), "nope", "", 100*time.Millisecond, nil); !errors.Is(err, asynq.ErrTaskNotFound) || time.Since(t0) > time.Second {
		t.Errorf("wait for a missing task: %v after %v, want not found at once", err, time.Since(t0))
	}

	// Shorter than WaitOutage: still waiting once Redis is back (no worker
	// runs the task, so it stays pending until ctx ends).
	srv.Kill()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var updates []time.Time
	done := make(chan struct{})
	var s *worker.Status
	go func() {
		defer close(done)
		s, err = c.Wait(ctx, "w-1", "", 100*time.Millisecond, func(*worker.Status) {
			mu.Lock()
			updates = append(updates, time.Now())
			mu.Unlock()
		})
	}()
	time.Sleep(time.Second)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	time.Sleep(2 * time.Second)
	cancel()
	<-done
	mu.Lock()
	n := len(updates)
	last := time.Time{}
	if n > 0 {
		last = updates[n-1]
	}
	mu.Unlock()
	if !errors.Is(err, context.Canceled) || s == nil || s.Info.State != asynq.TaskStatePending || !last.After(back) {
		t.Errorf("wait across a 1 s outage: %v, status %v, last update %v after Redis's return; want canceled while still following the pending task",
			err, s, last.Sub(back))
	}

	// Longer than WaitOutage: gives up, saying why.
	srv.Kill()
	t0 = time.Now()
	_, err = c.Wait(context.Background(), "w-1", "", 100*time.Millisecond, nil)
	d := time.Since(t0)
	if err == nil || !strings.Contains(err.Error(), "stopped waiting after Redis failed") || d < c.WaitOutage || d > c.WaitOutage+5*time.Second {
		t.Errorf("wait with Redis gone: %v after %v, want to stop waiting after %v", err, d, c.WaitOutage)
	} else {
		t.Logf("wait with Redis gone: %v after %v", err, d.Round(time.Millisecond))
	}
}
