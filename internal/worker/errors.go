package worker

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/hibiken/asynq"

	"github.com/abrfleet/abrfleet/queue"
	"github.com/abrfleet/abrfleet/storage"
)

const (
	codeInputTooLarge    = queue.CodeInputTooLarge
	codeNVDECUnavailable = queue.CodeNVDECUnavailable
)

// JobError is a failed attempt: its result code, the step and object, the
// cause, and whether retrying can help. The retry policy lives here:
// errors.Is(err, asynq.SkipRetry) is true exactly when Permanent, so asynq
// archives the task instead of retrying it.
type JobError struct {
	Code      queue.Code
	Op        string // the step and its object, e.g. "fetch s3://b/k"
	Err       error
	Permanent bool
}

func (e *JobError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("%s: %s", e.Code, e.Op)
	}
	return fmt.Sprintf("%s: %s: %v", e.Code, e.Op, e.Err)
}

func (e *JobError) Unwrap() error { return e.Err }

// Is makes a permanent JobError match asynq.SkipRetry.
func (e *JobError) Is(target error) bool { return e.Permanent && target == asynq.SkipRetry }

// exhaustedError is a counted failure of a task that has no retry left:
// it matches asynq.SkipRetry, so asynq archives the task.
//
// Why the worker, not asynq, enforces the retry limit: asynq v0.26
// archives a task that fails at Retried == MaxRetry whatever the error,
// even one its IsFailure does not count (a hand-back at shutdown, a
// storage outage): a live stream whose retries were spent would be
// archived by the next rolling deploy. So tasks carry one spare
// (queue.AsynqMaxRetry = queue.MaxRetry + 1) that asynq never reaches,
// and exhaust archives counted failures at maxRetry - 1.
type exhaustedError struct {
	je      *JobError
	retries int // the retries the task had
}

func (e *exhaustedError) Error() string   { return e.je.Error() }
func (e *exhaustedError) Unwrap() []error { return []error{e.je, asynq.SkipRetry} }
func (e *exhaustedError) note() string {
	return fmt.Sprintf("not retrying: %d of %d retries used", e.retries, e.retries)
}

// exhaust returns ret, the error for asynq of a failed attempt whose
// JobError is je, as an *exhaustedError when it counts as a failure and
// the task has already been retried maxRetry - 1 times (see
// exhaustedError). Permanent errors and uncounted ones are returned as is.
func exhaust(ret error, je *JobError, retried, maxRetry int) error {
	if je.Permanent || !isFailure(ret) {
		return ret
	}
	if limit := queue.Retries(maxRetry); retried >= limit {
		return &exhaustedError{je: je, retries: limit}
	}
	return ret
}

// errHandback is the cause of a job canceled because the worker is shutting
// down: the task goes back to its queue without counting as a failure.
var errHandback = errors.New("worker shutting down: job handed back to the queue")

// errJobTimeout is the cause of a job that ran past its payload's timeout.
var errJobTimeout = errors.New("job timeout")

// classify turns any error of an attempt into a *JobError with its code and
// retry policy. prevCrashed says the previous attempt of this task ended
// with transcoder_crashed: a second crash in a row is permanent.
func classify(err error, prevCrashed bool) *JobError {
	var (
		je    *JobError
		crash *CrashError
	)
	switch {
	case errors.As(err, &je):
		return je
	case errors.As(err, &crash):
		return &JobError{Code: queue.CodeTranscoderCrashed, Op: "transcode", Err: err, Permanent: prevCrashed}
	case errors.Is(err, errHandback):
		return &JobError{Code: queue.CodeCanceled, Op: "shutdown", Err: err}
	case errors.Is(err, errJobTimeout) || errors.Is(err, context.DeadlineExceeded):
		// The caller's own bound: the same input on another attempt would
		// meet the same bound.
		return &JobError{Code: queue.CodeTimeout, Op: "job", Err: err, Permanent: true}
	case errors.Is(err, context.Canceled):
		return &JobError{Code: queue.CodeCanceled, Op: "job", Err: err}
	case noSpace(err):
		return &JobError{Code: queue.CodeNoSpace, Op: "job", Err: err}
	}
	return &JobError{Code: queue.CodeInternal, Op: "job", Err: err}
}

// noSpace reports a write refused because a disk is full or over quota.
// It is not permanent: space may be freed (the attempt's own job directory
// is removed as it ends) before the retry.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// fetchError classifies a storage.Fetch failure of the input at src.
func fetchError(src string, err error) *JobError {
	je := &JobError{Code: queue.CodeInputUnreadable, Op: "fetch " + src, Err: err}
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrInvalidLocation):
		je.Permanent = true // objects do not appear by retrying
	case errors.Is(err, storage.ErrTooLarge):
		je.Code, je.Permanent = codeInputTooLarge, true
	case noSpace(err): // the download filled the work directory's disk
		je.Code = queue.CodeNoSpace
	}
	return je
}

// publishError classifies a storage publish failure.
func publishError(dst string, err error) *JobError {
	code := queue.CodeOutputWriteFailed
	if noSpace(err) { // a local destination's disk is full
		code = queue.CodeNoSpace
	}
	return &JobError{Code: code, Op: "publish " + dst, Err: err,
		Permanent: errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrInvalidLocation)}
}
