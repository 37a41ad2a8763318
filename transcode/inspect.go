package transcode

import (
	"context"
	"errors"

	"github.com/asticode/go-astiav"
)

// StreamReport is what reading every packet of one output stream shows.
type StreamReport struct {
	Type          string    `json:"type"` // video | audio
	Codec         string    `json:"codec"`
	Width         int       `json:"width,omitempty"`
	Height        int       `json:"height,omitempty"`
	Packets       int64     `json:"packets"`
	Bytes         int64     `json:"bytes"`
	KeyframePTS   []float64 `json:"keyframe_pts,omitempty"` // seconds, video only
	FirstPTS      float64   `json:"first_pts"`              // seconds; negative for encoder priming (AAC)
	EndPTS        float64   `json:"end_pts"`                // largest pts + its duration, seconds
	DTSMonotonic  bool      `json:"dts_monotonic"`
	DurationSecs  float64   `json:"duration_seconds"` // EndPTS - FirstPTS
	ExtraDataSize int       `json:"extradata_size"`
}

// FileReport describes an output file (an MP4, or an HLS playlist with its segments).
type FileReport struct {
	Format string         `json:"format"`
	Video  *StreamReport  `json:"video,omitempty"`
	Audio  *StreamReport  `json:"audio,omitempty"`
	All    []StreamReport `json:"streams"`
}

// Inspect reads every packet of a file without decoding and reports, per stream, the packet
// count, keyframe times, whether dts only grows, and the duration. Tests and the worker use it
// to check outputs in-process; it never shells out to ffprobe.
func Inspect(ctx context.Context, path string) (*FileReport, error) {
	d := &demuxer{url: path}
	defer d.Close()
	if err := d.openContainer(ctx, path, nil, InputOptions{}); err != nil {
		return nil, err
	}
	if err := d.fc.FindStreamInfo(nil); err != nil {
		return nil, d.inputError(ctx, "stream info "+path, err)
	}
	streams := d.fc.Streams()
	rep := &FileReport{Format: d.fc.InputFormat().Name(), All: make([]StreamReport, len(streams))}
	lastDTS := make([]int64, len(streams))
	seenPTS := make([]bool, len(streams))
	for i, s := range streams {
		cp := s.CodecParameters()
		rep.All[i] = StreamReport{Type: cp.MediaType().String(), Codec: cp.CodecID().Name(), Width: cp.Width(),
			Height: cp.Height(), DTSMonotonic: true, ExtraDataSize: len(cp.ExtraData())}
		lastDTS[i] = noPTS
	}
	for {
		if err := d.fc.ReadFrame(d.pkt); err != nil {
			if errors.Is(err, astiav.ErrEof) {
				break
			}
			return nil, d.inputError(ctx, "read "+path, err)
		}
		i := d.pkt.StreamIndex()
		sr := &rep.All[i]
		tb := streams[i].TimeBase().Float64()
		sr.Packets++
		sr.Bytes += int64(d.pkt.Size())
		if dts := d.pkt.Dts(); dts != noPTS {
			if lastDTS[i] != noPTS && dts <= lastDTS[i] {
				sr.DTSMonotonic = false
			}
			lastDTS[i] = dts
		}
		if pts := d.pkt.Pts(); pts != noPTS {
			t := float64(pts) * tb
			end := t + float64(d.pkt.Duration())*tb
			if !seenPTS[i] {
				sr.FirstPTS, sr.EndPTS, seenPTS[i] = t, end, true
			}
			sr.FirstPTS, sr.EndPTS = min(sr.FirstPTS, t), max(sr.EndPTS, end)
			if d.pkt.Flags().Has(astiav.PacketFlagKey) && sr.Type == "video" {
				sr.KeyframePTS = append(sr.KeyframePTS, t)
			}
		}
		d.pkt.Unref()
	}
	for i := range rep.All {
		sr := &rep.All[i]
		sr.DurationSecs = sr.EndPTS - sr.FirstPTS
		switch {
		case sr.Type == "video" && rep.Video == nil:
			rep.Video = sr
		case sr.Type == "audio" && rep.Audio == nil:
			rep.Audio = sr
		}
	}
	return rep, nil
}
