package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/abrfleet/abrfleet/ladder"
)

// Version is the payload version this package reads and writes.
const Version = 1

// Payload limits and defaults.
const (
	// MaxPayloadBytes is the largest JSON document [Parse] accepts: 64 KiB.
	MaxPayloadBytes = 64 << 10
	// MaxLocationBytes is the longest Input or Output accepted: 4096 bytes.
	MaxLocationBytes = 4096
	// MaxJobIDBytes is the longest JobID accepted: 128 bytes.
	MaxJobIDBytes = 128

	DefaultBatchTimeout = 2 * time.Hour    // Payload.Timeout default for batch jobs
	DefaultLiveTimeout  = 12 * time.Hour   // Payload.Timeout default for live jobs
	DefaultMaxTimeout   = 48 * time.Hour   // Limits.MaxTimeout default
	DefaultIdleTimeout  = 30 * time.Second // Payload.IdleTimeout default for live jobs
	MinTimeout          = time.Second      // shortest Timeout or IdleTimeout accepted
)

// Values of Payload.Codec and Payload.Outputs beyond the ladder codecs.
const (
	// CodecAuto lets the worker choose the codec (e.g. NVENC when a GPU is
	// free).
	CodecAuto = "auto"
	// OutputHLS is an HLS rendition set with a master playlist.
	OutputHLS = "hls"
	// OutputMP4 is one MP4 file per rendition.
	OutputMP4 = "mp4"
)

// Payload is the JSON body of a transcode task, version 1. Zero-valued
// optional fields mean their documented defaults; [Parse] and [NewTask] fill
// them in.
type Payload struct {
	// Version must be 1 ([Version]); it has no default.
	Version int `json:"version"`
	// JobID is the caller's id for the job, [A-Za-z0-9._-]{1,128} but not "."
	// or "..". It becomes the asynq task ID, so a resubmitted job is
	// deduplicated. Default (""): asynq assigns a random ID.
	JobID string `json:"job_id"`
	// Mode is batch or live and decides the task type and queue. Required.
	Mode ladder.Mode `json:"mode"`
	// Input is the source: s3://bucket/key, file:///abs/path under one of
	// Limits.AllowedInputRoots, or https://host/path; live jobs also accept
	// srt://, rtmp:// and udp://host:port. Required.
	Input string `json:"input"`
	// Output is where renditions go: s3://bucket/prefix or an absolute local
	// directory, under one of Limits.AllowedOutputRoots if any are set.
	// Required.
	Output string `json:"output"`
	// Codec is x264, x265, h264_nvenc, hevc_nvenc or auto. Required.
	Codec string `json:"codec"`
	// Preset is the encoder preset, validated against Codec and not allowed
	// with auto. Default (""): the codec's default preset.
	Preset string `json:"preset,omitempty"`
	// Ladder selects the ladder. Default (nil): ladder.Default().
	Ladder *LadderRef `json:"ladder,omitempty"`
	// Outputs lists the packagings to write, hls and/or mp4. Default (empty):
	// [hls].
	Outputs []string `json:"outputs,omitempty"`
	// FallbackToCPU lets an NVENC job fall back to the CPU codec of the same
	// format when no GPU session can be opened. Default: false.
	FallbackToCPU bool `json:"fallback_to_cpu,omitempty"`
	// Timeout bounds the job, 1s to Limits.MaxTimeout. Default (0): 2h for
	// batch, 12h for live, either capped at Limits.MaxTimeout.
	Timeout Duration `json:"timeout,omitzero"`
	// IdleTimeout, live jobs only, is how long the input may stay silent
	// before the stream is considered ended, 1s to Timeout. Default (0): 30s,
	// capped at Timeout.
	IdleTimeout Duration `json:"idle_timeout,omitzero"`
}

// LadderRef names a built-in ladder or carries one inline; exactly one of the
// fields is set.
type LadderRef struct {
	// Name is a built-in ladder, see [ladder.Named].
	Name string `json:"name,omitempty"`
	// Inline is a complete ladder, validated with [ladder.Ladder.Validate].
	Inline *ladder.Ladder `json:"inline,omitempty"`
}

