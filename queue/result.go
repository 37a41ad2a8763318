package queue

// Code is the stable, machine-readable outcome of a failed job, written into
// [Result.Code]; empty on success.
type Code string

// The result codes. Whether a failure is retried is decided by the error the
// worker returns to asynq, not by its code.
const (
	CodeInvalidPayload    Code = "invalid_payload"     // the payload failed validation
	CodeInputUnreadable   Code = "input_unreadable"    // the input could not be opened or fetched
	CodeInputInvalid      Code = "input_invalid"       // the input was read but could not be demuxed or decoded
	CodeNoVideoStream     Code = "no_video_stream"     // the input has no video stream
	CodeUnsupportedCodec  Code = "unsupported_codec"   // the input's video codec cannot be decoded
	CodeInputTooLarge     Code = "input_too_large"     // the input's frames or bytes are over the configured limits
	CodeNVENCUnavailable  Code = "nvenc_unavailable"   // NVENC was required but no GPU session could be opened
	CodeNVDECUnavailable  Code = "nvdec_unavailable"   // NVDEC was required but no CUDA device could be created
	CodeOutputWriteFailed Code = "output_write_failed" // a rendition, segment or playlist could not be written
	CodeNoSpace           Code = "no_space"            // a local disk (the work directory, a local output) was full or over quota; retried
	CodeTimeout           Code = "timeout"             // the job ran past its timeout
	CodeCanceled          Code = "canceled"            // the job was canceled or the worker shut down
	CodeTranscoderCrashed Code = "transcoder_crashed"  // the transcoder died (signal, panic, non-zero exit)
	CodeInternal          Code = "internal"            // anything else
)

// Result is what a worker writes with the task's asynq.ResultWriter, as JSON,
// after each attempt.
type Result struct {
	// Code classifies the failure; empty on success.
	Code Code `json:"code,omitempty"`
	// Message is a human-readable detail, usually the error text.
	Message string `json:"message,omitempty"`
	// Attempt is 1 for the first run, 2 for the first retry, and so on.
	Attempt int `json:"attempt"`
	// Progress is the last progress report; nil if none was made.
	Progress *ProgressInfo `json:"progress,omitempty"`
	// Rungs has one entry per rendition written.
	Rungs []RungFigures `json:"rungs,omitempty"`
	// WallSeconds is the attempt's elapsed time.
	WallSeconds float64 `json:"wall_seconds"`
	// FPS is the mean number of input frames transcoded per second.
	FPS float64 `json:"fps"`
	// Output is where the job wrote, e.g. the HLS master playlist's location.
	Output string `json:"output,omitempty"`
}

// ProgressInfo is a running job's progress.
type ProgressInfo struct {
	// Frames is the number of input frames transcoded so far.
	Frames int64 `json:"frames"`
	// TotalFrames is the expected number of input frames; 0 if unknown (live).
	TotalFrames int64 `json:"total_frames"`
	// FPS is the current transcoding speed in input frames per second.
	FPS float64 `json:"fps"`
	// ETASeconds is the estimated time left; 0 if unknown.
	ETASeconds float64 `json:"eta_seconds"`
	// RungBytes is the encoded video bytes so far per rung, by rung name.
	RungBytes map[string]int64 `json:"rung_bytes,omitempty"`
}

// RungFigures describes one rendition as written.
type RungFigures struct {
	// Name is the ladder rung's name, e.g. "720p".
	Name string `json:"name"`
	// Width and Height are the encoded size in pixels.
	Width  int `json:"width"`
	Height int `json:"height"`
	// Frames is the number of frames encoded.
	Frames int64 `json:"frames"`
	// Bytes is the size of the rendition's media, excluding playlists.
	Bytes int64 `json:"bytes"`
	// BitrateKbps is the measured mean bitrate.
	BitrateKbps float64 `json:"bitrate_kbps"`
	// CodecString is the RFC 6381 codecs value, e.g. "avc1.64001f".
	CodecString string `json:"codec_string"`
}
