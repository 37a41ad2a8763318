package ladder

import (
	"reflect"
	"testing"
)

func TestCodec(t *testing.T) {
	tests := []struct {
		in            string
		err           string
		encoder       string
		nvenc, hevc   bool
		fallback      Codec
		defaultPreset string
	}{
		{in: "x264", encoder: "libx264", fallback: X264, defaultPreset: "ultrafast"},
		{in: "x265", encoder: "libx265", hevc: true, fallback: X265, defaultPreset: "ultrafast"},
		{in: "h264_nvenc", encoder: "h264_nvenc", nvenc: true, fallback: X264, defaultPreset: "p1"},
		{in: "hevc_nvenc", encoder: "hevc_nvenc", nvenc: true, hevc: true, fallback: X265, defaultPreset: "p1"},
		{in: "libx264", err: `unknown codec "libx264" (want x264, x265, h264_nvenc or hevc_nvenc)`},
		{in: "X264", err: `unknown codec "X264" (want x264, x265, h264_nvenc or hevc_nvenc)`},
		{in: "hevc", err: `unknown codec "hevc" (want x264, x265, h264_nvenc or hevc_nvenc)`},
		{in: "", err: `unknown codec "" (want x264, x265, h264_nvenc or hevc_nvenc)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := ParseCodec(tt.in)
			checkErr(t, err, tt.err)
			if err != nil {
				return
			}
			if c.Encoder() != tt.encoder || c.IsNVENC() != tt.nvenc || c.IsHEVC() != tt.hevc ||
				c.CPUFallback() != tt.fallback || c.DefaultPreset() != tt.defaultPreset {
				t.Errorf("%s: Encoder %q, IsNVENC %v, IsHEVC %v, CPUFallback %q, DefaultPreset %q",
					c, c.Encoder(), c.IsNVENC(), c.IsHEVC(), c.CPUFallback(), c.DefaultPreset())
			}
			if err := ValidatePreset(c, c.DefaultPreset()); err != nil {
				t.Errorf("default preset invalid: %v", err)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Mode
		err  string
	}{
		{in: "batch", want: Batch},
		{in: "live", want: Live},
		{in: "Live", err: `unknown mode "Live" (want batch or live)`},
		{in: "", err: `unknown mode "" (want batch or live)`},
	} {
		t.Run(tt.in, func(t *testing.T) {
			m, err := ParseMode(tt.in)
			checkErr(t, err, tt.err)
			if m != tt.want {
				t.Errorf("ParseMode(%q) = %q; want %q", tt.in, m, tt.want)
			}
		})
	}
}

func TestValidatePreset(t *testing.T) {
	const (
		x26xList  = "ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, veryslow, placebo"
		nvencList = "default, slow, medium, fast, hp, hq, bd, ll, llhq, llhp, lossless, losslesshp, p1, p2, p3, p4, p5, p6, p7"
	)
	for _, tt := range []struct {
		name   string
		codec  Codec
		preset string
		err    string
	}{
		{"x264 empty means default", X264, "", ""},
		{"x264 placebo", X264, "placebo", ""},
		{"x265 medium", X265, "medium", ""},
		{"h264_nvenc p7", H264NVENC, "p7", ""},
		{"hevc_nvenc llhq", HEVCNVENC, "llhq", ""},
		{"x264 fastest", X264, "fastest", `codec x264: unknown preset "fastest" (want one of ` + x26xList + `)`},
		{"x265 p1", X265, "p1", `codec x265: unknown preset "p1" (want one of ` + x26xList + `)`},
		{"h264_nvenc ultrafast", H264NVENC, "ultrafast", `codec h264_nvenc: unknown preset "ultrafast" (want one of ` + nvencList + `)`},
		{"hevc_nvenc P1", HEVCNVENC, "P1", `codec hevc_nvenc: unknown preset "P1" (want one of ` + nvencList + `)`},
		{"unknown codec", Codec("vp9"), "", `unknown codec "vp9" (want x264, x265, h264_nvenc or hevc_nvenc)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, ValidatePreset(tt.codec, tt.preset), tt.err)
		})
	}
}

// options builds an option list from key, value pairs.
func options(kv ...string) []Option {
	var opts []Option
	for i := 0; i < len(kv); i += 2 {
		opts = append(opts, Option{kv[i], kv[i+1]})
	}
	return opts
}

