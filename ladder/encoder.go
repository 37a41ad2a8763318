package ladder

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Codec selects the encoder family used for every rung.
type Codec string

// The supported codecs.
const (
	X264      Codec = "x264"       // H.264 on the CPU via libx264
	X265      Codec = "x265"       // HEVC on the CPU via libx265
	H264NVENC Codec = "h264_nvenc" // H.264 on an NVIDIA GPU
	HEVCNVENC Codec = "hevc_nvenc" // HEVC on an NVIDIA GPU
)

// ParseCodec accepts exactly "x264", "x265", "h264_nvenc" or "hevc_nvenc".
func ParseCodec(s string) (Codec, error) {
	switch c := Codec(s); c {
	case X264, X265, H264NVENC, HEVCNVENC:
		return c, nil
	}
	return "", fmt.Errorf("unknown codec %q (want x264, x265, h264_nvenc or hevc_nvenc)", s)
}

// Encoder returns the FFmpeg encoder name: libx264, libx265, h264_nvenc or
// hevc_nvenc; "" for an unknown codec.
func (c Codec) Encoder() string {
	switch c {
	case X264:
		return "libx264"
	case X265:
		return "libx265"
	case H264NVENC, HEVCNVENC:
		return string(c)
	}
	return ""
}

// IsNVENC reports whether c runs on an NVIDIA GPU.
func (c Codec) IsNVENC() bool { return c == H264NVENC || c == HEVCNVENC }

// IsHEVC reports whether c produces HEVC, and so uses the rungs' HEVC bitrates.
func (c Codec) IsHEVC() bool { return c == X265 || c == HEVCNVENC }

// CPUFallback returns the CPU codec producing the same format: x264 for
// h264_nvenc, x265 for hevc_nvenc, c itself otherwise.
func (c Codec) CPUFallback() Codec {
	switch c {
	case H264NVENC:
		return X264
	case HEVCNVENC:
		return X265
	}
	return c
}

// DefaultPreset returns the study's fast preset: "ultrafast" for x264 and
// x265, "p1" for NVENC; "" for an unknown codec.
func (c Codec) DefaultPreset() string {
	switch {
	case c == X264 || c == X265:
		return "ultrafast"
	case c.IsNVENC():
		return "p1"
	}
	return ""
}

// Preset tables; never modified.
var (
	x26xPresets = []string{
		"ultrafast", "superfast", "veryfast", "faster", "fast",
		"medium", "slow", "slower", "veryslow", "placebo",
	}
	// The values of the FFmpeg 8.1 h264_nvenc/hevc_nvenc "preset" AVOption.
	nvencPresets = []string{
		"default", "slow", "medium", "fast", "hp", "hq", "bd", "ll", "llhq", "llhp",
		"lossless", "losslesshp", "p1", "p2", "p3", "p4", "p5", "p6", "p7",
	}
)

// ValidatePreset reports whether preset is valid for c. The empty preset is
// valid and means c.DefaultPreset().
func ValidatePreset(c Codec, preset string) error {
	if _, err := ParseCodec(string(c)); err != nil {
		return err
	}
	presets := x26xPresets
	if c.IsNVENC() {
		presets = nvencPresets
	}
	if preset != "" && !slices.Contains(presets, preset) {
		return fmt.Errorf("codec %s: unknown preset %q (want one of %s)", c, preset, strings.Join(presets, ", "))
	}
	return nil
}

// Mode selects the rate-control strategy.
type Mode string

// The supported modes.
const (
	// Batch is file-to-file work: constant quality (CRF/CQ) capped at the
	// rung bitrate.
	Batch Mode = "batch"
	// Live is real-time work: constant bitrate at the rung bitrate.
	Live Mode = "live"
)

// ParseMode accepts exactly "batch" or "live".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Batch, Live:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q (want batch or live)", s)
}

// Option is one AVOption as passed to avcodec_open2 (and, as "-key value", to
// the ffmpeg CLI).
type Option struct{ Key, Value string }

// EncoderConfig is everything needed to open the encoder for one target.
type EncoderConfig struct {
	// Encoder is the FFmpeg encoder name, e.g. "libx264".
	Encoder string
	// Preset is the resolved preset, never empty.
	Preset string
	// Options are the AVOptions in a fixed order, including "preset".
	Options []Option
	// BitrateKbps is the CBR target in live mode and the VBV cap in batch
	// mode: the target's H.264 or HEVC figure, depending on the codec.
	BitrateKbps int
}

// Quality targets for batch mode; each is the encoder's usual default, which
// the VBV cap then bounds.
const (
	x264CRF     = 23
	x265CRF     = 28
	nvencH264CQ = 23
	nvencHEVCCQ = 28
)