// Resolve returns the ladder r refers to: ladder.Default() for a nil r, the
// built-in ladder r.Name, or a copy of r.Inline.
func (r *LadderRef) Resolve() (ladder.Ladder, error) {
	switch {
	case r == nil:
		return ladder.Default(), nil
	case (r.Name == "") == (r.Inline == nil):
		return ladder.Ladder{}, errors.New("queue: ladder reference must set exactly one of name and inline")
	case r.Name != "":
		return ladder.Named(r.Name)
	}
	l := *r.Inline
	l.Rungs = slices.Clone(l.Rungs)
	return l, nil
}

// Duration is a time.Duration written in JSON as a Go duration string, such
// as "90s" or "2h". JSON numbers are rejected: 90 could mean seconds or
// nanoseconds. The zero Duration is omitted from payloads.
type Duration struct{ time.Duration }

// MarshalJSON writes d as a duration string, e.g. "1m30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string; null leaves d unchanged. Anything
// else is a *json.UnmarshalTypeError, which encoding/json completes with the
// field's name.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(b, &s) == nil {
		if v, err := time.ParseDuration(s); err == nil {
			d.Duration = v
			return nil
		}
	}
	return &json.UnmarshalTypeError{Value: describeJSON(b), Type: reflect.TypeFor[Duration]()}
}

// describeJSON describes a JSON value as encoding/json's errors do.
func describeJSON(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '"':
		return "string " + string(b)
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	}
	return "number " + string(b)
}

// Limits is a deployment's policy for payloads. The zero value rejects
// file:// inputs, allows any absolute output directory and caps timeouts at
// 48h. Roots are cleaned before use; relative roots match nothing.
type Limits struct {
	// AllowedInputRoots are the absolute directories that file:// inputs
	// must lie under. Default (none): file:// inputs are rejected.
	AllowedInputRoots []string
	// AllowedOutputRoots are the absolute directories that local outputs
	// must lie under. Default (none): any absolute directory.
	AllowedOutputRoots []string
	// MaxTimeout caps Payload.Timeout. Default (0): 48h.
	MaxTimeout time.Duration
}

func (l Limits) maxTimeout() time.Duration {
	if l.MaxTimeout <= 0 {
		return DefaultMaxTimeout
	}
	return l.MaxTimeout
}

func defaultTimeout(m ladder.Mode) time.Duration {
	if m == ladder.Live {
		return DefaultLiveTimeout
	}
	return DefaultBatchTimeout
}

// withDefaults returns a copy of p with its zero-valued optional fields set.
// It never replaces a non-zero value, valid or not.
func (p *Payload) withDefaults(l Limits) Payload {
	q := *p
	if len(q.Outputs) == 0 {
		q.Outputs = []string{OutputHLS}
	}
	if q.Timeout.Duration == 0 {
		q.Timeout.Duration = min(defaultTimeout(q.Mode), l.maxTimeout())
	}
	if q.Mode == ladder.Live && q.IdleTimeout.Duration == 0 {
		q.IdleTimeout.Duration = min(DefaultIdleTimeout, q.Timeout.Duration)
	}
	return q
}

// Parse decodes a JSON payload strictly (at most 64 KiB, one document, no
// unknown fields), fills in its defaults and validates it against l. Errors
// are *InvalidPayloadError; those from decoding have Field "json".
//
// The version is checked before the strict decode, so a payload of another
// version is reported as such rather than by its first unknown field.
func Parse(data []byte, l Limits) (*Payload, error) {
	if len(data) > MaxPayloadBytes {
		return nil, invalidJSON(fmt.Sprintf("document is %d bytes, over the %d-byte limit", len(data), MaxPayloadBytes))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, invalidJSON("empty document")
	}
	var head struct {
		Version int `json:"version"`
	}
	if json.Unmarshal(data, &head) == nil && head.Version != Version {
		return nil, badVersion(head.Version)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Payload
	if err := dec.Decode(&p); err != nil {
		return nil, invalidJSON(jsonReason(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return nil, invalidJSON("unexpected data after the document")
		}
		return nil, invalidJSON(jsonReason(err))
	}
	q := p.withDefaults(l)
	if err := q.check(l); err != nil {
		return nil, err
	}
	return &q, nil
}

func invalidJSON(reason string) error { return &InvalidPayloadError{Field: "json", Reason: reason} }

// jsonReason drops the "json: " that some encoding/json errors start with,
// which would repeat the "json" field of the InvalidPayloadError.
func jsonReason(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of document"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func badVersion(v int) error {
	return &InvalidPayloadError{Field: "version", Reason: fmt.Sprintf("unsupported version %d (want %d)", v, Version)}
}
