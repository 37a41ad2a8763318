package worker

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/abrfleet/abrfleet/queue"
)

// Recovery: a job whose worker died runs again within a minute, not
// asynq's two. It matters most for live streams (dark meanwhile), and
// batch jobs gain the same.
//
// asynq leases each running task for 30 s and renews the lease every 5 s
// while its worker lives. Once a worker dies, asynq's recoverer re-delivers
// its tasks when their lease has been expired for 30 s (a margin for clock
// skew), and it looks once a minute, from each server's start: a stream
// stays dark for 60 to 120 s. For a live stream that is too long (viewers
// leave; the stream's own feed is lost for that long), so every worker
// also runs a recoverer: every recoverInterval it moves the live and batch
// tasks whose lease expired more than recoverMargin ago back to the front
// of their queue. Worst case after a kill -9: 30 s (lease) + recoverMargin +
// recoverInterval = 50 s, then a free live slot's poll and the child's
// start.
//
// Why recoverMargin is safe: a worker that is alive but lost Redis cancels
// the attempt once its own lease has expired (asynq checks at each 5 s
// heartbeat) and its child stops within killGrace, 10 s after the lease
// expired at most, by the worker's clock; the margin adds 5 s for skew
// between that clock and Redis's, which the script reads (TIME). So two
// attempts never write one stream at once, as live.go requires.
//
// The move is asynq's own Requeue (the script it runs on shutdown to hand a
// task back) behind the lease check, on asynq v0.26's keys: TestLiveRecoverKeys
// pins them. It does not count as a retry (asynq's Retried is inside the
// encoded message, which only asynq rewrites): instead the script counts
// recoveries in a field of the task's own hash, which goes with the task;
// after maxRecoveries the task is left to asynq's recoverer, which counts
// retries and archives at the task's asynq MaxRetry (queue.AsynqMaxRetry),
// so a job that kills every worker it lands on does not loop forever.
// (Transcodes run in child processes, so a worker's death is rarely the
// job's doing.)
const (
	recoverInterval = 5 * time.Second
	recoverMargin   = 15 * time.Second
	maxRecoveries   = 5
	// recoveriesField is the field of asynq's task hash holding the count.
	recoveriesField = "abrfleet_recoveries"
)

// recoverScript moves the tasks of one queue whose lease expired before
// now - ARGV[2] seconds (now from Redis) from active to pending.
//
//	KEYS[1] asynq:{q}:lease   KEYS[2] asynq:{q}:active   KEYS[3] asynq:{q}:pending
//	ARGV[1] asynq:{q}:t:      ARGV[2] margin (s)         ARGV[3] max recoveries
//	ARGV[4] the recoveries field
//
// It returns the ids it moved.
var recoverScript = redis.NewScript(`
local now = redis.call("TIME")
local cutoff = tonumber(now[1]) - tonumber(ARGV[2])
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", "(" .. cutoff)
local moved = {}
for _, id in ipairs(ids) do
	local key = ARGV[1] .. id
	local n = tonumber(redis.call("HGET", key, ARGV[4]) or "0")
	if n < tonumber(ARGV[3]) and redis.call("LREM", KEYS[2], 0, id) > 0 then
		redis.call("ZREM", KEYS[1], id)
		redis.call("HINCRBY", key, ARGV[4], 1)
		redis.call("HSET", key, "state", "pending")
		redis.call("RPUSH", KEYS[3], id)
		table.insert(moved, id)
	end
end
return moved`)

// asynq v0.26's keys of queue q (internal/base/base.go).
func asynqQueuePrefix(q string) string { return "asynq:{" + q + "}:" }
func asynqTaskKey(q, id string) string { return asynqQueuePrefix(q) + "t:" + id }

// recoverQueue runs one pass over queue q and returns the task IDs it put
// back.
func recoverQueue(ctx context.Context, rdb redis.UniversalClient, q string, margin time.Duration) ([]string, error) {
	p := asynqQueuePrefix(q)
	res, err := recoverScript.Run(ctx, rdb, []string{p + "lease", p + "active", p + "pending"},
		p+"t:", int64(margin/time.Second), maxRecoveries, recoveriesField).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("recover %s tasks: %w", q, err)
	}
	return res, nil
}

// uncounted returns the task's attempts that asynq's retry count leaves
// out: those a recoverer put back, and those failed by a storage outage
// (outage.go).
func uncounted(ctx context.Context, rdb redis.UniversalClient, q, id string) (recovered, outages int, err error) {
	fields := [2]string{recoveriesField, outageRetriesField}
	v, err := rdb.HMGet(ctx, asynqTaskKey(q, id), fields[:]...).Result()
	if err != nil {
		return 0, 0, err
	}
	var n [2]int
	for i, x := range v {
		if s, ok := x.(string); ok {
			if n[i], err = strconv.Atoi(s); err != nil {
				return 0, 0, fmt.Errorf("task %s field %s: %w", id, fields[i], err)
			}
		}
	}
	return n[0], n[1], nil
}

// runRecoverer calls recoverQueue on the live and batch queues every
// recoverInterval until ctx ends.
func (w *Worker) runRecoverer(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(recoverInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, q := range []string{queue.QueueLive, queue.QueueBatch} {
			ids, err := recoverQueue(ctx, w.rdb, q, recoverMargin)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("recovery", "queue", q, "err", err) // Redis away: the next pass tries again
				}
				continue
			}
			for _, id := range ids {
				w.metrics.recovered.WithLabelValues(q).Inc()
				log.Warn("the job's worker is gone: put it back at the front of its queue", "queue", q, "task_id", id)
			}
		}
	}
}
