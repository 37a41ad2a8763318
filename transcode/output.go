package transcode

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/asticode/go-astiav"
)

// muxer owns one output file (or one HLS playlist with its segments): the format context, its
// I/O context and the streams it writes. Packets come in the encoders' time bases.
type muxer struct {
	kind     string // "hls" or "mp4"
	path     string // final path (playlist or MP4)
	tmpPath  string // where an MP4 is written until it is complete
	fc       *astiav.FormatContext
	pb       *astiav.IOContext
	video    *astiav.Stream
	audio    *astiav.Stream
	videoTB  astiav.Rational
	audioTB  astiav.Rational
	scratch  *astiav.Packet
	wErrs    *writeErrors // files the muxer wrote and closed itself (hls segments, playlists)
	finished bool
	// headerWritten: the muxer is initialised and must see a trailer before it is freed.
	headerWritten bool
}

// hlsOptions are the hls muxer settings. temp_file makes FFmpeg write each segment under a
// temporary name and rename it when complete, and the playlist is rewritten by rename too, so
// a reader never sees a listed segment that is half-written.
//
// resume adds append_list (keep the playlist's segments and number on from them) and
// discont_start (an EXT-X-DISCONTINUITY before the first new segment: timestamps restart).
func hlsOptions(segmentSeconds float64, live, resume bool, dir string) []string {
	playlistType := "vod"
	if live {
		playlistType = "event"
	}
	flags := "independent_segments+temp_file"
	if resume {
		flags += "+append_list+discont_start"
	}
	return []string{
		"hls_time", strconv.FormatFloat(segmentSeconds, 'f', -1, 64),
		"hls_segment_type", "fmp4",
		"hls_fmp4_init_filename", "init.mp4",
		"hls_segment_filename", filepath.Join(dir, "seg_%05d.m4s"),
		"hls_playlist_type", playlistType,
		"hls_list_size", "0",
		"hls_flags", flags,
	}
}

// muxConfig describes one output.
type muxConfig struct {
	kind     string   // FFmpeg muxer name: "hls", "mp4", or "" to guess from the path
	path     string   // hls: the playlist; otherwise the file
	options  []string // muxer options, key/value pairs
	video    *encoder
	audio    *encoder // nil: no audio stream
	rotation int      // display rotation to record on the video stream (test fixtures)
}

// openMuxer creates the output. kind "hls" writes the playlist and its segments beside it;
// kind "mp4" writes a faststart MP4 through path+".part", renamed when complete.
func openMuxer(c muxConfig) (_ *muxer, err error) {
	kind, path, muxOpts, video, audio := c.kind, c.path, c.options, c.video, c.audio
	m := &muxer{kind: kind, path: path}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	target := path
	if kind == "mp4" {
		m.tmpPath = path + ".part"
		target = m.tmpPath
	}
	if m.fc, err = astiav.AllocOutputFormatContext(nil, kind, target); err != nil || m.fc == nil {
		return nil, newError(CodeInternal, "allocate "+kind+" muxer", err)
	}
	if m.wErrs, err = trackWriteErrors(m.fc); err != nil {
		return nil, err
	}
	if m.video, err = m.addStream(video); err != nil {
		return nil, err
	}
	m.videoTB = video.cc.TimeBase()
	if c.rotation != 0 {
		if err := m.video.CodecParameters().SideData().DisplayMatrix().Add(astiav.NewDisplayMatrixFromRotation(float64(-c.rotation))); err != nil {
			return nil, newError(CodeInternal, "display matrix", err)
		}
	}
	if audio != nil {
		if m.audio, err = m.addStream(audio); err != nil {
			return nil, err
		}
		m.audioTB = audio.cc.TimeBase()
	}
	if !m.fc.OutputFormat().Flags().Has(astiav.IOFormatFlagNofile) {
		if m.pb, err = astiav.OpenIOContext(target, astiav.NewIOContextFlags(astiav.IOContextFlagWrite), nil, nil); err != nil {
			return nil, newError(CodeOutputWriteFailed, "open "+target, err)
		}
		m.fc.SetPb(m.pb)
	}
	dict, err := dictionary(muxOpts...)
	if err != nil {
		return nil, newError(CodeInternal, kind+" muxer options", err)
	}
	defer dict.Free()
	if err := m.fc.WriteHeader(dict); err != nil {
		return nil, newError(CodeOutputWriteFailed, "write header "+target, err)
	}
	if err := m.wErrs.err(); err != nil {
		return nil, newError(CodeOutputWriteFailed, "write header "+target, err)
	}
	m.headerWritten = true
	if m.scratch = astiav.AllocPacket(); m.scratch == nil {
		return nil, newError(CodeInternal, "allocate packet", nil)
	}
	return m, nil
}

