package transcode

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/asticode/go-astiav"
)

// Code is a stable, machine-readable failure class. Workers put it in task results and
// metrics labels, so values never change meaning once released.
type Code string

// The codes transcode returns. The worker adds its own (invalid_payload, transcoder_crashed).
const (
	CodeInputUnreadable   Code = "input_unreadable"    // the input cannot be opened or read
	CodeInputInvalid      Code = "input_invalid"       // the input is not media we can decode
	CodeNoVideoStream     Code = "no_video_stream"     // the input has no decodable video
	CodeUnsupportedCodec  Code = "unsupported_codec"   // no decoder for the input's codec
	CodeInputTooLarge     Code = "input_too_large"     // dimensions, duration, size or memory over the configured limits
	CodeNVENCUnavailable  Code = "nvenc_unavailable"   // NVENC was asked for and cannot open here
	CodeNVDECUnavailable  Code = "nvdec_unavailable"   // NVDEC was required and cannot open here
	CodeOutputWriteFailed Code = "output_write_failed" // writing an output failed
	CodeNoSpace           Code = "no_space"            // writing an output failed: the disk is full or over quota (ENOSPC, EDQUOT)
	CodeCanceled          Code = "canceled"            // the context was canceled
	CodeTimeout           Code = "timeout"             // the context's deadline passed
	CodeInternal          Code = "internal"            // a fault of ours or of FFmpeg's
)

// BadInput reports whether c describes the input itself: retrying the same input cannot help.
func (c Code) BadInput() bool {
	switch c {
	case CodeInputInvalid, CodeNoVideoStream, CodeUnsupportedCodec, CodeInputTooLarge:
		return true
	}
	return false
}

// Sentinels for errors.Is. Retry policy keys off these (or off Code), never off message text.
var (
	// ErrBadInput matches every error whose Code is a bad-input code.
	ErrBadInput = errors.New("bad input")
	// ErrNVENCUnavailable matches an NVENC encoder that could not be opened on this host.
	ErrNVENCUnavailable = errors.New("NVENC unavailable")
	// ErrNVDECUnavailable matches a CUDA decode device that could not be created on this host.
	ErrNVDECUnavailable = errors.New("NVDEC unavailable")
)

// Error is the error type every exported function of transcode returns.
type Error struct {
	Code Code   // stable class
	Op   string // the step and object, e.g. `rung 720p: open encoder libx264`
	Err  error  // the cause (often an astiav.Error carrying FFmpeg's message)
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("%s: %s", e.Code, e.Op)
	}
	return fmt.Sprintf("%s: %s: %v", e.Code, e.Op, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is(err, ErrBadInput) and errors.Is(err, ErrNVENCUnavailable) match by Code.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrBadInput:
		return e.Code.BadInput()
	case ErrNVENCUnavailable:
		return e.Code == CodeNVENCUnavailable
	case ErrNVDECUnavailable:
		return e.Code == CodeNVDECUnavailable
	}
	return false
}

// newError is an *Error. An output write that failed for want of space is CodeNoSpace: the
// disk may have room on another attempt, where other output write failures say nothing.
func newError(code Code, op string, err error) *Error {
	if code == CodeOutputWriteFailed && isNoSpace(err) {
		code = CodeNoSpace
	}
	return &Error{Code: code, Op: op, Err: err}
}

// AVERROR(ENOSPC) and AVERROR(EDQUOT): FFmpeg's file protocol returns AVERROR(errno) when
// write(2) fails, and the muxers pass it on.
const (
	errENOSPC = astiav.Error(-int(syscall.ENOSPC))
	errEDQUOT = astiav.Error(-int(syscall.EDQUOT))
)

// isNoSpace reports whether err is a write refused for want of space: ENOSPC or EDQUOT,
// from Go (a *PathError's syscall.Errno) or from FFmpeg (AVERROR of either).
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		errors.Is(err, errENOSPC) || errors.Is(err, errEDQUOT)
}

// CodeOf returns the Code of the first *Error in err's chain; context errors map to canceled
// and timeout; anything else is internal. nil gives "".
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return CodeTimeout
	}
	if errors.Is(err, context.Canceled) {
		return CodeCanceled
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ctxError turns a done context into a typed error.
func ctxError(ctx context.Context, op string) error {
	cause := context.Cause(ctx)
	if cause == nil {
		cause = ctx.Err()
	}
	if errors.Is(cause, context.DeadlineExceeded) {
		return newError(CodeTimeout, op, cause)
	}
	return newError(CodeCanceled, op, cause)
}
