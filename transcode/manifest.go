package transcode

import (
	"encoding/json"
	"path/filepath"

	"github.com/abrfleet/abrfleet/hls"
	"github.com/abrfleet/abrfleet/ladder"
)

// videoCodecString derives the RFC 6381 string (avc1.PPCCLL, hvc1...) from the encoder's own
// parameter sets, so the master playlist states what was encoded, not what was asked for.
func videoCodecString(e *encoder) (string, error) {
	return hls.CodecString(e.cc.CodecID().Name(), e.cc.ExtraData())
}

func audioCodecString(e *encoder) (string, error) {
	return hls.CodecString("aac", e.cc.ExtraData())
}

// writeMaster writes OutputDir/master.m3u8. measured uses each rendition's segments on disk
// for BANDWIDTH (peak) and AVERAGE-BANDWIDTH; otherwise (a live job starting) the targets stand
// in for them.
//
// res.Rungs, when measured, are in the order of j.rungs.
func (j *job) writeMaster(res *Result, measured bool) error {
	var variants []hls.Variant
	for i, r := range j.rungs {
		v := hls.Variant{
			URI:       r.target.Name + "/index.m3u8",
			Codecs:    []string{r.codecString},
			Width:     r.target.Width,
			Height:    r.target.Height,
			FrameRate: r.target.FPS.Float(),
		}
		if j.audioCodec != "" {
			v.Codecs = append(v.Codecs, j.audioCodec)
		}
		if measured {
			peak, avg, err := hls.Bandwidth(rungDir(j.o.OutputDir, r.target.Name), "index.m3u8")
			if err != nil {
				return newError(CodeOutputWriteFailed, "rung "+r.target.Name+": measure bandwidth", err)
			}
			v.Bandwidth, v.AverageBandwidth = peak, avg
			res.Rungs[i].PeakBandwidth, res.Rungs[i].AverageBandwidth = peak, avg
		} else {
			kbps := r.target.BitrateKbps
			if j.o.Codec.IsHEVC() {
				kbps = r.target.HEVCBitrateKbps
			}
			bps := int64(kbps) * 1000
			if j.audioCodec != "" {
				bps += audioBitRate
			}
			v.Bandwidth, v.AverageBandwidth = bps*11/10, bps
		}
		variants = append(variants, v)
	}
	data, err := hls.Master(variants)
	if err != nil {
		return newError(CodeInternal, "master playlist", err)
	}
	if err := hls.WriteFileAtomic(filepath.Join(j.o.OutputDir, "master.m3u8"), data); err != nil {
		return newError(CodeOutputWriteFailed, "write master.m3u8", err)
	}
	res.Master = "master.m3u8"
	return nil
}

// writeManifest writes the Result as OutputDir/manifest.json.
func writeManifest(dir string, res *Result) error {
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return newError(CodeInternal, "manifest", err)
	}
	if err := hls.WriteFileAtomic(filepath.Join(dir, "manifest.json"), append(data, '\n')); err != nil {
		return newError(CodeOutputWriteFailed, "write manifest.json", err)
	}
	return nil
}

// targetsFor is the ladder fitted to a probed source.
func targetsFor(l ladder.Ladder, info SourceInfo) ([]ladder.Target, error) {
	return l.Fit(ladder.Source{Width: info.DisplayWidth, Height: info.DisplayHeight,
		FPS: ladder.Rational{Num: info.FPSNum, Den: info.FPSDen}})
}
