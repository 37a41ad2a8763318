package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/abrfleet/abrfleet/ladder"
)

func TestQueues(t *testing.T) {
	tests := []struct {
		name        string
		live, batch int
		want        map[string]int
	}{
		{name: "defaults", live: 0, batch: 0, want: map[string]int{"live": 6, "batch": 3}},
		{name: "explicit", live: 1, batch: 5, want: map[string]int{"live": 1, "batch": 5}},
		{name: "negative is default", live: -1, batch: 2, want: map[string]int{"live": 6, "batch": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Queues(tt.live, tt.batch); !maps.Equal(got, tt.want) {
				t.Errorf("Queues(%d, %d) = %v; want %v", tt.live, tt.batch, got, tt.want)
			}
		})
	}
	if got, want := DefaultQueues(), Queues(0, 0); !maps.Equal(got, want) {
		t.Errorf("DefaultQueues() = %v; want %v", got, want)
	}
}

// optionStrings renders options as asynq prints them, e.g. Queue("live").
func optionStrings(opts []asynq.Option) []string {
	s := make([]string, len(opts))
	for i, o := range opts {
		s[i] = o.String()
	}
	return s
}

func TestTaskOptions(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Payload)
		want   []string
	}{
		{name: "batch", modify: nop,
			want: []string{`Queue("batch")`, "MaxRetry(4)", "Timeout(2h5m0s)", "Retention(168h0m0s)", `TaskID("job-1")`}},
		{name: "live", modify: live(nop),
			want: []string{`Queue("live")`, "MaxRetry(4)", "Timeout(12h5m0s)", "Retention(168h0m0s)", `TaskID("live.cam-7")`}},
		{name: "explicit timeout", modify: func(p *Payload) { p.Timeout = dur(30 * time.Minute) },
			want: []string{`Queue("batch")`, "MaxRetry(4)", "Timeout(35m0s)", "Retention(168h0m0s)", `TaskID("job-1")`}},
		{name: "no job id", modify: live(func(p *Payload) { p.JobID, p.Timeout = "", dur(48*time.Hour) }),
			want: []string{`Queue("live")`, "MaxRetry(4)", "Timeout(48h5m0s)", "Retention(168h0m0s)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := batchPayload()
			tt.modify(&p)
			opts := TaskOptions(&p)
			if got := optionStrings(opts); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("TaskOptions = %q\n         want %q", got, tt.want)
			}
			for _, o := range opts {
				switch o.Type() {
				case asynq.TimeoutOpt:
					if want := p.withDefaults(Limits{}).Timeout.Duration + TimeoutGrace; o.Value() != want {
						t.Errorf("Timeout value = %v; want %v", o.Value(), want)
					}
				case asynq.RetentionOpt:
					if o.Value() != 7*24*time.Hour {
						t.Errorf("Retention value = %v; want 168h", o.Value())
					}
				}
			}
		})
	}
}

