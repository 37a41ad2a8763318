package transcode

import (
	"math"

	"github.com/asticode/go-astiav"
)

// audioPath turns the first audio stream's decoded frames into AAC-LC packets: resample to
// 48 kHz stereo float planar, cut into the encoder's 1024-sample frames, encode. It runs once
// per job; its packets go to every rung.
type audioPath struct {
	enc       *encoder
	swr       *astiav.SoftwareResampleContext
	fifo      *astiav.AudioFifo
	conv      *astiav.Frame // resampler output
	out       *astiav.Frame // one encoder frame
	inTB      astiav.Rational
	originPTS int64 // the job's time origin in the input stream's time base
	nextPTS   int64 // in 1/48000
	started   bool
	skip      int64 // samples before the origin still to drop
	samples   int64 // samples encoded
	videoEnd  int64 // how far the video has got, in samples: audio waits for it
}

// maxAudioLead bounds how much audio (in samples) may wait in the fifo for the video to catch
// up: beyond it audio is encoded anyway, so a badly interleaved input cannot exhaust memory.
const maxAudioLead = 30 * audioSampleRate

// advance tells the audio path the video has reached t seconds. Audio is encoded only up to
// there, and cut there at the end, so every rung's audio ends with its video.
func (a *audioPath) advance(t float64) {
	a.videoEnd = max(a.videoEnd, int64(math.Round(t*audioSampleRate)))
}

func newAudioPath(inTB astiav.Rational, originPTS int64) (_ *audioPath, err error) {
	a := &audioPath{inTB: inTB, originPTS: originPTS}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if a.enc, err = openAudioEncoder(); err != nil {
		return nil, err
	}
	if a.swr = astiav.AllocSoftwareResampleContext(); a.swr == nil {
		return nil, newError(CodeInternal, "allocate resampler", nil)
	}
	if a.fifo = astiav.AllocAudioFifo(astiav.SampleFormatFltp, 2, 4*a.frameSize()); a.fifo == nil {
		return nil, newError(CodeInternal, "allocate audio fifo", nil)
	}
	if a.conv = astiav.AllocFrame(); a.conv == nil {
		return nil, newError(CodeInternal, "allocate frame", nil)
	}
	if a.out = astiav.AllocFrame(); a.out == nil {
		return nil, newError(CodeInternal, "allocate frame", nil)
	}
	return a, nil
}

func (a *audioPath) frameSize() int {
	if n := a.enc.cc.FrameSize(); n > 0 {
		return n
	}
	return 1024
}

// Close frees everything. Nil-safe.
func (a *audioPath) Close() {
	if a == nil {
		return
	}
	for _, f := range []*astiav.Frame{a.out, a.conv} {
		if f != nil {
			f.Free()
		}
	}
	if a.fifo != nil {
		a.fifo.Free()
	}
	if a.swr != nil {
		a.swr.Free()
	}
	a.enc.Close()
}

func setAudioFormat(f *astiav.Frame) {
	f.SetChannelLayout(astiav.ChannelLayoutStereo)
	f.SetSampleRate(audioSampleRate)
	f.SetSampleFormat(astiav.SampleFormatFltp)
}

// push resamples f (nil flushes the resampler, the fifo and the encoder) and calls fn for every
// AAC packet, in 1/48000.
func (a *audioPath) push(f *astiav.Frame, fn func(*astiav.Packet) error) error {
	if f != nil && !a.started {
		// Place the first sample on the job's timeline: silence before it stays a gap the
		// muxer records; samples before the origin are dropped.
		start := int64(math.Round(float64(f.Pts()-a.originPTS) * a.inTB.Float64() * audioSampleRate))
		if start > 0 {
			a.nextPTS = start
		} else {
			a.skip = -start
		}
		a.started = true
	}
	a.conv.Unref()
	setAudioFormat(a.conv)
	if err := a.swr.ConvertFrame(f, a.conv); err != nil {
		if f == nil {
			return a.drain(true, fn)
		}
		return newError(CodeInputInvalid, "resample audio", err)
	}
	if n := a.conv.NbSamples(); n > 0 {
		if _, err := a.fifo.Write(a.conv); err != nil {
			return newError(CodeInternal, "audio fifo", err)
		}
	}
	return a.drain(f == nil, fn)
}

// drain encodes whole frames from the fifo; at the end also the short last one, then flushes.
func (a *audioPath) drain(final bool, fn func(*astiav.Packet) error) error {
	n := a.frameSize()
	for a.skip > 0 && a.fifo.Size() > 0 {
		k := int(min(a.skip, int64(a.fifo.Size()), int64(n)))
		if err := a.readFifo(k); err != nil {
			return err
		}
		a.skip -= int64(k)
	}
	for {
		k := min(n, a.fifo.Size())
		if room := a.videoEnd - a.nextPTS; int64(k) > room {
			switch {
			case a.fifo.Size() > maxAudioLead:
				// the video is far behind: encode rather than buffer without bound
			case final:
				k = int(max(room, 0)) // the audio outlasts the video: cut it at the video's end
			default:
				k = 0
			}
		}
		if k == 0 || (k < n && !final) {
			break
		}
		if err := a.readFifo(k); err != nil {
			return err
		}
		a.out.SetPts(a.nextPTS)
		a.nextPTS += int64(a.out.NbSamples())
		a.samples += int64(a.out.NbSamples())
		if err := a.enc.encode(a.out, fn); err != nil {
			return err
		}
	}
	if final {
		return a.enc.encode(nil, fn)
	}
	return nil
}

// readFifo fills a.out with k samples from the fifo.
func (a *audioPath) readFifo(k int) error {
	a.out.Unref()
	setAudioFormat(a.out)
	a.out.SetNbSamples(k)
	if err := a.out.AllocBuffer(0); err != nil {
		return newError(CodeInternal, "allocate audio frame", err)
	}
	if _, err := a.fifo.Read(a.out); err != nil {
		return newError(CodeInternal, "audio fifo", err)
	}
	return nil
}
