package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/abrfleet/abrfleet/internal/redistest"
	"github.com/abrfleet/abrfleet/queue"
	"github.com/abrfleet/abrfleet/storage"
)

// retryableErr is what the AWS SDK calls retryable (its
// interface{ RetryableError() bool } protocol), as a 500 after its own
// retries is.
type retryableErr struct{}

func (retryableErr) Error() string {
	return "api error InternalError: We encountered an internal error"
}
func (retryableErr) RetryableError() bool { return true }

func TestStorageOutage(t *testing.T) {
	down := &storage.OpError{Op: "fetch", Object: "s3://in/a.mp4", Err: retryableErr{}}
	for _, tc := range []struct {
		name string
		je   *JobError
		want bool
	}{
		{"fetch, S3 down", fetchError("s3://in/a.mp4", down), true},
		{"publish, S3 down", publishError("s3://out/j", fmt.Errorf("upload: %w", down)), true},
		{"fetch, not found", fetchError("s3://in/a.mp4", &storage.OpError{Op: "fetch", Object: "s3://in/a.mp4", Err: storage.ErrNotFound}), false},
		{"fetch, 403", fetchError("s3://in/a.mp4", &storage.OpError{Op: "fetch", Object: "s3://in/a.mp4", Err: errors.New("api error AccessDenied")}), false},
		{"fetch, canceled", fetchError("s3://in/a.mp4", &storage.OpError{Op: "fetch", Object: "s3://in/a.mp4", Err: context.Canceled}), false},
		{"publish, disk full", publishError("/out/j", &storage.OpError{Op: "publish", Object: "/out/j", Err: syscall.ENOSPC}), false},
		{"publish, conflict", publishError("s3://out/j", &storage.OpError{Op: "publish", Object: "s3://out/j", Err: storage.ErrConflict}), false},
		{"transcode, retryable cause", &JobError{Code: queue.CodeInternal, Op: "job", Err: down}, false},
	} {
		if got := storageOutage(tc.je); got != tc.want {
			t.Errorf("%s (%v): storageOutage %v, want %v", tc.name, tc.je, got, tc.want)
		}
	}
}

func TestOutageDelay(t *testing.T) {
	for _, tc := range []struct {
		delay, maxDelay time.Duration
		want            []time.Duration // for n = 1, 2, ...
	}{
		{10 * time.Second, 10 * time.Minute, []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute}},
		{time.Second, 3 * time.Second, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}},
		{2 * time.Minute, 10 * time.Minute, []time.Duration{2 * time.Minute, 2 * time.Minute}}, // never below RetryDelay
	} {
		w := &Worker{cfg: Config{RetryDelay: tc.delay, RetryMaxDelay: tc.maxDelay}}
		for i, want := range tc.want {
			if got := w.outageDelay(i + 1); got != want {
				t.Errorf("retry delay %v, max %v: outage retry %d waits %v, want %v", tc.delay, tc.maxDelay, i+1, got, want)
			}
		}
	}
}

// TestOutageRetry counts outage failures in the task's hash on a real
// Redis: uncounted while within the budget, counted past it, nothing
// written for a task that is gone, and asynq sees the difference through
// IsFailure.
func TestOutageRetry(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	w := &Worker{cfg: Config{OutageBudget: time.Hour}, rdb: rdb, metrics: newMetrics(nil, log)}
	a := &attempt{id: "job-1", queue: queue.QueueBatch, typ: "batch", log: log}
	key := asynqTaskKey(a.queue, a.id)
	je := fetchError("s3://in/a.mp4", &storage.OpError{Op: "fetch", Object: "s3://in/a.mp4", Err: retryableErr{}})

	// The task is gone (deleted meanwhile): the failure counts, and no
	// stray hash is created.
	if err := w.outageRetry(ctx, a, je); err != error(je) {
		t.Errorf("no task: got %v, want the JobError itself", err)
	}
	if n, _ := rdb.Exists(ctx, key).Result(); n != 0 {
		t.Error("outageRetry created the hash of a task that does not exist")
	}

	if err := rdb.HSet(ctx, key, "state", "active").Err(); err != nil {
		t.Fatal(err)
	}
	for want := 1; want <= 3; want++ {
		err := w.outageRetry(ctx, a, je)
		var oe *outageError
		if !errors.As(err, &oe) || oe.n != want || oe.elapsed > 2*time.Second {
			t.Fatalf("outage failure %d: got %#v", want, err)
		}
		if isFailure(err) || !isFailure(je) {
			t.Error("isFailure: want false for the outage retry, true for the JobError")
		}
		var got *JobError
		if !errors.As(err, &got) || got != je || errors.Is(err, asynq.SkipRetry) {
			t.Error("the outage retry does not unwrap to its non-permanent JobError")
		}
	}
	if _, outages, err := uncounted(ctx, rdb, a.queue, a.id); err != nil || outages != 3 {
		t.Errorf("uncounted: %d outage failures, %v; want 3", outages, err)
	}

	// Past the budget: the first outage failure was two hours ago.
	now, err := rdb.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, key, outageSinceField, strconv.FormatInt(now.Add(-2*time.Hour).Unix(), 10)).Err(); err != nil {
		t.Fatal(err)
	}
	before, _ := rdb.HGet(ctx, key, outageRetriesField).Result()
	if err := w.outageRetry(ctx, a, je); err != error(je) || !isFailure(err) {
		t.Errorf("past the budget: got %v, want the JobError, counted", err)
	}

	// Not an outage, or the policy off: counted, nothing written.
	notFound := fetchError("s3://in/a.mp4", storage.ErrNotFound)
	if err := w.outageRetry(ctx, a, notFound); err != error(notFound) {
		t.Errorf("not found: got %v", err)
	}
	w.cfg.OutageBudget = 0
	if err := w.outageRetry(ctx, a, je); err != error(je) {
		t.Errorf("budget 0: got %v", err)
	}
	if after, _ := rdb.HGet(ctx, key, outageRetriesField).Result(); after != before {
		t.Errorf("uncounted outage failures went from %s to %s for failures asynq counts", before, after)
	}
}

