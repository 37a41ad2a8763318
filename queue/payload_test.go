package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/abrfleet/abrfleet/ladder"
)

func testLimits() Limits {
	return Limits{
		AllowedInputRoots:  []string{"/data/in"},
		AllowedOutputRoots: []string{"/data/out", "/mnt/scratch/"},
	}
}

func batchPayload() Payload {
	return Payload{
		Version: Version, JobID: "job-1", Mode: ladder.Batch,
		Input: "s3://media-in/src/a.mp4", Output: "s3://media-out/a", Codec: "x264",
	}
}

func livePayload() Payload {
	return Payload{
		Version: Version, JobID: "live.cam-7", Mode: ladder.Live,
		Input: "srt://ingest.example.net:9000?streamid=cam7", Output: "/data/out/cam7",
		Codec: "h264_nvenc", FallbackToCPU: true,
	}
}

func dur(d time.Duration) Duration { return Duration{d} }

func nop(*Payload)                         {}
func input(s string) func(*Payload)        { return func(p *Payload) { p.Input = s } }
func output(s string) func(*Payload)       { return func(p *Payload) { p.Output = s } }
func live(f func(*Payload)) func(*Payload) { return func(p *Payload) { *p = livePayload(); f(p) } }

type validateTest struct {
	name     string
	modify   func(*Payload) // applied to batchPayload()
	limits   *Limits        // nil: testLimits()
	want     string         // "" for valid
	skipJSON bool           // JSON cannot carry the value (invalid UTF-8)
}

func (tt validateTest) payload() Payload {
	p := batchPayload()
	tt.modify(&p)
	return p
}

func (tt validateTest) lim() Limits {
	if tt.limits != nil {
		return *tt.limits
	}
	return testLimits()
}