func TestEncoderSettings(t *testing.T) {
	target := Target{
		Name: "720p", Width: 1280, Height: 720, FPS: Rational{30, 1},
		BitrateKbps: 3000, HEVCBitrateKbps: 1950, GOPFrames: 60,
	}
	tests := []struct {
		name   string
		codec  Codec
		preset string
		mode   Mode
		target Target
		want   EncoderConfig
		err    string
	}{
		{name: "x264 batch", codec: X264, mode: Batch, target: target, want: EncoderConfig{
			Encoder: "libx264", Preset: "ultrafast", BitrateKbps: 3000,
			Options: options("preset", "ultrafast", "g", "60", "keyint_min", "60", "flags", "+cgop",
				"maxrate", "3000k", "bufsize", "6000k", "crf", "23", "sc_threshold", "0"),
		}},
		{name: "x264 live", codec: X264, preset: "veryfast", mode: Live, target: target, want: EncoderConfig{
			Encoder: "libx264", Preset: "veryfast", BitrateKbps: 3000,
			Options: options("preset", "veryfast", "g", "60", "keyint_min", "60", "flags", "+cgop",
				"maxrate", "3000k", "bufsize", "3000k", "b", "3000k", "nal-hrd", "cbr", "sc_threshold", "0"),
		}},
		{name: "x265 batch", codec: X265, mode: Batch, target: target, want: EncoderConfig{
			Encoder: "libx265", Preset: "ultrafast", BitrateKbps: 1950,
			Options: options("preset", "ultrafast", "g", "60", "keyint_min", "60", "flags", "+cgop",
				"maxrate", "1950k", "bufsize", "3900k", "crf", "28",
				"x265-params", "keyint=60:min-keyint=60:scenecut=0:open-gop=0:log-level=error"),
		}},
		{name: "x265 live", codec: X265, preset: "fast", mode: Live, target: target, want: EncoderConfig{
			Encoder: "libx265", Preset: "fast", BitrateKbps: 1950,
			Options: options("preset", "fast", "g", "60", "keyint_min", "60", "flags", "+cgop",
				"maxrate", "1950k", "bufsize", "1950k", "b", "1950k",
				"x265-params", "keyint=60:min-keyint=60:scenecut=0:open-gop=0:strict-cbr=1:log-level=error"),
		}},
		{name: "h264_nvenc batch", codec: H264NVENC, mode: Batch, target: target, want: EncoderConfig{
			Encoder: "h264_nvenc", Preset: "p1", BitrateKbps: 3000,
			Options: options("preset", "p1", "g", "60", "keyint_min", "60", "flags", "+cgop",
				"maxrate", "3000k", "bufsize", "6000k", "rc", "vbr", "cq", "23", "b", "0",
				"no-scenecut", "1", "forced-idr", "1", "strict_gop", "1"),
		}},
		{name: "h264_nvenc live", codec: H264NVENC, mode: Live, target: target, want: EncoderConfig{
			Encoder: "h264_nvenc", Preset: "p1", BitrateKbps: 3000,
			Options: options("preset", "p1", "g", "60", "keyint_min", "60", "flags", "+cgop",
				"maxrate", "3000k", "bufsize", "3000k", "rc", "cbr", "b", "3000k", "bf", "0", "tune", "ll", "zerolatency", "1",
				"no-scenecut", "1", "forced-idr", "1", "strict_gop", "1"),
		}},
		{name: "hevc_nvenc batch", codec: HEVCNVENC, preset: "p4", mode: Batch, target: target, want: EncoderConfig{
			Encoder: "hevc_nvenc", Preset: "p4", BitrateKbps: 1950,
			Options: options("preset", "p4", "g", "60", "keyint_min", "60", "flags", "+cgop",
				"maxrate", "1950k", "bufsize", "3900k", "rc", "vbr", "cq", "28", "b", "0",
				"no-scenecut", "1", "forced-idr", "1", "strict_gop", "1"),
		}},
		{name: "hevc_nvenc live", codec: HEVCNVENC, mode: Live, target: target, want: EncoderConfig{
			Encoder: "hevc_nvenc", Preset: "p1", BitrateKbps: 1950,
			Options: options("preset", "p1", "g", "60", "keyint_min", "60", "flags", "+cgop",
				"maxrate", "1950k", "bufsize", "1950k", "rc", "cbr", "b", "1950k", "bf", "0", "tune", "ll", "zerolatency", "1",
				"no-scenecut", "1", "forced-idr", "1", "strict_gop", "1"),
		}},

		{name: "invalid preset", codec: X264, preset: "fastest", mode: Batch, target: target,
			err: `codec x264: unknown preset "fastest" (want one of ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, veryslow, placebo)`},
		{name: "x26x preset on nvenc", codec: HEVCNVENC, preset: "ultrafast", mode: Live, target: target,
			err: `codec hevc_nvenc: unknown preset "ultrafast" (want one of default, slow, medium, fast, hp, hq, bd, ll, llhq, llhp, lossless, losslesshp, p1, p2, p3, p4, p5, p6, p7)`},
		{name: "unknown codec", codec: "av1", mode: Batch, target: target,
			err: `unknown codec "av1" (want x264, x265, h264_nvenc or hevc_nvenc)`},
		{name: "unknown mode", codec: X264, mode: "vod", target: target, err: `unknown mode "vod" (want batch or live)`},
		{name: "zero GOP", codec: X264, mode: Live, target: Target{Name: "a", BitrateKbps: 1000},
			err: `target "a": GOP of 0 frames must be positive`},
		{name: "unresolved HEVC bitrate", codec: X265, mode: Live, target: Target{Name: "a", BitrateKbps: 1000, GOPFrames: 60},
			err: `target "a": x265 bitrate 0 kb/s must be positive`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EncoderSettings(tt.codec, tt.preset, tt.mode, tt.target)
			checkErr(t, err, tt.err)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("EncoderSettings =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}
