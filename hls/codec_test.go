package hls

import (
	"encoding/hex"
	"strings"
	"testing"
)

// h decodes space-separated hex bytes.
func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

var codecStringTests = []struct {
	name  string
	codec string
	data  []byte
	want  string // "" if CodecString must fail
}{
	// H.264
	{"x264 High@3.1 Annex B", "h264",
		h("00 00 00 01 67 64 00 1f ac d9 40 50 05 bb 01 10 00 00 03 00 10 00 00 03 03 c0 f1 83 19 60 00 00 00 01 68 eb e3 cb 22 c0"),
		"avc1.64001f"},
	{"constrained Baseline@3.0 3-byte start codes", "h264",
		h("00 00 01 67 42 c0 1e 95 a0 50 1f b0 11 00 00 01 68 ce 3c 80"), "avc1.42c01e"},
	{"SPS after AUD", "h264",
		h("00 00 00 01 09 f0 00 00 00 01 67 4d 40 28 95 a0 1e 00 89 f9 50 00 00 00 01 68 ee 3c 80"), "avc1.4d4028"},
	{"nvenc High@5.1 with trailing zeros", "h264",
		h("00 00 00 01 67 64 00 33 ac 2b 40 3c 01 13 f2 c0 00 00 00 00 01 68 ee 3c b0 00"), "avc1.640033"},
	{"avcC High@3.1", "h264",
		h("01 64 00 1f ff e1 00 0a 67 64 00 1f ac d9 40 50 05 bb 01 00 04 68 eb e3 cb"), "avc1.64001f"},
	{"avcC without SPS", "h264", h("01 64 00 1f ff e0 01 00 04 68 eb e3 cb"), ""},
	{"avcC truncated SPS", "h264", h("01 64 00 1f ff e1 00 0a 67 64 00"), ""},
	{"avcC header only", "h264", h("01 64 00 1f ff"), ""},
	{"avcC PPS where SPS belongs", "h264", h("01 64 00 1f ff e1 00 04 68 eb e3 cb"), ""},
	{"Annex B without SPS", "h264", h("00 00 00 01 68 eb e3 cb 22 c0"), ""},
	{"Annex B truncated SPS", "h264", h("00 00 00 01 67 64 00"), ""},
	{"Annex B zero profile", "h264", h("00 00 00 01 67 00 00 1f ac"), ""},
	{"Annex B no start code", "h264", h("00 67 64 00 1f ac d9"), ""},
	{"Annex B start codes only", "h264", h("00 00 00 01 00 00 01"), ""},
	{"garbage", "h264", h("ff d8 ff e0 00 10 4a 46 49 46"), ""},
	{"empty", "h264", nil, ""},

	// HEVC
	{"x265 Main@L4 VPS", "hevc",
		h("00 00 00 01 40 01 0c 01 ff ff 01 60 00 00 03 00 90 00 00 03 00 00 03 00 78 95 98 09"),
		"hvc1.1.6.L120.90"},
	{"x265 Main@L3.1 VPS SPS PPS", "hevc",
		h("00 00 00 01 40 01 0c 01 ff ff 01 60 00 00 03 00 90 00 00 03 00 00 03 00 5d 95 98 09 " +
			"00 00 00 01 42 01 01 01 60 00 00 03 00 90 00 00 03 00 00 03 00 5d a0 02 80 80 2d 16 59 59 a4 93 2b c0 5a 02 00 00 03 00 02 00 00 03 00 3c 10 " +
			"00 00 00 01 44 01 c1 72 b4 62 40"),
		"hvc1.1.6.L93.90"},
	{"x265 Main10@L4 VPS", "hevc",
		h("00 00 00 01 40 01 0c 01 ff ff 02 20 00 00 03 00 90 00 00 03 00 00 03 00 78 95 98 09"),
		"hvc1.2.4.L120.90"},
	{"SPS only", "hevc",
		h("00 00 00 01 42 01 01 01 60 00 00 03 00 90 00 00 03 00 00 03 00 5d a0 02 80 80 2d 16 59"),
		"hvc1.1.6.L93.90"},
	{"Main 4:4:4 with emulation prevention in constraint bytes", "hevc",
		h("00 00 00 01 40 01 0c 01 ff ff 04 08 00 00 03 00 9e 08 00 00 03 00 00 78 95 98 09"),
		"hvc1.4.10.L120.9E.8"},
	{"hvcC Main high tier L5, profile space 1", "hevc",
		h("01 61 60 00 00 00 90 00 00 00 00 00 96 f0 00 fc fd f8 f8 00 00 0f 00"),
		"hvc1.A1.6.H150.90"},
	{"all-zero constraint bytes", "hevc",
		h("01 01 60 00 00 00 00 00 00 00 00 00 5d f0 00 fc fd f8 f8 00 00 0f 00"),
		"hvc1.1.6.L93"},
	{"hvcC truncated", "hevc", h("01 01 60 00 00 00 90 00"), ""},
	{"VPS truncated", "hevc", h("00 00 00 01 40 01 0c 01 ff ff 01 60 00 00 03 00 90"), ""},
	{"VPS escape-only", "hevc", h("00 00 00 01 40 01 00 00 03"), ""},
	{"PPS only", "hevc", h("00 00 00 01 44 01 c1 72 b4 62 40"), ""},
	{"level 0", "hevc", h("00 00 00 01 42 01 01 01 60 00 00 00 90 00 00 00 00 00 00 a0"), ""},
	{"garbage", "hevc", h("47 40 11 10 00 42 f0 25"), ""},
	{"empty", "hevc", []byte{}, ""},

	// AAC
	{"AAC-LC 44.1 kHz stereo", "aac", h("12 10"), "mp4a.40.2"},
	{"AAC-LC 48 kHz stereo with padding", "aac", h("11 90 56 e5 00"), "mp4a.40.2"},
	{"HE-AAC", "aac", h("2b 92 08 00"), "mp4a.40.5"},
	{"escaped object type 42", "aac", h("f9 40 00"), "mp4a.40.42"},
	{"object type 0", "aac", h("00 00"), ""},
	{"truncated", "aac", h("12"), ""},
	{"empty", "aac", nil, ""},

	{"unsupported codec", "vp9", h("01 00 00"), ""},
}

