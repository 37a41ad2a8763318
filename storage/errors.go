package storage

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// Sentinel errors. Every error returned by this package is an *OpError (or
// wraps one) naming the step and the object; test the cause with errors.Is.
var (
	// ErrNotFound: the source object, or its bucket, does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrTooLarge: the source exceeds the caller's size limit.
	ErrTooLarge = errors.New("object exceeds size limit")
	// ErrAlreadyPublished: this job's output is already published; treat as success.
	ErrAlreadyPublished = errors.New("already published by this job")
	// ErrConflict: the destination holds another job's output (or unmarked data).
	ErrConflict = errors.New("destination holds another job's output")
	// ErrInvalidLocation: a location or job ID is malformed or has the wrong scheme.
	ErrInvalidLocation = errors.New("invalid location")
	// ErrTransient matches (via errors.Is) failures worth retrying later:
	// network errors, throttling and 5xx responses that outlived the SDK's own
	// retries, and interrupted downloads. Context cancellation never matches.
	ErrTransient = errors.New("transient failure")
)

// OpError records the step and object of a failure.
type OpError struct {
	Op     string // "fetch", "head", "upload", "publish", "sync", ...
	Object string // s3://bucket/key or a local path
	Err    error
}

func (e *OpError) Error() string { return "storage: " + e.Op + " " + e.Object + ": " + e.Err.Error() }
func (e *OpError) Unwrap() error { return e.Err }

// Is reports ErrTransient for errors the AWS SDK classifies as retryable.
func (e *OpError) Is(target error) bool { return target == ErrTransient && transient(e.Err) }

func opErr(op, object string, err error) error { return &OpError{Op: op, Object: object, Err: err} }

// transient classifies err with the SDK's own retry rules (the same ones
// that decided to give up), so the caller can retry the task later.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

// retryableError marks an error retryable through the SDK's
// interface{ RetryableError() bool } protocol.
type retryableError struct{ err error }

func (e retryableError) Error() string        { return e.err.Error() }
func (e retryableError) Unwrap() error        { return e.err }
func (e retryableError) RetryableError() bool { return true }
