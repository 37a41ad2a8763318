// Package queue is what abrfleet job producers (the bench, submitters) and
// workers share about transcode jobs on asynq: the task types and queues, the
// versioned JSON [Payload] with its validation, the task options, and the
// [Result] a worker writes back.
//
// Producers build tasks with [NewTask]; workers register handlers for
// [TypeBatch] and [TypeLive], serve [DefaultQueues], and read each task with
// [Decode], whose errors carry [asynq.SkipRetry] so that a payload that can
// never succeed is archived rather than retried.
package queue

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/abrfleet/abrfleet/ladder"
)

// Task types and the queues they are enqueued on, one per [ladder.Mode].
const (
	TypeBatch  = "transcode:batch" // file-to-file jobs, on QueueBatch
	TypeLive   = "transcode:live"  // real-time jobs, on QueueLive
	QueueBatch = "batch"
	QueueLive  = "live"
)

// Default queue weights: live jobs are dequeued twice as often as batch jobs.
const (
	DefaultLiveWeight  = 6
	DefaultBatchWeight = 3
)

// Task options set by [TaskOptions] on every task.
const (
	// MaxRetry is how many times a failed task is retried: 3. Failures
	// that are not the job's doing (a worker shutting down, a storage
	// outage) do not count.
	MaxRetry = 3
	// AsynqMaxRetry is the task's asynq MaxRetry: one more than MaxRetry.
	// asynq archives a task that fails at its last retry even when the
	// failure does not count, so the worker keeps a spare that asynq never
	// reaches and archives at MaxRetry itself.
	AsynqMaxRetry = MaxRetry + 1
	// TimeoutGrace is added to Payload.Timeout to give the asynq task
	// timeout, so the worker's own timeout fires first and it can still
	// write a result: 5m.
	TimeoutGrace = 5 * time.Minute
	// Retention keeps finished tasks, their results and their task IDs
	// (which deduplicate resubmits) in Redis for 7 days.
	Retention = 7 * 24 * time.Hour
)

// Retries is how many retries a task whose asynq MaxRetry is asynqMax
// gets: one fewer, the spare (see AsynqMaxRetry).
func Retries(asynqMax int) int { return max(asynqMax-1, 0) }

// Queues returns the asynq server queue weights (asynq.Config.Queues) for a
// worker serving both queues. A weight below 1 selects the default: live 6,
// batch 3, so live goes first by default. A worker that serves one queue only
// should list it alone: asynq ignores queues of weight 0 and serves its own
// "default" queue when none is left.
func Queues(liveWeight, batchWeight int) map[string]int {
	if liveWeight < 1 {
		liveWeight = DefaultLiveWeight
	}
	if batchWeight < 1 {
		batchWeight = DefaultBatchWeight
	}
	return map[string]int{QueueLive: liveWeight, QueueBatch: batchWeight}
}

// DefaultQueues returns Queues(DefaultLiveWeight, DefaultBatchWeight).
func DefaultQueues() map[string]int { return Queues(DefaultLiveWeight, DefaultBatchWeight) }

// route returns the task type and queue for m; anything but live is batch.
func route(m ladder.Mode) (typename, queue string) {
	if m == ladder.Live {
		return TypeLive, QueueLive
	}
	return TypeBatch, QueueBatch
}

// TaskOptions returns the options [NewTask] sets, for callers who build tasks
// themselves: the mode's queue, MaxRetry(AsynqMaxRetry), Timeout(p.Timeout + 5m),
// Retention(168h) and, when p.JobID is set, TaskID(p.JobID), so that
// enqueueing the same job again fails with asynq.ErrTaskIDConflict while the
// first is retained. p should have passed [Payload.Validate]; a zero Timeout
// means the mode's default (2h batch, 12h live), not clamped to any
// Limits.MaxTimeout.
func TaskOptions(p *Payload) []asynq.Option {
	_, queue := route(p.Mode)
	timeout := p.Timeout.Duration
	if timeout == 0 {
		timeout = defaultTimeout(p.Mode)
	}
	opts := []asynq.Option{
		asynq.Queue(queue),
		asynq.MaxRetry(AsynqMaxRetry),
		asynq.Timeout(timeout + TimeoutGrace),
		asynq.Retention(Retention),
	}
	if p.JobID != "" {
		opts = append(opts, asynq.TaskID(p.JobID))
	}
	return opts
}

// NewTask validates p against l and returns the task for its mode, carrying
// p with its defaults filled in (so the worker does not depend on its own
// defaults) and the options of [TaskOptions]. p is not modified. Errors are
// *InvalidPayloadError.
func NewTask(p *Payload, l Limits) (*asynq.Task, error) {
	q := p.withDefaults(l)
	if err := q.check(l); err != nil {
		return nil, err
	}
	data, err := json.Marshal(&q)
	if err != nil { // unreachable: every field marshals
		return nil, fmt.Errorf("queue: encode payload: %w", err)
	}
	typename, _ := route(q.Mode)
	return asynq.NewTask(typename, data, TaskOptions(&q)...), nil
}

// Decode parses and validates the payload of t, as [Parse] does, and checks
// that its mode matches the task type. Every error it returns wraps both an
// *InvalidPayloadError (so errors.Is(err, ErrInvalidPayload)) and
// asynq.SkipRetry, so a handler can return it as is and asynq archives the
// task instead of retrying it.
func Decode(t *asynq.Task, l Limits) (*Payload, error) {
	p, err := Parse(t.Payload(), l)
	if err == nil {
		if typename, _ := route(p.Mode); typename != t.Type() {
			err = &InvalidPayloadError{Field: "mode", Reason: fmt.Sprintf("%s does not match the task type", p.Mode)}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("task %s: %w: %w", t.Type(), err, asynq.SkipRetry)
	}
	return p, nil
}