// EncoderSettings returns the encoder configuration for one target. An empty
// preset means c.DefaultPreset().
//
// Every codec gets a fixed, closed GOP of t.GOPFrames frames with no
// scene-cut keyframes, so that keyframes fall on the same frames in every
// rung and players can switch renditions at any segment boundary. Live mode
// is CBR at the rung bitrate with a 1 s VBV buffer; batch mode is constant
// quality capped at the rung bitrate with a 2 s buffer.
func EncoderSettings(c Codec, preset string, m Mode, t Target) (EncoderConfig, error) {
	if err := ValidatePreset(c, preset); err != nil {
		return EncoderConfig{}, err
	}
	if _, err := ParseMode(string(m)); err != nil {
		return EncoderConfig{}, err
	}
	if preset == "" {
		preset = c.DefaultPreset()
	}
	kbps := t.BitrateKbps
	if c.IsHEVC() {
		kbps = t.HEVCBitrateKbps
	}
	if kbps < 1 {
		return EncoderConfig{}, fmt.Errorf("target %q: %s bitrate %d kb/s must be positive", t.Name, c, kbps)
	}
	if t.GOPFrames < 1 {
		return EncoderConfig{}, fmt.Errorf("target %q: GOP of %d frames must be positive", t.Name, t.GOPFrames)
	}

	live := m == Live
	gop := strconv.Itoa(t.GOPFrames)
	rate := strconv.Itoa(kbps) + "k"
	bufsize := rate // live: 1 s, so the CBR stream is smooth at segment scale
	if !live {
		bufsize = strconv.Itoa(2*kbps) + "k" // batch: 2 s, room for CRF/CQ to spend bits on hard scenes
	}

	opts := []Option{
		{"preset", preset},
		// Fixed keyframe interval: g is the maximum and keyint_min the
		// minimum, so every rung puts keyframes on the same frames.
		{"g", gop},
		{"keyint_min", gop},
		// Closed GOPs, so each segment decodes without its predecessor.
		// FFmpeg's libx264 and libx265 wrappers default to open GOPs; NVENC
		// ignores the flag but makes every keyframe an IDR (its IDR period is
		// g).
		{"flags", "+cgop"},
		// VBV: the CBR ceiling in live mode, the quality cap in batch mode.
		{"maxrate", rate},
		{"bufsize", bufsize},
	}

	switch {
	case c == X264:
		if live {
			// CBR, signalled in the stream (HRD buffering-period and
			// picture-timing SEI) so players and packagers can rely on it.
			opts = append(opts, Option{"b", rate}, Option{"nal-hrd", "cbr"})
		} else {
			opts = append(opts, Option{"crf", strconv.Itoa(x264CRF)})
		}
		// No scene-cut keyframes; they would break the fixed GOP.
		opts = append(opts, Option{"sc_threshold", "0"})

	case c == X265:
		// libx265 takes its GOP structure from x265-params; restate the
		// fixed, closed GOP there and turn off scene cuts. log-level keeps
		// x265's per-encode banner out of the worker's logs.
		params := fmt.Sprintf("keyint=%s:min-keyint=%s:scenecut=0:open-gop=0", gop, gop)
		if live {
			opts = append(opts, Option{"b", rate})
			params += ":strict-cbr=1" // pad to the exact rate instead of undershooting
		} else {
			opts = append(opts, Option{"crf", strconv.Itoa(x265CRF)})
		}
		opts = append(opts, Option{"x265-params", params + ":log-level=error"})

	case c.IsNVENC():
		if live {
			opts = append(opts,
				Option{"rc", "cbr"},
				Option{"b", rate},
				// No B-frames and the low-latency tuning: frames leave the
				// encoder as soon as they are encoded.
				Option{"bf", "0"},
				Option{"tune", "ll"},
				Option{"zerolatency", "1"},
			)
		} else {
			cq := nvencH264CQ
			if c.IsHEVC() {
				cq = nvencHEVCCQ
			}
			// Constant quality: VBR with a CQ level and no average bitrate
			// target (b=0), bounded by maxrate.
			opts = append(opts, Option{"rc", "vbr"}, Option{"cq", strconv.Itoa(cq)}, Option{"b", "0"})
		}
		opts = append(opts,
			Option{"no-scenecut", "1"}, // keyframes only every g frames
			Option{"forced-idr", "1"},  // keyframes the caller forces are IDRs too
			Option{"strict_gop", "1"},  // even out the bits per GOP, i.e. per segment
		)
	}

	return EncoderConfig{
		Encoder:     c.Encoder(),
		Preset:      preset,
		Options:     opts,
		BitrateKbps: kbps,
	}, nil
}
