package ladder

import (
	"fmt"
	"math"
	"reflect"
	"testing"
)

// The default ladder fitted to a 16:9 landscape or portrait source.
var (
	landscape16x9 = []string{
		"1080p 1920x1080 6000/3900", "720p 1280x720 3000/1950", "480p 854x480 1500/975",
		"360p 640x360 800/520", "160p 284x160 250/163",
	}
	portrait16x9 = []string{
		"1080p 1080x1920 6000/3900", "720p 720x1280 3000/1950", "480p 480x854 1500/975",
		"360p 360x640 800/520", "160p 160x284 250/163",
	}
)

// fitTests also seed FuzzFit.
var fitTests = []struct {
	name    string
	ladder  *Ladder // nil: Default()
	src     Source
	want    []string // "name WxH kbps/hevc-kbps"
	wantFPS Rational
	wantGOP int
	err     string
}{
	{name: "16:9 1080p", src: Source{Width: 1920, Height: 1080, FPS: Rational{30, 1}},
		want: landscape16x9, wantFPS: Rational{30, 1}, wantGOP: 60},
	{name: "16:9 4K", src: Source{Width: 3840, Height: 2160, FPS: Rational{25, 1}},
		want: landscape16x9, wantFPS: Rational{25, 1}, wantGOP: 50},
	{name: "4:3", src: Source{Width: 1440, Height: 1080, FPS: Rational{30, 1}},
		want: []string{
			"1080p 1440x1080 6000/3900", "720p 960x720 3000/1950", "480p 640x480 1500/975",
			"360p 480x360 800/520", "160p 214x160 250/163",
		}, wantFPS: Rational{30, 1}, wantGOP: 60},
	{name: "portrait", src: Source{Width: 1080, Height: 1920, FPS: Rational{30, 1}},
		want: portrait16x9, wantFPS: Rational{30, 1}, wantGOP: 60},
	{name: "rotated 90", src: Source{Width: 1920, Height: 1080, Rotation: 90, FPS: Rational{30, 1}},
		want: portrait16x9, wantFPS: Rational{30, 1}, wantGOP: 60},
	{name: "rotated -90", src: Source{Width: 1920, Height: 1080, Rotation: -90, FPS: Rational{30, 1}},
		want: portrait16x9, wantFPS: Rational{30, 1}, wantGOP: 60},
	{name: "rotated 180", src: Source{Width: 1920, Height: 1080, Rotation: 180, FPS: Rational{30, 1}},
		want: landscape16x9, wantFPS: Rational{30, 1}, wantGOP: 60},
	{name: "rotated -450", src: Source{Width: 1920, Height: 1080, Rotation: -450, FPS: Rational{30, 1}},
		want: portrait16x9, wantFPS: Rational{30, 1}, wantGOP: 60},
	{name: "odd dims", src: Source{Width: 1279, Height: 719, FPS: Rational{30, 1}},
		want:    []string{"480p 854x480 1500/975", "360p 640x360 800/520", "160p 284x160 250/163"},
		wantFPS: Rational{30, 1}, wantGOP: 60},
	{name: "odd dims just above a rung", src: Source{Width: 1921, Height: 1081, FPS: Rational{30, 1}},
		want: []string{ // 1921/1081*480 = 852.99
			"1080p 1920x1080 6000/3900", "720p 1280x720 3000/1950", "480p 852x480 1500/975",
			"360p 640x360 800/520", "160p 284x160 250/163",
		}, wantFPS: Rational{30, 1}, wantGOP: 60},
	{name: "tiny source", src: Source{Width: 200, Height: 112, FPS: Rational{30, 1}},
		want: []string{"source 200x112 250/163"}, wantFPS: Rational{30, 1}, wantGOP: 60},
	{name: "tiny odd portrait source", src: Source{Width: 113, Height: 201, FPS: Rational{30, 1}},
		want: []string{"source 112x200 250/163"}, wantFPS: Rational{30, 1}, wantGOP: 60},
	{name: "smallest source", src: Source{Width: 3, Height: 3, FPS: Rational{30, 1}},
		want: []string{"source 2x2 250/163"}, wantFPS: Rational{30, 1}, wantGOP: 60},
	{name: "square", src: Source{Width: 1080, Height: 1080, FPS: Rational{30, 1}},
		want: []string{
			"1080p 1080x1080 6000/3900", "720p 720x720 3000/1950", "480p 480x480 1500/975",
			"360p 360x360 800/520", "160p 160x160 250/163",
		}, wantFPS: Rational{30, 1}, wantGOP: 60},
	{name: "ultra-wide 2.39:1", src: Source{Width: 1920, Height: 804, FPS: Rational{24000, 1001}},
		want:    []string{"720p 1720x720 3000/1950", "480p 1146x480 1500/975", "360p 860x360 800/520", "160p 382x160 250/163"},
		wantFPS: Rational{24000, 1001}, wantGOP: 48},
	{name: "29.97 fps", src: Source{Width: 1920, Height: 1080, FPS: Rational{30000, 1001}},
		want: landscape16x9, wantFPS: Rational{30000, 1001}, wantGOP: 60},
	{name: "60 fps", src: Source{Width: 1920, Height: 1080, FPS: Rational{60, 1}},
		want: landscape16x9, wantFPS: Rational{60, 1}, wantGOP: 120},
	{name: "unreduced 60 fps", src: Source{Width: 1920, Height: 1080, FPS: Rational{6000, 100}},
		want: landscape16x9, wantFPS: Rational{60, 1}, wantGOP: 120},
	{name: "120 fps", src: Source{Width: 1920, Height: 1080, FPS: Rational{120, 1}},
		want: landscape16x9, wantFPS: Rational{60, 1}, wantGOP: 120},
	{name: "119.88 fps", src: Source{Width: 1920, Height: 1080, FPS: Rational{120000, 1001}},
		want: landscape16x9, wantFPS: Rational{60000, 1001}, wantGOP: 120},
	{name: "100 fps", src: Source{Width: 1920, Height: 1080, FPS: Rational{100, 1}},
		want: landscape16x9, wantFPS: Rational{50, 1}, wantGOP: 100},
	{name: "144 fps", src: Source{Width: 1920, Height: 1080, FPS: Rational{144, 1}},
		want: landscape16x9, wantFPS: Rational{48, 1}, wantGOP: 96},
	{name: "unknown fps", src: Source{Width: 1920, Height: 1080},
		want: landscape16x9, wantFPS: Rational{30, 1}, wantGOP: 60},
	{name: "unknown fps 0/1", src: Source{Width: 1920, Height: 1080, FPS: Rational{0, 1}},
		want: landscape16x9, wantFPS: Rational{30, 1}, wantGOP: 60},
	{name: "max_fps and gop_seconds",
		ladder: &Ladder{Name: "x", MaxFPS: 30, GOPSeconds: 3, Rungs: []Rung{{Name: "a", Width: 1280, Height: 720, BitrateKbps: 3000}}},
		src:    Source{Width: 1920, Height: 1080, FPS: Rational{50, 1}},
		want:   []string{"a 1280x720 3000/1950"}, wantFPS: Rational{25, 1}, wantGOP: 75},
	{name: "fractional max_fps",
		ladder: &Ladder{Name: "x", MaxFPS: 29.97, Rungs: []Rung{{Name: "a", Width: 1280, Height: 720, BitrateKbps: 3000}}},
		src:    Source{Width: 1920, Height: 1080, FPS: Rational{30, 1}},
		want:   []string{"a 1280x720 3000/1950"}, wantFPS: Rational{15, 1}, wantGOP: 30},
	{name: "unsorted ladder, duplicate size",
		ladder: &Ladder{Name: "x", Rungs: []Rung{
			{Name: "low", Width: 640, Height: 360, BitrateKbps: 800},
			{Name: "hi", Width: 1280, Height: 720, BitrateKbps: 3000, HEVCBitrateKbps: 2000},
			{Name: "hi-dup", Width: 960, Height: 720, BitrateKbps: 2500},
		}},
		src:  Source{Width: 1920, Height: 1080, FPS: Rational{30, 1}},
		want: []string{"hi 1280x720 3000/2000", "low 640x360 800/520"}, wantFPS: Rational{30, 1}, wantGOP: 60},
	{name: "unsorted ladder, tiny source",
		ladder: &Ladder{Name: "x", Rungs: []Rung{
			{Name: "low", Width: 640, Height: 360, BitrateKbps: 800},
			{Name: "hi", Width: 1280, Height: 720, BitrateKbps: 3000},
		}},
		src:  Source{Width: 320, Height: 240, FPS: Rational{30, 1}},
		want: []string{"source 320x240 800/520"}, wantFPS: Rational{30, 1}, wantGOP: 60},

	{name: "zero width", src: Source{Width: 0, Height: 1080}, err: "ladder: source size 0x1080 must be between 1x1 and 65536x65536"},
	{name: "negative height", src: Source{Width: 1920, Height: -2}, err: "ladder: source size 1920x-2 must be between 1x1 and 65536x65536"},
	{name: "huge width", src: Source{Width: 1 << 20, Height: 1080}, err: "ladder: source size 1048576x1080 must be between 1x1 and 65536x65536"},
	{name: "rotation 45", src: Source{Width: 1920, Height: 1080, Rotation: 45}, err: "ladder: source rotation 45 is not a multiple of 90"},
	{name: "negative fps", src: Source{Width: 1920, Height: 1080, FPS: Rational{-30, 1}}, err: "ladder: source frame rate -30/1 is invalid"},
	{name: "fps beyond AVRational", src: Source{Width: 1920, Height: 1080, FPS: Rational{1 << 40, 1}}, err: "ladder: source frame rate 1099511627776/1 is invalid"},
	{name: "too small to keep aspect", src: Source{Width: 5, Height: 3}, err: "ladder: source 5x3 is too small to scale without distorting its aspect ratio"},
	{name: "one pixel", src: Source{Width: 1, Height: 1}, err: "ladder: source 1x1 is too small to scale without distorting its aspect ratio"},
	{name: "invalid ladder", ladder: &Ladder{Name: "x"}, src: Source{Width: 1920, Height: 1080}, err: "ladder: no rungs"},
}