func (m *muxer) addStream(e *encoder) (*astiav.Stream, error) {
	s := m.fc.NewStream(nil)
	if s == nil {
		return nil, newError(CodeInternal, "new stream", nil)
	}
	if err := s.CodecParameters().FromCodecContext(e.cc); err != nil {
		return nil, newError(CodeInternal, "stream parameters "+e.name, err)
	}
	s.SetTimeBase(e.cc.TimeBase())
	if e.cc.CodecID() == astiav.CodecIDHevc {
		// hvc1: parameter sets in the sample description, as Apple's HLS requires and as the
		// CODECS attribute (hvc1.*) says. FFmpeg's default is hev1.
		s.CodecParameters().SetCodecTag(fourCC("hvc1"))
	}
	return s, nil
}

// fourCC is MKTAG.
func fourCC(s string) astiav.CodecTag {
	return astiav.CodecTag(uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24)
}

// write muxes a reference to pkt (which stays valid for the caller) into the video or the
// audio stream.
func (m *muxer) write(pkt *astiav.Packet, isAudio bool) error {
	st, tb := m.video, m.videoTB
	if isAudio {
		st, tb = m.audio, m.audioTB
	}
	if st == nil {
		return nil
	}
	if err := m.scratch.Ref(pkt); err != nil {
		return newError(CodeInternal, "reference packet", err)
	}
	m.scratch.SetStreamIndex(st.Index())
	m.scratch.RescaleTs(tb, st.TimeBase())
	// av_interleaved_write_frame takes the reference, on success and on failure.
	if err := m.fc.WriteInterleavedFrame(m.scratch); err != nil {
		return newError(CodeOutputWriteFailed, "write "+m.path, err)
	}
	if err := m.wErrs.err(); err != nil { // a segment or playlist the muxer closed
		return newError(CodeOutputWriteFailed, "write "+m.path, err)
	}
	return nil
}

// finish writes the trailer and, for MP4, renames the finished file into place.
func (m *muxer) finish() error {
	m.finished = true // the trailer is written once, here, whatever it returns
	if err := m.fc.WriteTrailer(); err != nil {
		return newError(CodeOutputWriteFailed, "write trailer "+m.path, err)
	}
	if err := m.wErrs.err(); err != nil {
		return newError(CodeOutputWriteFailed, "write trailer "+m.path, err)
	}
	if m.pb != nil {
		err := m.pb.Close()
		m.pb = nil
		if err != nil {
			return newError(CodeOutputWriteFailed, "close "+m.tmpPath, err)
		}
	}
	if m.tmpPath != "" {
		if err := os.Rename(m.tmpPath, m.path); err != nil {
			return newError(CodeOutputWriteFailed, "publish "+m.path, err)
		}
		m.tmpPath = ""
	}
	return nil
}

// Close frees the muxer; an unfinished MP4 is removed.
func (m *muxer) Close() {
	if m == nil {
		return
	}
	if !m.finished && m.headerWritten {
		// An abandoned output still needs its trailer: the hls muxer frees the segment it has
		// open only there (avformat_free_context alone leaks it). The output is discarded.
		_ = m.fc.WriteTrailer()
	}
	if m.scratch != nil {
		m.scratch.Free()
	}
	if m.pb != nil {
		_ = m.pb.Close() // nothing to report: the output is being abandoned
	}
	if m.fc != nil {
		m.fc.Free()
	}
	m.wErrs.free() // after Free, which may close files through the hook
	if m.tmpPath != "" {
		_ = os.Remove(m.tmpPath) // not published: finish did not get to the rename
	}
}

// rungDir is where a rung's HLS files go.
func rungDir(outDir, rung string) string { return filepath.Join(outDir, rung) }

func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return newError(CodeOutputWriteFailed, fmt.Sprintf("create %s", dir), err)
	}
	return nil
}
