package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/abrfleet/abrfleet/queue"
	"github.com/abrfleet/abrfleet/storage"
)

// Storage outages: a job is not archived because S3 was down.
//
// A job gets MaxRetry retries (default 3, about 70 s of delays): enough
// for a bad input or a crash, far too few for an S3 outage, during which
// every job that starts would fail its attempts and be archived with
// input_unreadable or output_write_failed while nothing was wrong with it.
// So an attempt that failed because the storage service itself failed
// (network errors, throttling and 5xx that outlived the SDK's own retries:
// storage.ErrTransient) is retried without counting against MaxRetry, for
// up to Config.OutageBudget from the task's first such failure. Past the
// budget, such failures count again, and the task is archived with its
// code once its retries are spent: an outage of hours is an incident for a
// person, not a queue to grow forever.
//
// The count and the time of the first outage failure live in fields of
// asynq's task hash, like the recoverer's count (recover.go), so they go
// with the task and every worker sees them; the clock is Redis's.
const (
	outageSinceField   = "abrfleet_outage_since"   // Redis time (s) of the first outage failure
	outageRetriesField = "abrfleet_outage_retries" // outage failures not counted as retries
	// outageMaxDelay caps the delay between outage retries, so jobs resume
	// within about a minute of the storage coming back.
	outageMaxDelay = time.Minute
)

// storageOutage reports whether a failed attempt's cause is the storage
// service being unavailable, rather than the job or its objects.
func storageOutage(je *JobError) bool {
	return !je.Permanent &&
		(je.Code == queue.CodeInputUnreadable || je.Code == queue.CodeOutputWriteFailed) &&
		errors.Is(je.Err, storage.ErrTransient)
}

// outageError is a storage-outage failure that does not count against the
// task's MaxRetry: asynq's IsFailure returns false for it, and retryDelay
// backs off on n instead of asynq's retry count.
type outageError struct {
	je      *JobError
	n       int           // outage failures of this task so far, this one included
	elapsed time.Duration // since the task's first outage failure
}

func (e *outageError) Error() string { return e.je.Error() }
func (e *outageError) Unwrap() error { return e.je }

// outageScript counts an outage failure of one task, if within the budget.
//
//	KEYS[1] the task's hash   ARGV[1] outageSinceField   ARGV[2] outageRetriesField
//	ARGV[3] the budget (s)
//
// It returns {uncounted failures so far, seconds since the first}; past
// the budget the count is left alone (asynq counts that failure). It
// returns nil when the task no longer exists, and creates nothing then.
var outageScript = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 0 then return nil end
local now = tonumber(redis.call("TIME")[1])
redis.call("HSETNX", KEYS[1], ARGV[1], now)
local elapsed = now - tonumber(redis.call("HGET", KEYS[1], ARGV[1]))
if elapsed >= tonumber(ARGV[3]) then
	return {tonumber(redis.call("HGET", KEYS[1], ARGV[2]) or "0"), elapsed}
end
return {redis.call("HINCRBY", KEYS[1], ARGV[2], 1), elapsed}`)

// outageRetry decides whether the failed attempt a, whose error is je, is
// retried without counting against MaxRetry. It returns the error to give
// asynq: an *outageError if so, else je. When Redis cannot say, the
// failure counts, as it would without this policy.
func (w *Worker) outageRetry(ctx context.Context, a *attempt, je *JobError) error {
	if w.cfg.OutageBudget <= 0 || !storageOutage(je) || a.id == "" {
		return je
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	budget := int64(max(w.cfg.OutageBudget/time.Second, 1))
	v, err := outageScript.Run(ctx, w.rdb, []string{asynqTaskKey(a.queue, a.id)}, outageSinceField, outageRetriesField, budget).Int64Slice()
	switch {
	case errors.Is(err, redis.Nil): // the task is gone
		return je
	case err == nil && len(v) != 2:
		err = fmt.Errorf("outage script returned %v", v)
	}
	if err != nil {
		a.log.Warn("count storage outage failure", "err", err)
		return je
	}
	oe := &outageError{je: je, n: int(v[0]), elapsed: time.Duration(v[1]) * time.Second}
	if v[1] >= budget {
		a.log.Warn("storage outage outlasted the budget: this failure counts as a retry",
			"code", je.Code, "outage_failures", oe.n, "since", oe.elapsed, "budget", w.cfg.OutageBudget)
		return je
	}
	w.metrics.outageRetries.WithLabelValues(a.typ).Inc()
	return oe
}

// note is what the attempt's result says of an uncounted retry.
func (e *outageError) note(budget time.Duration) string {
	return fmt.Sprintf("storage unavailable: retry not counted against max retries (outage failure %d, first %s ago, budget %s)",
		e.n, e.elapsed.Round(time.Second), budget)
}

// outageDelay is the delay before outage retry n (1-based): RetryDelay
// doubled per retry, capped at outageMaxDelay (and RetryMaxDelay).
func (w *Worker) outageDelay(n int) time.Duration {
	limit := max(min(outageMaxDelay, w.cfg.RetryMaxDelay), w.cfg.RetryDelay)
	return backoff(w.cfg.RetryDelay, limit, n-1)
}
