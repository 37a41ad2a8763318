package transcode

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abrfleet/abrfleet/ladder"
	"github.com/asticode/go-astiav"
)

// TestToolchainEncodes is the first proof that the FFmpeg build works in-process: a synthetic
// lavfi source is encoded for 60 frames with libx264 and with libx265, and each output is
// reopened and checked.
func TestToolchainEncodes(t *testing.T) {
	if v := FFmpegVersion(); !strings.HasPrefix(v, "8.") {
		t.Fatalf("linked FFmpeg is %q, want 8.x", v)
	}
	if want := os.Getenv("FFMPEG_PREFIX"); want != "" {
		got, _ := filepath.EvalSymlinks(FFmpegPrefix())
		if want, _ = filepath.EvalSymlinks(want); got != want {
			t.Fatalf("linked libavcodec is under %q, want the FFMPEG_PREFIX the build used, %q", got, want)
		}
	}
	single := ladder.Ladder{Name: "one", Rungs: []ladder.Rung{{Name: "360p", Width: 640, Height: 360, BitrateKbps: 800}}}
	for _, tc := range []struct {
		codec ladder.Codec
		want  string
	}{
		{ladder.X264, "h264"},
		{ladder.X265, "hevc"},
	} {
		t.Run(string(tc.codec), func(t *testing.T) {
			dir := t.TempDir()
			_, err := Run(context.Background(), Options{
				Input:     "synthetic:medium?size=640x360&fps=30&frames=60&audio=0",
				OutputDir: dir, Codec: tc.codec, Ladder: single, MP4: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Inspect(context.Background(), filepath.Join(dir, "360p.mp4"))
			if err != nil {
				t.Fatal(err)
			}
			v := rep.Video
			if v == nil || v.Codec != tc.want || v.Width != 640 || v.Height != 360 || v.Packets != 60 {
				t.Fatalf("got %+v, want %s 640x360 with 60 frames", v, tc.want)
			}
		})
	}
}

// TestNVENCCompiledInButUnavailable: NVENC is built in, and on a host without an NVIDIA GPU
// opening it is a clean, typed error rather than a crash.
func TestNVENCCompiledInButUnavailable(t *testing.T) {
	for _, c := range []ladder.Codec{ladder.H264NVENC, ladder.HEVCNVENC} {
		if astiav.FindEncoderByName(c.Encoder()) == nil {
			t.Fatalf("%s is not compiled into this FFmpeg", c.Encoder())
		}
		err := ProbeEncoder(c, "")
		if _, statErr := os.Stat("/dev/nvidia0"); statErr == nil {
			t.Logf("%s on a GPU host: %v", c, err)
			continue
		}
		if !errors.Is(err, ErrNVENCUnavailable) || CodeOf(err) != CodeNVENCUnavailable {
			t.Fatalf("%s without a GPU: got %v, want an NVENC-unavailable error", c, err)
		}
		if !strings.Contains(err.Error(), "NVENC unavailable") && !strings.Contains(err.Error(), string(CodeNVENCUnavailable)) {
			t.Fatalf("error text %q does not say NVENC is unavailable", err)
		}
		t.Logf("%s: %v", c, err)
	}
}
