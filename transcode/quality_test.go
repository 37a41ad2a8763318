package transcode

import (
	"context"
	"path/filepath"
	"testing"
)

func TestMeasureQuality(t *testing.T) {
	src := fixture(t, "landscape.mp4")
	same, err := MeasureQuality(context.Background(), src, src, 640, 360)
	if err != nil {
		t.Fatal(err)
	}
	if same.PSNR != 100 || same.SSIM < 0.9999 || same.Frames != 120 {
		t.Fatalf("a file against itself: %+v, want PSNR 100 (capped), SSIM 1, 120 frames", same)
	}
	res, dir := run(t, Options{Input: src, MP4: true})
	var prev Quality
	for i, r := range res.Rungs {
		q, err := MeasureQuality(context.Background(), src, filepath.Join(dir, r.MP4), r.Width, r.Height)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("rung %s: %+v", r.Name, q)
		if q.Frames != int(r.Frames) || q.PSNR < 25 || q.PSNR > 70 || q.SSIM < 0.8 || q.SSIM > 1 || q.XPSNR < 20 {
			t.Errorf("rung %s: implausible %+v", r.Name, q)
		}
		if i > 0 && q.PSNR == prev.PSNR {
			t.Errorf("rung %s: same PSNR as the rung above: are both compared at their own size?", r.Name)
		}
		prev = q
	}
}