// TestNewTask runs every validation case through NewTask and, for valid
// payloads, back through Decode.
func TestNewTask(t *testing.T) {
	for _, tt := range validateTests() {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.payload()
			orig := tt.payload()
			task, err := NewTask(&p, tt.lim())
			checkErr(t, err, tt.want)
			if !reflect.DeepEqual(p, orig) {
				t.Errorf("NewTask modified the payload: %+v; was %+v", p, orig)
			}
			if tt.want != "" {
				if task != nil {
					t.Errorf("NewTask returned a task with error %v", err)
				}
				return
			}
			wantType := map[ladder.Mode]string{ladder.Batch: TypeBatch, ladder.Live: TypeLive}[p.Mode]
			if task.Type() != wantType {
				t.Errorf("Type() = %q; want %q", task.Type(), wantType)
			}
			got, err := Decode(task, tt.lim())
			if want := p.withDefaults(tt.lim()); err != nil || !reflect.DeepEqual(got, &want) {
				t.Errorf("Decode(NewTask(p)) = %+v, %v\n                 want %+v", got, err, want)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	batch, _ := json.Marshal(batchPayload())
	livePL := livePayload()
	liveJSON, _ := json.Marshal(livePL)
	tests := []struct {
		name     string
		typename string
		payload  []byte
		err      string // "" for success
	}{
		{name: "batch", typename: TypeBatch, payload: batch},
		{name: "live", typename: TypeLive, payload: liveJSON},
		{name: "batch payload in live task", typename: TypeLive, payload: batch,
			err: `task transcode:live: invalid payload: mode: batch does not match the task type: skip retry for the task`},
		{name: "live payload in batch task", typename: TypeBatch, payload: liveJSON,
			err: `task transcode:batch: invalid payload: mode: live does not match the task type: skip retry for the task`},
		{name: "unknown task type", typename: "transcode:vod", payload: batch,
			err: `task transcode:vod: invalid payload: mode: batch does not match the task type: skip retry for the task`},
		{name: "not JSON", typename: TypeBatch, payload: []byte("\x00"),
			err: "task transcode:batch: invalid payload: json: invalid character '\\x00' looking for beginning of value: skip retry for the task"},
		{name: "invalid field", typename: TypeBatch, payload: []byte(`{"version":1,"mode":"batch","input":"http://a/b","output":"/data/out","codec":"x264"}`),
			err: "task transcode:batch: invalid payload: input: http is not allowed (use https): skip retry for the task"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Decode(asynq.NewTask(tt.typename, tt.payload), testLimits())
			if tt.err == "" {
				if err != nil || p == nil {
					t.Fatalf("Decode = %v, %v; want a payload", p, err)
				}
				return
			}
			if err == nil || err.Error() != tt.err {
				t.Fatalf("Decode error = %v\n        want %s", err, tt.err)
			}
			if p != nil {
				t.Errorf("Decode returned a payload with error %v", err)
			}
			if !errors.Is(err, asynq.SkipRetry) {
				t.Error("errors.Is(err, asynq.SkipRetry) = false")
			}
			if !errors.Is(err, ErrInvalidPayload) {
				t.Error("errors.Is(err, ErrInvalidPayload) = false")
			}
			var e *InvalidPayloadError
			if !errors.As(err, &e) {
				t.Error("errors.As(err, *InvalidPayloadError) = false")
			}
		})
	}
}

func TestInvalidPayloadError(t *testing.T) {
	err := fmt.Errorf("worker: %w", &InvalidPayloadError{Field: "codec", Reason: "missing"})
	if got, want := err.Error(), "worker: invalid payload: codec: missing"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
	if !errors.Is(err, ErrInvalidPayload) || errors.Is(err, asynq.SkipRetry) {
		t.Error("an InvalidPayloadError must match ErrInvalidPayload and nothing else")
	}
}

// TestResultJSON pins the result's wire format.
func TestResultJSON(t *testing.T) {
	tests := []struct {
		name string
		r    Result
		want string
	}{
		{name: "success",
			r: Result{Attempt: 1, WallSeconds: 12.5, FPS: 240, Output: "s3://media-out/a/master.m3u8",
				Progress: &ProgressInfo{Frames: 3000, TotalFrames: 3000, FPS: 250, ETASeconds: 0},
				Rungs:    []RungFigures{{Name: "720p", Width: 1280, Height: 720, Frames: 3000, Bytes: 1 << 20, BitrateKbps: 2950.5, CodecString: "avc1.64001f"}}},
			want: `{"attempt":1,"progress":{"frames":3000,"total_frames":3000,"fps":250,"eta_seconds":0},` +
				`"rungs":[{"name":"720p","width":1280,"height":720,"frames":3000,"bytes":1048576,"bitrate_kbps":2950.5,"codec_string":"avc1.64001f"}],` +
				`"wall_seconds":12.5,"fps":240,"output":"s3://media-out/a/master.m3u8"}`},
		{name: "failure",
			r:    Result{Code: CodeNVENCUnavailable, Message: "no NVENC session", Attempt: 4},
			want: `{"code":"nvenc_unavailable","message":"no NVENC session","attempt":4,"wall_seconds":0,"fps":0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.r)
			if err != nil || string(got) != tt.want {
				t.Fatalf("Marshal = %s, %v\n   want %s", got, err, tt.want)
			}
			var back Result
			if err := json.Unmarshal(got, &back); err != nil || !reflect.DeepEqual(back, tt.r) {
				t.Errorf("Unmarshal = %+v, %v; want %+v", back, err, tt.r)
			}
		})
	}
}

func TestCodes(t *testing.T) {
	want := []Code{"invalid_payload", "input_unreadable", "input_invalid", "no_video_stream", "unsupported_codec",
		"input_too_large", "nvenc_unavailable", "nvdec_unavailable", "output_write_failed", "no_space", "timeout", "canceled",
		"transcoder_crashed", "internal"}
	got := []Code{CodeInvalidPayload, CodeInputUnreadable, CodeInputInvalid, CodeNoVideoStream, CodeUnsupportedCodec,
		CodeInputTooLarge, CodeNVENCUnavailable, CodeNVDECUnavailable, CodeOutputWriteFailed, CodeNoSpace, CodeTimeout, CodeCanceled,
		CodeTranscoderCrashed, CodeInternal}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("codes = %q; want %q", got, want)
	}
}