// validateTests covers every payload rule; TestValidate, TestNewTask and
// FuzzParse share it.
func validateTests() []validateTest {
	const (
		x264Presets  = "ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, veryslow, placebo"
		nvencPresets = "default, slow, medium, fast, hp, hq, bd, ll, llhq, llhp, lossless, losslesshp, p1, p2, p3, p4, p5, p6, p7"
		liveSchemes  = "s3, file, https, srt, rtmp or udp"
	)
	noRoots := &Limits{}
	inline := ladder.Default()
	inline.Name = "custom"
	return []validateTest{
		// Valid.
		{name: "batch", modify: nop},
		{name: "live", modify: live(nop)},
		{name: "every field", modify: func(p *Payload) {
			p.Preset, p.Ladder, p.Outputs = "slow", &LadderRef{Name: "default"}, []string{"mp4", "hls"}
			p.FallbackToCPU, p.Timeout = true, dur(48*time.Hour)
		}},
		{name: "inline ladder", modify: func(p *Payload) { p.Ladder = &LadderRef{Inline: &inline} }},
		{name: "no job id", modify: func(p *Payload) { p.JobID = "" }},
		{name: "job id 128 bytes", modify: func(p *Payload) { p.JobID = strings.Repeat("Az09._-", 19)[:128] }},
		{name: "job id of three dots", modify: func(p *Payload) { p.JobID = "..." }},
		{name: "codec auto", modify: func(p *Payload) { p.Codec = "auto" }},
		{name: "nvenc preset", modify: func(p *Payload) { p.Codec, p.Preset = "hevc_nvenc", "p7" }},
		{name: "file input", modify: input("file:///data/in/a.mp4")},
		{name: "file input unclean", modify: input("file:///data/in/./x//a.mp4")},
		{name: "https input signed", modify: input("https://cdn.example.com/a.mp4?X-Amz-Expires=300&X-Amz-Signature=abc")},
		{name: "https input port", modify: input("https://cdn.example.com:8443/a.mp4")},
		{name: "s3 key escaped query char", modify: input("s3://media-in/a%3Fb.mp4")},
		{name: "s3 dotted bucket", modify: input("s3://my.media-01/a.mp4")},
		{name: "s3 bucket 63 bytes", modify: input("s3://" + strings.Repeat("b", 63) + "/k")},
		{name: "input 4096 bytes", modify: input("s3://media-in/" + strings.Repeat("k", 4096-len("s3://media-in/")))},
		{name: "live s3 input", modify: live(input("s3://media-in/loop.ts"))},
		{name: "longest escaped locations", modify: func(p *Payload) {
			// json.Marshal writes '<' as \u003c: six bytes per byte, and the
			// task payload still fits in MaxPayloadBytes.
			p.Input = "https://cdn.example.com/?" + strings.Repeat("<", 4096-len("https://cdn.example.com/?"))
			p.Output = "/data/out/" + strings.Repeat("<", 4096-len("/data/out/"))
		}},
		{name: "live rtmp", modify: live(input("rtmp://ingest.example.net:1935/live/key"))},
		{name: "live udp multicast", modify: live(input("udp://239.0.0.1:1234?pkt_size=1316"))},
		{name: "live srt ipv6", modify: live(input("srt://[2001:db8::1]:9000"))},
		{name: "output under root", modify: output("/data/out/job-1")},
		{name: "output is root", modify: output("/data/out")},
		{name: "output under root with slash", modify: output("/mnt/scratch/x")},
		{name: "output is root with slash", modify: output("/mnt/scratch")},
		{name: "output without roots", modify: output("/srv/anything"), limits: noRoots},
		{name: "timeout minimum", modify: func(p *Payload) { p.Timeout = dur(time.Second) }},
		{name: "timeout at custom maximum", modify: func(p *Payload) { p.Timeout = dur(time.Hour) }, limits: &Limits{MaxTimeout: time.Hour}},
		{name: "default timeout capped", modify: live(nop), limits: &Limits{MaxTimeout: time.Hour}},
		{name: "idle timeout equals timeout", modify: live(func(p *Payload) { p.Timeout, p.IdleTimeout = dur(time.Minute), dur(time.Minute) })},
		{name: "default idle timeout capped", modify: live(func(p *Payload) { p.Timeout = dur(10 * time.Second) })},

		// Version, job_id, mode.
		{name: "version missing", modify: func(p *Payload) { p.Version = 0 }, want: "invalid payload: version: unsupported version 0 (want 1)"},
		{name: "version 2", modify: func(p *Payload) { p.Version = 2 }, want: "invalid payload: version: unsupported version 2 (want 1)"},
		{name: "job id too long", modify: func(p *Payload) { p.JobID = strings.Repeat("a", 129) }, want: "invalid payload: job_id: longer than 128 bytes"},
		{name: "job id slash", modify: func(p *Payload) { p.JobID = "job/1" }, want: "invalid payload: job_id: character '/' at byte 3 is not allowed (want [A-Za-z0-9._-])"},
		{name: "job id space", modify: func(p *Payload) { p.JobID = "job 1" }, want: "invalid payload: job_id: character ' ' at byte 3 is not allowed (want [A-Za-z0-9._-])"},
		{name: "job id non-ASCII", modify: func(p *Payload) { p.JobID = "jöb" }, want: "invalid payload: job_id: character 'ö' at byte 1 is not allowed (want [A-Za-z0-9._-])"},
		{name: "job id dot", modify: func(p *Payload) { p.JobID = "." }, want: `invalid payload: job_id: "." is not allowed`},
		{name: "job id dot dot", modify: func(p *Payload) { p.JobID = ".." }, want: `invalid payload: job_id: ".." is not allowed`},
		{name: "mode missing", modify: func(p *Payload) { p.Mode = "" }, want: "invalid payload: mode: missing (want batch or live)"},
		{name: "mode unknown", modify: func(p *Payload) { p.Mode = "vod" }, want: `invalid payload: mode: unknown mode "vod" (want batch or live)`},
		{name: "mode capitalised", modify: func(p *Payload) { p.Mode = "Live" }, want: `invalid payload: mode: unknown mode "Live" (want batch or live)`},

		// Input text.
		{name: "input missing", modify: input(""), want: "invalid payload: input: missing"},
		{name: "input too long", modify: input("s3://media-in/" + strings.Repeat("k", 4097-len("s3://media-in/"))), want: "invalid payload: input: longer than 4096 bytes"},
		{name: "input newline", modify: input("s3://media-in/a\nb.mp4"), want: "invalid payload: input: control character U+000A at byte 15"},
		{name: "input NUL", modify: input("file:///data/in/a\x00"), want: "invalid payload: input: control character U+0000 at byte 17"},
		{name: "input DEL", modify: input("s3://media-in/a\x7f"), want: "invalid payload: input: control character U+007F at byte 15"},
		{name: "input C1 control", modify: input("s3://media-in/a\u0085"), want: "invalid payload: input: control character U+0085 at byte 15"},
		{name: "input invalid UTF-8", modify: input("s3://media-in/\xff"), want: "invalid payload: input: not valid UTF-8", skipJSON: true},
		{name: "input unparsable", modify: input("https://[::1/a"), want: `invalid payload: input: parse "https://[::1/a": missing ']' in host`},

		// Input schemes.
		{name: "input bare path", modify: input("/data/in/a.mp4"), want: "invalid payload: input: not a URL (want s3, file or https)"},
		{name: "input relative", modify: input("a.mp4"), want: "invalid payload: input: not a URL (want s3, file or https)"},
		{name: "live input bare path", modify: live(input("/data/in/a.mp4")), want: "invalid payload: input: not a URL (want " + liveSchemes + ")"},
		{name: "input http", modify: input("http://cdn.example.com/a.mp4"), want: "invalid payload: input: http is not allowed (use https)"},
		{name: "live input http", modify: live(input("http://cdn.example.com/live.m3u8")), want: "invalid payload: input: http is not allowed (use https)"},
		{name: "input ftp", modify: input("ftp://example.com/a.mp4"), want: `invalid payload: input: unsupported scheme "ftp" (want s3, file or https)`},
		{name: "live input rtmps", modify: live(input("rtmps://ingest.example.net:443/live")), want: `invalid payload: input: unsupported scheme "rtmps" (want ` + liveSchemes + ")"},
		{name: "batch srt", modify: input("srt://ingest.example.net:9000"), want: "invalid payload: input: srt is only allowed for live jobs"},
		{name: "batch rtmp", modify: input("rtmp://ingest.example.net:1935/live"), want: "invalid payload: input: rtmp is only allowed for live jobs"},
		{name: "batch udp", modify: input("udp://239.0.0.1:1234"), want: "invalid payload: input: udp is only allowed for live jobs"},
		{name: "https userinfo", modify: input("https://user:pw@cdn.example.com/a.mp4"), want: "invalid payload: input: URL must not contain userinfo"},
		{name: "s3 userinfo", modify: input("s3://key@media-in/a.mp4"), want: "invalid payload: input: URL must not contain userinfo"},
		{name: "https no host", modify: input("https:///a.mp4"), want: "invalid payload: input: https URL has no host"},
		{name: "https opaque", modify: input("https:cdn.example.com/a.mp4"), want: "invalid payload: input: https URL has no host"},

		// S3 inputs.
		{name: "s3 no key", modify: input("s3://media-in"), want: "invalid payload: input: s3 URL has no key"},
		{name: "s3 empty key", modify: input("s3://media-in/"), want: "invalid payload: input: s3 URL has no key"},
		{name: "s3 opaque", modify: input("s3:media-in/a.mp4"), want: "invalid payload: input: want s3://bucket/key"},
		{name: "s3 no bucket", modify: input("s3:///a.mp4"), want: "invalid payload: input: want s3://bucket/key"},
		{name: "s3 query", modify: input("s3://media-in/a.mp4?versionId=1"), want: "invalid payload: input: s3 URL must not have a query or fragment"},
		{name: "s3 fragment", modify: input("s3://media-in/a#1.mp4"), want: "invalid payload: input: s3 URL must not have a query or fragment"},
		{name: "bucket too short", modify: input("s3://ab/k"), want: `invalid payload: input: bucket "ab" must be 3 to 63 characters long`},
		{name: "bucket too long", modify: input("s3://" + strings.Repeat("b", 64) + "/k"), want: `invalid payload: input: bucket "` + strings.Repeat("b", 64) + `" must be 3 to 63 characters long`},
		{name: "bucket uppercase", modify: input("s3://Media-in/k"), want: `invalid payload: input: bucket "Media-in" may contain only lowercase letters, digits, dots and hyphens`},
		{name: "bucket underscore", modify: input("s3://media_in/k"), want: `invalid payload: input: bucket "media_in" may contain only lowercase letters, digits, dots and hyphens`},
		{name: "bucket with port", modify: input("s3://media-in:9000/k"), want: `invalid payload: input: bucket "media-in:9000" may contain only lowercase letters, digits, dots and hyphens`},
		{name: "bucket leading hyphen", modify: input("s3://-media/k"), want: `invalid payload: input: bucket "-media" must begin and end with a letter or digit`},
		{name: "bucket trailing dot", modify: input("s3://media./k"), want: `invalid payload: input: bucket "media." must begin and end with a letter or digit`},
		{name: "bucket adjacent dots", modify: input("s3://media..in/k"), want: `invalid payload: input: bucket "media..in" must not contain two adjacent dots`},
		{name: "bucket IP address", modify: input("s3://192.168.5.4/k"), want: `invalid payload: input: bucket "192.168.5.4" must not be formatted as an IP address`},
		{name: "bucket prefix xn--", modify: input("s3://xn--media/k"), want: `invalid payload: input: bucket "xn--media" must not start with the reserved prefix "xn--"`},
		{name: "bucket prefix sthree-", modify: input("s3://sthree-media/k"), want: `invalid payload: input: bucket "sthree-media" must not start with the reserved prefix "sthree-"`},
		{name: "bucket prefix amzn-s3-demo-", modify: input("s3://amzn-s3-demo-media/k"), want: `invalid payload: input: bucket "amzn-s3-demo-media" must not start with the reserved prefix "amzn-s3-demo-"`},
		{name: "bucket suffix -s3alias", modify: input("s3://media-s3alias/k"), want: `invalid payload: input: bucket "media-s3alias" must not end with the reserved suffix "-s3alias"`},
		{name: "bucket suffix --ol-s3", modify: input("s3://media--ol-s3/k"), want: `invalid payload: input: bucket "media--ol-s3" must not end with the reserved suffix "--ol-s3"`},
		{name: "bucket suffix .mrap", modify: input("s3://media.mrap/k"), want: `invalid payload: input: bucket "media.mrap" must not end with the reserved suffix ".mrap"`},
		{name: "bucket suffix --x-s3", modify: input("s3://media--x-s3/k"), want: `invalid payload: input: bucket "media--x-s3" must not end with the reserved suffix "--x-s3"`},
		{name: "bucket suffix --table-s3", modify: input("s3://media--table-s3/k"), want: `invalid payload: input: bucket "media--table-s3" must not end with the reserved suffix "--table-s3"`},

		// File inputs.
		{name: "file without roots", modify: input("file:///data/in/a.mp4"), limits: noRoots, want: "invalid payload: input: file inputs are disabled (no allowed input roots)"},
		{name: "file outside roots", modify: input("file:///etc/passwd"), want: `invalid payload: input: path "/etc/passwd" is outside the allowed input roots`},
		{name: "file in sibling of root", modify: input("file:///data/input/a.mp4"), want: `invalid payload: input: path "/data/input/a.mp4" is outside the allowed input roots`},
		{name: "file dot dot", modify: input("file:///data/in/../secret/a.mp4"), want: `invalid payload: input: path "/data/in/../secret/a.mp4" contains a .. element`},
		{name: "file escaped dot dot", modify: input("file:///data/in/%2E%2E/secret"), want: `invalid payload: input: path "/data/in/../secret" contains a .. element`},
		{name: "file host", modify: input("file://fileserver/data/in/a.mp4"), want: "invalid payload: input: want file:///absolute/path"},
		{name: "file localhost", modify: input("file://localhost/data/in/a.mp4"), want: "invalid payload: input: want file:///absolute/path"},
		{name: "file relative", modify: input("file:data/in/a.mp4"), want: "invalid payload: input: want file:///absolute/path"},
		{name: "file query", modify: input("file:///data/in/a.mp4?x=1"), want: "invalid payload: input: file URL must not have a query or fragment"},

		// Live inputs.
		{name: "srt no port", modify: live(input("srt://ingest.example.net")), want: "invalid payload: input: srt URL has no port"},
		{name: "udp no host", modify: live(input("udp://:1234")), want: "invalid payload: input: udp URL has no host"},
		{name: "udp at form", modify: live(input("udp://@239.0.0.1:1234")), want: "invalid payload: input: URL must not contain userinfo"},
		{name: "rtmp userinfo", modify: live(input("rtmp://u:p@ingest.example.net:1935/live")), want: "invalid payload: input: URL must not contain userinfo"},
		{name: "rtmp port 0", modify: live(input("rtmp://ingest.example.net:0/live")), want: "invalid payload: input: rtmp URL port 0 is out of range"},
		{name: "srt port too big", modify: live(input("srt://ingest.example.net:65536")), want: "invalid payload: input: srt URL port 65536 is out of range"},
		{name: "rtmp port not a number", modify: live(input("rtmp://ingest.example.net:abc/live")), want: `invalid payload: input: parse "rtmp://ingest.example.net:abc/live": invalid port ":abc" after host`},

		// Output.
		{name: "output missing", modify: output(""), want: "invalid payload: output: missing"},
		{name: "output too long", modify: output("/data/out/" + strings.Repeat("d", 4097-len("/data/out/"))), want: "invalid payload: output: longer than 4096 bytes"},
		{name: "output control character", modify: output("/data/out/a\tb"), want: "invalid payload: output: control character U+0009 at byte 11"},
		{name: "output relative", modify: output("out/a"), want: "invalid payload: output: want s3://bucket/prefix or an absolute directory"},
		{name: "output https", modify: output("https://cdn.example.com/a/"), want: "invalid payload: output: want s3://bucket/prefix or an absolute directory"},
		{name: "output file URL", modify: output("file:///data/out/a"), want: "invalid payload: output: want s3://bucket/prefix or an absolute directory"},
		{name: "output s3 no prefix", modify: output("s3://media-out"), want: "invalid payload: output: s3 URL has no prefix"},
		{name: "output s3 bad bucket", modify: output("s3://Media/a"), want: `invalid payload: output: bucket "Media" may contain only lowercase letters, digits, dots and hyphens`},
		{name: "output s3 userinfo", modify: output("s3://k:s@media-out/a"), want: "invalid payload: output: URL must not contain userinfo"},
		{name: "output dot dot", modify: output("/data/out/../in"), want: `invalid payload: output: path "/data/out/../in" contains a .. element`},
		{name: "output dot dot without roots", modify: output("/srv/../etc"), limits: noRoots, want: `invalid payload: output: path "/srv/../etc" contains a .. element`},
		{name: "output outside roots", modify: output("/tmp/x"), want: `invalid payload: output: path "/tmp/x" is outside the allowed output roots`},
		{name: "output in sibling of root", modify: output("/data/outside"), want: `invalid payload: output: path "/data/outside" is outside the allowed output roots`},

		// Codec, preset.
		{name: "codec missing", modify: func(p *Payload) { p.Codec = "" }, want: "invalid payload: codec: missing (want x264, x265, h264_nvenc, hevc_nvenc or auto)"},
		{name: "codec unknown", modify: func(p *Payload) { p.Codec = "vp9" }, want: `invalid payload: codec: unknown codec "vp9" (want x264, x265, h264_nvenc, hevc_nvenc or auto)`},
		{name: "codec encoder name", modify: func(p *Payload) { p.Codec = "libx264" }, want: `invalid payload: codec: unknown codec "libx264" (want x264, x265, h264_nvenc, hevc_nvenc or auto)`},
		{name: "x264 nvenc preset", modify: func(p *Payload) { p.Preset = "p4" }, want: `invalid payload: preset: codec x264: unknown preset "p4" (want one of ` + x264Presets + ")"},
		{name: "nvenc x264 preset", modify: func(p *Payload) { p.Codec, p.Preset = "h264_nvenc", "veryslow" }, want: `invalid payload: preset: codec h264_nvenc: unknown preset "veryslow" (want one of ` + nvencPresets + ")"},
		{name: "auto with preset", modify: func(p *Payload) { p.Codec, p.Preset = "auto", "fast" }, want: "invalid payload: preset: must be empty with codec auto, as presets are codec-specific"},

		// Ladder, outputs.
		{name: "ladder name and inline", modify: func(p *Payload) { p.Ladder = &LadderRef{Name: "default", Inline: &inline} }, want: "invalid payload: ladder: set exactly one of name and inline"},
		{name: "ladder empty", modify: func(p *Payload) { p.Ladder = &LadderRef{} }, want: "invalid payload: ladder: set exactly one of name and inline"},
		{name: "ladder unknown name", modify: func(p *Payload) { p.Ladder = &LadderRef{Name: "hd"} }, want: `invalid payload: ladder.name: ladder: unknown ladder "hd" (want default)`},
		{name: "ladder inline invalid", modify: func(p *Payload) { p.Ladder = &LadderRef{Inline: &ladder.Ladder{Name: "empty"}} }, want: "invalid payload: ladder.inline: ladder: no rungs"},
		{name: "outputs unknown", modify: func(p *Payload) { p.Outputs = []string{"hls", "dash"} }, want: `invalid payload: outputs: unknown output "dash" (want hls or mp4)`},
		{name: "outputs empty name", modify: func(p *Payload) { p.Outputs = []string{""} }, want: `invalid payload: outputs: unknown output "" (want hls or mp4)`},
		{name: "outputs duplicate", modify: func(p *Payload) { p.Outputs = []string{"hls", "mp4", "hls"} }, want: `invalid payload: outputs: duplicate output "hls"`},

		// Timeouts.
		{name: "timeout negative", modify: func(p *Payload) { p.Timeout = dur(-time.Minute) }, want: "invalid payload: timeout: -1m0s is below the minimum 1s"},
		{name: "timeout below a second", modify: func(p *Payload) { p.Timeout = dur(500 * time.Millisecond) }, want: "invalid payload: timeout: 500ms is below the minimum 1s"},
		{name: "timeout over 48h", modify: func(p *Payload) { p.Timeout = dur(49 * time.Hour) }, want: "invalid payload: timeout: 49h0m0s exceeds the maximum 48h0m0s"},
		{name: "timeout over custom maximum", modify: func(p *Payload) { p.Timeout = dur(2 * time.Hour) }, limits: &Limits{MaxTimeout: time.Hour}, want: "invalid payload: timeout: 2h0m0s exceeds the maximum 1h0m0s"},
		{name: "idle timeout on batch", modify: func(p *Payload) { p.IdleTimeout = dur(time.Minute) }, want: "invalid payload: idle_timeout: only valid for live jobs"},
		{name: "idle timeout below a second", modify: live(func(p *Payload) { p.IdleTimeout = dur(100 * time.Millisecond) }), want: "invalid payload: idle_timeout: 100ms is below the minimum 1s"},
		{name: "idle timeout negative", modify: live(func(p *Payload) { p.IdleTimeout = dur(-time.Second) }), want: "invalid payload: idle_timeout: -1s is below the minimum 1s"},
		{name: "idle timeout over timeout", modify: live(func(p *Payload) { p.Timeout, p.IdleTimeout = dur(time.Minute), dur(2*time.Minute) }), want: "invalid payload: idle_timeout: 2m0s exceeds the timeout 1m0s"},
		{name: "idle timeout over default timeout", modify: live(func(p *Payload) { p.IdleTimeout = dur(13 * time.Hour) }), want: "invalid payload: idle_timeout: 13h0m0s exceeds the timeout 12h0m0s"},
	}
}