// TestRetryLimitSpare runs the retry policy on a real asynq server: a task
// fails 3 counted times, is handed back on its last attempt (a shutdown),
// and must run again rather than be archived; its next counted failure
// archives it, with 3 retries counted. The same task with asynq's
// MaxRetry at 3 (no spare) shows why the spare exists: asynq v0.26
// archives the hand-back.
func TestRetryLimitSpare(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	insp := asynq.NewInspectorFromRedisClient(rdb)
	failed := &JobError{Code: queue.CodeInternal, Op: "job", Err: errors.New("boom")}
	handback := classify(fmt.Errorf("stop: %w", errHandback), false)

	type run struct{ retried int }
	runs := make(chan run, 16)
	s := asynq.NewServerFromRedisClient(rdb, asynq.Config{Concurrency: 1, Queues: map[string]int{queue.QueueBatch: 1},
		TaskCheckInterval: 20 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond,
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return 0 }, IsFailure: isFailure,
		Logger: asynqLogger{slog.New(slog.DiscardHandler)}, LogLevel: asynq.FatalLevel})
	handedBack := map[string]bool{}
	if err := s.Start(asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		retried, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		runs <- run{retried}
		var err error = failed
		if retried == queue.MaxRetry && !handedBack[id] {
			handedBack[id] = true
			err = handback
		}
		if id == "no-spare" { // the policy before the spare: asynq's limit alone
			return err
		}
		return exhaust(err, err.(*JobError), retried, maxRetry)
	})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	client := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { client.Close() })

	finalState := func(id string) *asynq.TaskInfo {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if info, err := insp.GetTaskInfo(queue.QueueBatch, id); err == nil && info.State == asynq.TaskStateArchived {
				return info
			}
		}
		info, err := insp.GetTaskInfo(queue.QueueBatch, id)
		t.Fatalf("%s not archived within 20 s: %+v, %v", id, info, err)
		return nil
	}
	drain := func() (rs []int) {
		for {
			select {
			case r := <-runs:
				rs = append(rs, r.retried)
			default:
				return rs
			}
		}
	}

	p := &queue.Payload{Version: queue.Version, JobID: "spare", Mode: "batch"}
	if _, err := client.Enqueue(asynq.NewTask(queue.TypeBatch, nil), queue.TaskOptions(p)...); err != nil {
		t.Fatal(err)
	}
	info := finalState("spare")
	got := drain()
	t.Logf("with the spare: runs at retried %v, archived with %d retries: %q", got, info.Retried, info.LastErr)
	if fmt.Sprint(got) != "[0 1 2 3 3]" || info.Retried != queue.MaxRetry {
		t.Errorf("runs at retried %v, archived at %d: want [0 1 2 3 3] (the hand-back ran again), archived at %d",
			got, info.Retried, queue.MaxRetry)
	}

	if _, err := client.Enqueue(asynq.NewTask(queue.TypeBatch, nil), asynq.Queue(queue.QueueBatch), asynq.TaskID("no-spare"),
		asynq.MaxRetry(queue.MaxRetry)); err != nil {
		t.Fatal(err)
	}
	info = finalState("no-spare")
	got = drain()
	t.Logf("without the spare (asynq's behaviour): runs at retried %v, archived: %q", got, info.LastErr)
	if fmt.Sprint(got) != "[0 1 2 3]" {
		t.Errorf("without the spare, runs at retried %v: asynq no longer archives a hand-back at the last retry? "+
			"(then queue.AsynqMaxRetry's spare is not needed)", got)
	}
}