func TestCodecString(t *testing.T) {
	for _, tc := range codecStringTests {
		t.Run(tc.codec+"/"+tc.name, func(t *testing.T) {
			got, err := CodecString(tc.codec, tc.data)
			switch {
			case tc.want == "" && err == nil:
				t.Fatalf("CodecString = %q, want error", got)
			case tc.want == "":
				if !strings.HasPrefix(err.Error(), "hls: ") {
					t.Errorf("error %q lacks the hls: prefix", err)
				}
			case err != nil:
				t.Fatalf("CodecString: %v", err)
			case got != tc.want:
				t.Errorf("CodecString = %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzCodecString(f *testing.F) {
	for _, tc := range codecStringTests {
		f.Add(tc.codec, tc.data)
	}
	f.Fuzz(func(t *testing.T, codec string, data []byte) {
		s, err := CodecString(codec, data)
		if err != nil {
			return
		}
		// Whatever CodecString returns must be usable in a master playlist.
		v := Variant{URI: "v.m3u8", Bandwidth: 2, AverageBandwidth: 1, Codecs: []string{s}, Width: 1, Height: 1, FrameRate: 1}
		if err := v.validate(); err != nil {
			t.Fatalf("CodecString(%q) = %q, which Master rejects: %v", codec, s, err)
		}
		if prefix := map[string]string{"h264": "avc1.", "hevc": "hvc1.", "aac": "mp4a.40."}[codec]; !strings.HasPrefix(s, prefix) {
			t.Fatalf("CodecString(%q) = %q, want prefix %q", codec, s, prefix)
		}
	})
}