// checkErr fails t unless err is nil when want is "", or otherwise an
// *InvalidPayloadError with the message want.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("error = %v; want nil", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("error = nil; want %s", want)
	}
	if err.Error() != want {
		t.Fatalf("error = %s\n        want  %s", err, want)
	}
	var e *InvalidPayloadError
	if !errors.As(err, &e) || !errors.Is(err, ErrInvalidPayload) {
		t.Fatalf("error %v is a %T, not an *InvalidPayloadError matching ErrInvalidPayload", err, err)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range validateTests() {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.payload()
			orig := tt.payload()
			checkErr(t, p.Validate(tt.lim()), tt.want)
			if !reflect.DeepEqual(p, orig) {
				t.Errorf("Validate modified the payload: %+v; was %+v", p, orig)
			}
			if tt.skipJSON {
				return
			}
			data, err := json.Marshal(&p)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(data, tt.lim())
			checkErr(t, err, tt.want)
		})
	}
}

func TestParse(t *testing.T) {
	const minimal = `{"version":1,"mode":"batch","input":"s3://media-in/a.mp4","output":"s3://media-out/a","codec":"x264"}`
	batch := Payload{
		Version: 1, Mode: ladder.Batch, Input: "s3://media-in/a.mp4", Output: "s3://media-out/a", Codec: "x264",
		Outputs: []string{"hls"}, Timeout: dur(2 * time.Hour),
	}
	inline := ladder.Default()
	inline.Name, inline.MaxFPS, inline.Rungs = "two", 30, inline.Rungs[1:3]
	tests := []struct {
		name   string
		data   string
		limits *Limits // nil: testLimits()
		want   *Payload
		err    string
	}{
		{name: "batch defaults", data: minimal, want: &batch},
		{name: "live defaults",
			data: `{"version":1,"job_id":"cam-7","mode":"live","input":"rtmp://ingest.example.net:1935/live/cam7","output":"/data/out/cam7","codec":"auto"}`,
			want: &Payload{
				Version: 1, JobID: "cam-7", Mode: ladder.Live, Input: "rtmp://ingest.example.net:1935/live/cam7", Output: "/data/out/cam7", Codec: "auto",
				Outputs: []string{"hls"}, Timeout: dur(12 * time.Hour), IdleTimeout: dur(30 * time.Second),
			}},
		{name: "live defaults capped",
			data:   `{"version":1,"mode":"live","input":"udp://239.0.0.1:1234","output":"s3://media-out/a","codec":"x264","timeout":"10s"}`,
			limits: &Limits{MaxTimeout: time.Minute},
			want: &Payload{
				Version: 1, Mode: ladder.Live, Input: "udp://239.0.0.1:1234", Output: "s3://media-out/a", Codec: "x264",
				Outputs: []string{"hls"}, Timeout: dur(10 * time.Second), IdleTimeout: dur(10 * time.Second),
			}},
		{name: "every field",
			data: `{
				"version": 1, "job_id": "job-42", "mode": "batch",
				"input": "file:///data/in/a.mp4", "output": "/data/out/job-42",
				"codec": "hevc_nvenc", "preset": "p5",
				"ladder": {"inline": {"name": "two", "max_fps": 30, "rungs": [
					{"name": "720p", "width": 1280, "height": 720, "bitrate_kbps": 3000},
					{"name": "480p", "width": 854, "height": 480, "bitrate_kbps": 1500}]}},
				"outputs": ["mp4", "hls"], "fallback_to_cpu": true, "timeout": "1h30m"
			}`,
			want: &Payload{
				Version: 1, JobID: "job-42", Mode: ladder.Batch, Input: "file:///data/in/a.mp4", Output: "/data/out/job-42",
				Codec: "hevc_nvenc", Preset: "p5", Ladder: &LadderRef{Inline: &inline}, Outputs: []string{"mp4", "hls"},
				FallbackToCPU: true, Timeout: dur(90 * time.Minute),
			}},
		{name: "nulls are defaults", data: strings.TrimSuffix(minimal, "}") + `,"ladder":null,"outputs":null,"timeout":null}`, want: &batch},
		{name: "empty outputs is default", data: strings.TrimSuffix(minimal, "}") + `,"outputs":[]}`, want: &batch},
		{name: "zero timeout is default", data: strings.TrimSuffix(minimal, "}") + `,"timeout":"0s"}`, want: &batch},
		{name: "surrounding space", data: "\n\t " + minimal + "\n", want: &batch},
		{name: "padded to the limit", data: minimal + strings.Repeat(" ", MaxPayloadBytes-len(minimal)), want: &batch},

		{name: "over the limit", data: minimal + strings.Repeat(" ", MaxPayloadBytes-len(minimal)+1),
			err: "invalid payload: json: document is 65537 bytes, over the 65536-byte limit"},
		{name: "empty", data: "", err: "invalid payload: json: empty document"},
		{name: "blank", data: " \n", err: "invalid payload: json: empty document"},
		{name: "null", data: "null", err: "invalid payload: version: unsupported version 0 (want 1)"},
		{name: "array", data: "[]", err: "invalid payload: json: cannot unmarshal array into Go value of type queue.Payload"},
		{name: "truncated", data: minimal[:40], err: "invalid payload: json: unexpected end of document"},
		{name: "syntax error", data: `{"version":1,}`, err: "invalid payload: json: invalid character '}' looking for beginning of object key string"},
		{name: "second document", data: minimal + "{}", err: "invalid payload: json: unexpected data after the document"},
		{name: "trailing garbage", data: minimal + " x", err: "invalid payload: json: invalid character 'x' looking for beginning of value"},
		{name: "unknown field", data: strings.TrimSuffix(minimal, "}") + `,"priority":1}`, err: `invalid payload: json: unknown field "priority"`},
		{name: "unknown inline ladder field", data: strings.TrimSuffix(minimal, "}") + `,"ladder":{"inline":{"name":"x","rungs":[],"fps":30}}}`,
			err: `invalid payload: json: unknown field "fps"`},
		{name: "version missing", data: `{"mode":"batch"}`, err: "invalid payload: version: unsupported version 0 (want 1)"},
		{name: "version 2 with new fields", data: `{"version":2,"priority":1}`, err: "invalid payload: version: unsupported version 2 (want 1)"},
		{name: "version string", data: `{"version":"1"}`, err: "invalid payload: json: cannot unmarshal string into Go struct field Payload.version of type int"},
		{name: "version float", data: `{"version":1.0}`, err: "invalid payload: json: cannot unmarshal number 1.0 into Go struct field Payload.version of type int"},
		{name: "timeout number", data: strings.TrimSuffix(minimal, "}") + `,"timeout":7200}`,
			err: "invalid payload: json: cannot unmarshal number 7200 into Go struct field Payload.timeout of type queue.Duration"},
		{name: "timeout without unit", data: strings.TrimSuffix(minimal, "}") + `,"timeout":"7200"}`,
			err: `invalid payload: json: cannot unmarshal string "7200" into Go struct field Payload.timeout of type queue.Duration`},
		{name: "outputs string", data: strings.TrimSuffix(minimal, "}") + `,"outputs":"hls"}`,
			err: "invalid payload: json: cannot unmarshal string into Go struct field Payload.outputs of type []string"},
		{name: "validation after defaults", data: strings.Replace(minimal, `"batch"`, `"live"`, 1) + "",
			limits: &Limits{MaxTimeout: time.Second / 2}, err: "invalid payload: timeout: 500ms is below the minimum 1s"},
		{name: "escaped control character", data: strings.Replace(minimal, "a.mp4", `a\u0000.mp4`, 1),
			err: "invalid payload: input: control character U+0000 at byte 15"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := testLimits()
			if tt.limits != nil {
				l = *tt.limits
			}
			got, err := Parse([]byte(tt.data), l)
			checkErr(t, err, tt.err)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse = %+v\n  want %+v", got, tt.want)
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		name string
		json string
		want time.Duration // also the start value, to show what null keeps
		err  string
	}{
		{name: "seconds", json: `"90s"`, want: 90 * time.Second},
		{name: "hours", json: `"2h"`, want: 2 * time.Hour},
		{name: "compound", json: `"1h2m3.5s"`, want: time.Hour + 2*time.Minute + 3500*time.Millisecond},
		{name: "negative", json: `"-5m"`, want: -5 * time.Minute},
		{name: "zero", json: `"0"`, want: 0},
		{name: "null keeps value", json: `null`, want: time.Minute},
		{name: "number", json: `90`, err: "json: cannot unmarshal number 90 into Go value of type queue.Duration"},
		{name: "float", json: `1.5e3`, err: "json: cannot unmarshal number 1.5e3 into Go value of type queue.Duration"},
		{name: "no unit", json: `"90"`, err: `json: cannot unmarshal string "90" into Go value of type queue.Duration`},
		{name: "empty string", json: `""`, err: `json: cannot unmarshal string "" into Go value of type queue.Duration`},
		{name: "overflow", json: `"9999999999h"`, err: `json: cannot unmarshal string "9999999999h" into Go value of type queue.Duration`},
		{name: "bool", json: `true`, err: "json: cannot unmarshal bool into Go value of type queue.Duration"},
		{name: "object", json: `{"seconds":90}`, err: "json: cannot unmarshal object into Go value of type queue.Duration"},
		{name: "array", json: `["90s"]`, err: "json: cannot unmarshal array into Go value of type queue.Duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Duration{time.Minute}
			err := json.Unmarshal([]byte(tt.json), &d)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("Unmarshal(%s) error = %v; want %s", tt.json, err, tt.err)
				}
				return
			}
			if err != nil || d.Duration != tt.want {
				t.Fatalf("Unmarshal(%s) = %v, %v; want %v", tt.json, d, err, tt.want)
			}
			out, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			var back Duration
			if err := json.Unmarshal(out, &back); err != nil || back != d {
				t.Errorf("Marshal = %s, which reads back as %v, %v", out, back, err)
			}
		})
	}
	if out, err := json.Marshal(Duration{90 * time.Second}); string(out) != `"1m30s"` || err != nil {
		t.Errorf(`Marshal(90s) = %s, %v; want "1m30s"`, out, err)
	}
}

