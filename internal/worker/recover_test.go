package worker

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/abrfleet/abrfleet/internal/redistest"
	"github.com/abrfleet/abrfleet/queue"
)

// TestLiveRecoverKeys runs the live recoverer against real asynq servers on
// a real Redis: it pins the asynq v0.26 keys and states the script relies
// on. A task leased by server A is left alone while the lease is fresh; once
// the lease has lapsed (as when A's process died) it goes back to pending,
// counted in the task's hash and not as a retry, and server B runs it.
func TestLiveRecoverKeys(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	if _, err := client.Enqueue(asynq.NewTask(queue.TypeLive, []byte("{}")), asynq.Queue(queue.QueueLive), asynq.TaskID("stream-1"), asynq.MaxRetry(3)); err != nil {
		t.Fatal(err)
	}

	started := make(chan string, 4)
	serve := func(name string) {
		s := asynq.NewServerFromRedisClient(rdb, asynq.Config{Concurrency: 1, Queues: map[string]int{queue.QueueLive: 1},
			TaskCheckInterval: 50 * time.Millisecond, ShutdownTimeout: 100 * time.Millisecond, Logger: asynqLogger{slog.New(slog.DiscardHandler)}})
		if err := s.Start(asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
			id, _ := asynq.GetTaskID(ctx)
			started <- name + ":" + id
			<-ctx.Done() // a stream runs until its worker goes
			return ctx.Err()
		})); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Shutdown)
	}
	serve("A")
	if got := recv(t, started); got != "A:stream-1" {
		t.Fatalf("started %s, want A:stream-1", got)
	}

	ctx := context.Background()
	moved, err := recoverQueue(ctx, rdb, queue.QueueLive, recoverMargin)
	if err != nil || len(moved) != 0 {
		t.Fatalf("fresh lease: recovered %v, %v; want nothing", moved, err)
	}

	// A stops renewing the lease, as a dead process does: its last renewal
	// 50 s ago. The lease write and the pass run in one transaction, so A's
	// heartbeat (which only extends leases still present) cannot come between.
	lapse := func() []string {
		t.Helper()
		var run *redis.Cmd
		_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.ZAdd(ctx, asynqQueuePrefix(queue.QueueLive)+"lease", redis.Z{Member: "stream-1", Score: float64(time.Now().Add(-50 * time.Second).Unix())})
			pre := asynqQueuePrefix(queue.QueueLive)
			run = recoverScript.Eval(ctx, p, []string{pre + "lease", pre + "active", pre + "pending"},
				pre+"t:", int64(recoverMargin/time.Second), maxRecoveries, recoveriesField)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		ids, err := run.StringSlice()
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if moved := lapse(); len(moved) != 1 || moved[0] != "stream-1" {
		t.Fatalf("lapsed lease: recovered %v, want [stream-1]", moved)
	}
	info, err := insp.GetTaskInfo(queue.QueueLive, "stream-1")
	if err != nil {
		t.Fatal(err)
	}
	if info.State != asynq.TaskStatePending || info.Retried != 0 {
		t.Fatalf("after recovery: state %s, retried %d; want pending, 0", info.State, info.Retried)
	}
	if n, _, err := uncounted(ctx, rdb, queue.QueueLive, "stream-1"); err != nil || n != 1 {
		t.Fatalf("recoveries %d, %v; want 1", n, err)
	}
	serve("B")
	if got := recv(t, started); got != "B:stream-1" {
		t.Fatalf("started %s, want B:stream-1", got)
	}

	// A task put back maxRecoveries times is left to asynq's recoverer,
	// which counts retries.
	if err := rdb.HSet(ctx, asynqTaskKey(queue.QueueLive, "stream-1"), recoveriesField, maxRecoveries).Err(); err != nil {
		t.Fatal(err)
	}
	if moved := lapse(); len(moved) != 0 {
		t.Fatalf("after %d recoveries: recovered %v, want nothing", maxRecoveries, moved)
	}
	if info, err := insp.GetTaskInfo(queue.QueueLive, "stream-1"); err != nil || info.State != asynq.TaskStateActive {
		t.Fatalf("after the recoverer gave up: %+v, %v; want the task still active", info, err)
	}
}

func recv(t *testing.T, c <-chan string) string {
	t.Helper()
	select {
	case s := <-c:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no task started within 10 s")
		return ""
	}
}
