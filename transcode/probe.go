package transcode

import (
	"context"
	"errors"
	"math"

	"github.com/asticode/go-astiav"
)

// SourceInfo is what probing found about an input.
type SourceInfo struct {
	Container       string       `json:"container"`
	DurationSeconds float64      `json:"duration_seconds"` // 0 when unknown
	BitRate         int64        `json:"bit_rate,omitempty"`
	VideoCodec      string       `json:"video_codec"`
	Width           int          `json:"width"` // coded size
	Height          int          `json:"height"`
	DisplayWidth    int          `json:"display_width"` // after sample aspect ratio and rotation
	DisplayHeight   int          `json:"display_height"`
	SAR             string       `json:"sar"`
	PixFmt          string       `json:"pix_fmt"`
	BitDepth        int          `json:"bit_depth"`
	Rotation        int          `json:"rotation"` // clockwise degrees to turn the picture upright
	FPSNum          int          `json:"fps_num"`
	FPSDen          int          `json:"fps_den"`
	Interlaced      bool         `json:"interlaced"`      // known once a frame is decoded
	EstimatedFrames int64        `json:"frames"`          // at FPS over the duration; 0 when unknown
	Audio           *AudioInfo   `json:"audio,omitempty"` // the first audio stream, nil if none
	Streams         []StreamInfo `json:"streams"`
}

// AudioInfo describes the audio stream a job uses.
type AudioInfo struct {
	Codec      string `json:"codec"`
	SampleRate int    `json:"sample_rate"`
	Channels   int    `json:"channels"`
	Layout     string `json:"layout"`
}

// StreamInfo is one stream of the container.
type StreamInfo struct {
	Index int    `json:"index"`
	Type  string `json:"type"`
	Codec string `json:"codec"`
}

// Probe opens an input and describes it, decoding up to the first video frame to learn what
// only frames tell (interlacing, the decoded pixel format).
func Probe(ctx context.Context, url string, o InputOptions) (*SourceInfo, error) {
	d, err := openInput(ctx, url, o)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	info := describeSource(d)
	errFound := errors.New("found")
	err = d.run(ctx, func(f *astiav.Frame) error {
		info.Interlaced = f.Flags().Has(astiav.FrameFlagInterlaced)
		info.PixFmt = f.PixelFormat().String()
		return errFound
	}, nil)
	if err != nil && !errors.Is(err, errFound) {
		return nil, err
	}
	return &info, nil
}

// describeSource reads the stream parameters of an opened input.
func describeSource(d *demuxer) SourceInfo {
	st := d.video.st
	cp := st.CodecParameters()
	info := SourceInfo{
		Container:       d.fc.InputFormat().Name(),
		DurationSeconds: d.durationSeconds(),
		BitRate:         d.fc.BitRate(),
		VideoCodec:      cp.CodecID().Name(),
		Width:           cp.Width(),
		Height:          cp.Height(),
		PixFmt:          cp.PixelFormat().String(),
	}
	info.BitDepth = pixFmtDepth(cp.PixelFormat())
	sar := d.fc.GuessSampleAspectRatio(st, nil)
	if sar.Num() <= 0 || sar.Den() <= 0 {
		sar = astiav.NewRational(1, 1)
	}
	info.SAR = sar.String()
	if m, ok := cp.SideData().DisplayMatrix().Get(); ok {
		// The matrix rotates counter-clockwise; the CLI turns the picture by its negation.
		info.Rotation = ((int(math.Round(-m.Rotation())) % 360) + 360) % 360
		info.Rotation = (info.Rotation + 45) / 90 * 90 % 360
	}
	fr := d.fc.GuessFrameRate(st, nil)
	if fr.Num() <= 0 || fr.Den() <= 0 {
		fr = st.AvgFrameRate()
	}
	if fr.Num() > 0 && fr.Den() > 0 {
		info.FPSNum, info.FPSDen = fr.Num(), fr.Den()
	}
	dw := int(math.Round(float64(info.Width) * sar.Float64()))
	dh := info.Height
	if info.Rotation == 90 || info.Rotation == 270 {
		dw, dh = dh, dw
	}
	info.DisplayWidth, info.DisplayHeight = max(dw, 2), max(dh, 2)
	if isSynthetic(d.url) {
		if s, err := ParseSynthetic(d.url); err == nil {
			info.EstimatedFrames = int64(s.Frames)
			info.DurationSeconds = s.Duration().Seconds()
		}
	} else if n := st.NbFrames(); n > 0 {
		info.EstimatedFrames = n
	} else if info.DurationSeconds > 0 && info.FPSNum > 0 {
		info.EstimatedFrames = int64(info.DurationSeconds*float64(info.FPSNum)/float64(info.FPSDen) + 0.5)
	}
	if d.audio != nil {
		acp := d.audio.st.CodecParameters()
		info.Audio = &AudioInfo{Codec: acp.CodecID().Name(), SampleRate: acp.SampleRate(),
			Channels: acp.ChannelLayout().Channels(), Layout: acp.ChannelLayout().String()}
	}
	for _, s := range d.fc.Streams() {
		info.Streams = append(info.Streams, StreamInfo{Index: s.Index(), Type: s.CodecParameters().MediaType().String(),
			Codec: s.CodecParameters().CodecID().Name()})
	}
	return info
}
