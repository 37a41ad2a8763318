package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/abrfleet/abrfleet/queue"
)

// Client is the submitter's side: submit, status, wait and cancel.
type Client struct {
	rdb    redis.UniversalClient
	client *asynq.Client
	insp   *asynq.Inspector

	// WaitOutage is how long Wait keeps polling while Redis does not
	// answer; NewClient sets DefaultWaitOutage.
	WaitOutage time.Duration
}

// DefaultWaitOutage is Client.WaitOutage unless changed. The task lives in
// Redis, not in the waiting client: it runs on through a Redis restart or
// failover, so an unanswered poll is not the task's end, and giving up at
// once would look like a failed job to a script (both exit 1 in
// `worker submit --wait`).
const DefaultWaitOutage = 2 * time.Minute

// NewClient connects to the Redis of redisURL (see Config.RedisURL).
func NewClient(redisURL, password, caFile string) (*Client, error) {
	opt, err := ParseRedis(redisURL, password, caFile)
	if err != nil {
		return nil, err
	}
	rdb, err := newRedisClient(opt)
	if err != nil {
		return nil, err
	}
	return &Client{rdb: rdb, client: asynq.NewClientFromRedisClient(rdb), insp: asynq.NewInspectorFromRedisClient(rdb),
		WaitOutage: DefaultWaitOutage}, nil
}

// Close closes the connection (the asynq client and inspector share it).
func (c *Client) Close() error { return c.rdb.Close() }

// Submit validates p against l and enqueues it.
func (c *Client) Submit(ctx context.Context, p *queue.Payload, l queue.Limits) (*asynq.TaskInfo, error) {
	t, err := queue.NewTask(p, l)
	if err != nil {
		return nil, err
	}
	info, err := c.client.EnqueueContext(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("enqueue %s: %w", t.Type(), err)
	}
	return info, nil
}

// Status is a task and its decoded result.
type Status struct {
	Info   *asynq.TaskInfo
	Result *queue.Result // nil before the first report
	// RungBytes are the encoded bytes per rung so far, while running.
	RungBytes map[string]int64
}

// Done reports a task that will not run again: completed or archived.
func (s *Status) Done() bool {
	return s.Info.State == asynq.TaskStateCompleted || s.Info.State == asynq.TaskStateArchived
}

// Status finds task id in queueName, or in the live and batch queues when
// queueName is "".
func (c *Client) Status(id, queueName string) (*Status, error) {
	queues := []string{queue.QueueBatch, queue.QueueLive}
	if queueName != "" {
		queues = []string{queueName}
	}
	for _, q := range queues {
		info, err := c.insp.GetTaskInfo(q, id)
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("task %s in queue %s: %w", id, q, err)
		}
		s := &Status{Info: info}
		if len(info.Result) > 0 {
			var r progressResult
			if err := json.Unmarshal(info.Result, &r); err != nil {
				return nil, fmt.Errorf("task %s: result: %w", id, err)
			}
			s.Result = &r.Result
			if r.Progress != nil {
				s.RungBytes = r.Progress.RungBytes
			}
		}
		return s, nil
	}
	return nil, fmt.Errorf("task %s: %w", id, asynq.ErrTaskNotFound)
}

// Wait polls the task every interval until it is completed or archived, or
// ctx ends, calling onUpdate with each status. It ends at once when the
// task is not found, and when Redis has failed every poll for c.WaitOutage.
func (c *Client) Wait(ctx context.Context, id, queueName string, interval time.Duration, onUpdate func(*Status)) (*Status, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last *Status
	var failingSince time.Time
	for {
		s, err := c.Status(id, queueName)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound):
			return nil, err
		case err != nil:
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			if d := time.Since(failingSince); d >= c.WaitOutage {
				return nil, fmt.Errorf("stopped waiting after Redis failed for %v (task %s may still run): %w", d.Round(time.Second), id, err)
			}
		default:
			failingSince = time.Time{}
			last = s
			if onUpdate != nil {
				onUpdate(s)
			}
			if s.Done() {
				return s, nil
			}
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-t.C:
		}
	}
}

// Cancel stops task id: a pending, scheduled or retrying task is deleted;
// a running one is canceled (its transcode child is killed) and, once it
// has left the active state, archived so that it does not run again. It
// returns what it did.
func (c *Client) Cancel(ctx context.Context, id, queueName string) (string, error) {
	s, err := c.Status(id, queueName)
	if err != nil {
		return "", err
	}
	q := s.Info.Queue
	switch s.Info.State {
	case asynq.TaskStateCompleted, asynq.TaskStateArchived:
		return "", fmt.Errorf("task %s is already %s", id, s.Info.State)
	case asynq.TaskStateActive:
		if err := c.insp.CancelProcessing(id); err != nil {
			return "", fmt.Errorf("cancel task %s: %w", id, err)
		}
		// The worker moves it to retry (or archive) once its handler returns.
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for s.Info.State == asynq.TaskStateActive {
			select {
			case <-ctx.Done():
				return "", fmt.Errorf("task %s: still active after cancel: %w", id, ctx.Err())
			case <-t.C:
			}
			if s, err = c.Status(id, q); err != nil {
				return "", err
			}
		}
		if s.Info.State == asynq.TaskStateArchived {
			return "canceled", nil
		}
		if err := c.insp.ArchiveTask(q, id); err != nil {
			return "", fmt.Errorf("archive canceled task %s: %w", id, err)
		}
		return "canceled and archived", nil
	}
	if err := c.insp.DeleteTask(q, id); err != nil {
		return "", fmt.Errorf("delete task %s: %w", id, err)
	}
	return "deleted from " + s.Info.State.String(), nil
}