// TestPayloadJSON pins the wire format: field names, omitted zero values and
// duration strings.
func TestPayloadJSON(t *testing.T) {
	inline := ladder.Default()
	inline.Name, inline.Rungs = "one", inline.Rungs[:1]
	tests := []struct {
		name string
		p    Payload
		want string
	}{
		{name: "minimal", p: batchPayload(),
			want: `{"version":1,"job_id":"job-1","mode":"batch","input":"s3://media-in/src/a.mp4","output":"s3://media-out/a","codec":"x264"}`},
		{name: "full", p: Payload{
			Version: 1, JobID: "cam-7", Mode: ladder.Live, Input: "srt://ingest.example.net:9000", Output: "/data/out/cam7",
			Codec: "h264_nvenc", Preset: "p4", Ladder: &LadderRef{Inline: &inline}, Outputs: []string{"hls", "mp4"},
			FallbackToCPU: true, Timeout: dur(6 * time.Hour), IdleTimeout: dur(45 * time.Second),
		}, want: `{"version":1,"job_id":"cam-7","mode":"live","input":"srt://ingest.example.net:9000","output":"/data/out/cam7",` +
			`"codec":"h264_nvenc","preset":"p4","ladder":{"inline":{"name":"one","rungs":[{"name":"1080p","width":1920,"height":1080,"bitrate_kbps":6000}]}},` +
			`"outputs":["hls","mp4"],"fallback_to_cpu":true,"timeout":"6h0m0s","idle_timeout":"45s"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(&tt.p)
			if err != nil || string(got) != tt.want {
				t.Fatalf("Marshal = %s, %v\n   want %s", got, err, tt.want)
			}
			back, err := Parse(got, testLimits())
			if err != nil {
				t.Fatal(err)
			}
			want := tt.p.withDefaults(testLimits())
			if !reflect.DeepEqual(back, &want) {
				t.Errorf("Parse(Marshal(p)) = %+v\n                want %+v", back, want)
			}
		})
	}
}

func TestLadderRefResolve(t *testing.T) {
	inline := ladder.Default()
	inline.Name = "custom"
	tests := []struct {
		name string
		ref  *LadderRef
		want string // ladder name, or the error
		err  bool
	}{
		{name: "nil", ref: nil, want: "default"},
		{name: "named", ref: &LadderRef{Name: "default"}, want: "default"},
		{name: "inline", ref: &LadderRef{Inline: &inline}, want: "custom"},
		{name: "unknown", ref: &LadderRef{Name: "hd"}, want: `ladder: unknown ladder "hd" (want default)`, err: true},
		{name: "empty", ref: &LadderRef{}, want: "queue: ladder reference must set exactly one of name and inline", err: true},
		{name: "both", ref: &LadderRef{Name: "default", Inline: &inline}, want: "queue: ladder reference must set exactly one of name and inline", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := tt.ref.Resolve()
			switch {
			case tt.err && (err == nil || err.Error() != tt.want):
				t.Fatalf("Resolve() error = %v; want %s", err, tt.want)
			case !tt.err && (err != nil || l.Name != tt.want):
				t.Fatalf("Resolve() = %q, %v; want %q", l.Name, err, tt.want)
			}
		})
	}
	l, _ := (&LadderRef{Inline: &inline}).Resolve()
	l.Rungs[0].BitrateKbps = 1
	if inline.Rungs[0].BitrateKbps == 1 {
		t.Error("Resolve shares the inline ladder's rungs")
	}
}

// FuzzParse checks that Parse never panics, only fails with
// *InvalidPayloadError, and that what it accepts validates again, survives a
// JSON round trip unchanged and makes a task that decodes to the same payload.
func FuzzParse(f *testing.F) {
	for _, tt := range validateTests() {
		p := tt.payload()
		data, err := json.Marshal(&p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		`{"version":1,"mode":"live","input":"rtmp://h:1935/a","output":"/data/out/x","codec":"auto","timeout":"1h","idle_timeout":"1m"}`,
		`{"version":1,"mode":"batch","input":"s3://media-in/a","output":"s3://media-out/a","codec":"x264","ladder":{"inline":{"name":"x","max_fps":29.97,"gop_seconds":0.5,"rungs":[{"name":"a","width":640,"height":360,"bitrate_kbps":800,"hevc_bitrate_kbps":500}]}}}`,
		`{"version":2}`, `null`, `[]`, `{"version":1} {}`, `{"VERSION":1,"Mode":"batch"}`,
	} {
		f.Add([]byte(s))
	}
	l := testLimits()
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, l)
		if err != nil {
			var e *InvalidPayloadError
			if !errors.As(err, &e) || !errors.Is(err, ErrInvalidPayload) || p != nil {
				t.Fatalf("Parse = %v, %v (%T); want nil and an *InvalidPayloadError", p, err, err)
			}
			return
		}
		if err := p.Validate(l); err != nil {
			t.Fatalf("Parse accepted a payload that Validate rejects: %v", err)
		}
		again, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := Parse(again, l)
		if err != nil || !reflect.DeepEqual(p, q) {
			t.Fatalf("re-Parse of %s = %+v, %v; want %+v", again, q, err, p)
		}
		task, err := NewTask(p, l)
		if err != nil {
			t.Fatalf("NewTask: %v", err)
		}
		if !bytes.Equal(task.Payload(), again) {
			t.Fatalf("NewTask payload = %s; want %s", task.Payload(), again)
		}
		d, err := Decode(task, l)
		if err != nil || !reflect.DeepEqual(p, d) {
			t.Fatalf("Decode(NewTask(p)) = %+v, %v; want %+v", d, err, p)
		}
	})
}