func TestFit(t *testing.T) {
	for _, tt := range fitTests {
		t.Run(tt.name, func(t *testing.T) {
			l := Default()
			if tt.ladder != nil {
				l = *tt.ladder
			}
			targets, err := l.Fit(tt.src)
			checkErr(t, err, tt.err)
			if err != nil {
				return
			}
			var got []string
			for _, tg := range targets {
				got = append(got, fmt.Sprintf("%s %dx%d %d/%d", tg.Name, tg.Width, tg.Height, tg.BitrateKbps, tg.HEVCBitrateKbps))
				if tg.FPS != tt.wantFPS || tg.GOPFrames != tt.wantGOP {
					t.Errorf("%s: FPS %v, GOP %d; want %v, %d", tg.Name, tg.FPS, tg.GOPFrames, tt.wantFPS, tt.wantGOP)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("targets =\n%q\nwant\n%q", got, tt.want)
			}
			checkTargets(t, l, tt.src, targets)
		})
	}
}

// checkTargets checks the properties Fit promises for every target.
func checkTargets(t testing.TB, l Ladder, src Source, targets []Target) {
	t.Helper()
	w, h := src.Width, src.Height
	if r := (src.Rotation%360 + 360) % 360; r == 90 || r == 270 {
		w, h = h, w
	}
	// Aspect ratios are compared as long/short so portrait and landscape
	// sources get the same tolerance.
	aspect := func(w, h int) float64 { return float64(max(w, h)) / float64(min(w, h)) }
	maxFPS := l.MaxFPS
	if maxFPS == 0 {
		maxFPS = 60
	}
	if len(targets) == 0 {
		t.Fatal("no targets")
	}
	for i, tg := range targets {
		switch {
		case tg.Width < 2 || tg.Height < 2 || tg.Width%2 != 0 || tg.Height%2 != 0:
			t.Errorf("%s: %dx%d is not even and at least 2x2", tg.Name, tg.Width, tg.Height)
		case (tg.Width >= tg.Height) != (w >= h) && tg.Width != tg.Height:
			t.Errorf("%s: %dx%d does not follow the %dx%d source's orientation", tg.Name, tg.Width, tg.Height, w, h)
		case math.Abs(aspect(tg.Width, tg.Height)/aspect(w, h)-1) > 0.01+1e-9: // exactly 1% is within
			t.Errorf("%s: %dx%d is more than 1%% off the %dx%d source aspect", tg.Name, tg.Width, tg.Height, w, h)
		case tg.Width > w || tg.Height > h:
			t.Errorf("%s: %dx%d is larger than the %dx%d source", tg.Name, tg.Width, tg.Height, w, h)
		case i > 0 && tg.Width*tg.Height >= targets[i-1].Width*targets[i-1].Height:
			t.Errorf("%s: %dx%d is not smaller than the target before it", tg.Name, tg.Width, tg.Height)
		case tg.FPS.Num < 1 || tg.FPS.Den < 1 || tg.FPS.Float() > maxFPS:
			t.Errorf("%s: frame rate %v is not within (0, %v]", tg.Name, tg.FPS, maxFPS)
		case tg.GOPFrames < 1 || tg.BitrateKbps < 1 || tg.HEVCBitrateKbps < 1:
			t.Errorf("%s: GOP %d, bitrates %d/%d must be positive", tg.Name, tg.GOPFrames, tg.BitrateKbps, tg.HEVCBitrateKbps)
		}
	}
}

func FuzzFit(f *testing.F) {
	for _, tt := range fitTests {
		f.Add(tt.src.Width, tt.src.Height, tt.src.Rotation, tt.src.FPS.Num, tt.src.FPS.Den)
	}
	f.Fuzz(func(t *testing.T, width, height, rotation, num, den int) {
		src := Source{Width: width, Height: height, Rotation: rotation, FPS: Rational{num, den}}
		l := Default()
		targets, err := l.Fit(src)
		if err != nil {
			return
		}
		checkTargets(t, l, src, targets)
	})
}
