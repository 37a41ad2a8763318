package transcode

import (
	"context"
	"sync"

	"github.com/asticode/go-astiav"
)

// item is what flows between stages: a video frame or an encoded audio packet.
type item struct {
	frame *astiav.Frame  // from the queue's own pool; the consumer calls recycle when done
	audio *astiav.Packet // a clone the consumer owns and frees
}

// queue is a bounded channel between two pipeline stages with a pool of frames that belongs to
// it. A producer takes a free frame (blocking when the consumer is behind: backpressure), makes
// it a reference to its own frame (no pixel copy) and sends it; the consumer unreferences it
// and gives it back. Memory is bounded by depth frames per queue.
type queue struct {
	ch        chan item
	free      chan *astiav.Frame
	frames    []*astiav.Frame
	mu        sync.Mutex
	producers int
}

// newQueue allocates a queue of depth frames with one producer registered; call addProducer
// for each more.
func newQueue(depth int) (*queue, error) {
	q := &queue{ch: make(chan item, depth+1), free: make(chan *astiav.Frame, depth), producers: 1}
	for range depth {
		f := astiav.AllocFrame()
		if f == nil {
			q.Close()
			return nil, newError(CodeInternal, "allocate frame", nil)
		}
		q.frames = append(q.frames, f)
		q.free <- f
	}
	return q, nil
}

func (q *queue) addProducer() {
	q.mu.Lock()
	q.producers++
	q.mu.Unlock()
}

// done is called once by each producer when it has nothing more to send; the last one closes
// the channel, which is the consumer's end of input.
func (q *queue) done() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.producers--; q.producers == 0 {
		close(q.ch)
	}
}

// putFrame sends a new reference to src, with timestamp pts.
func (q *queue) putFrame(ctx context.Context, src *astiav.Frame, pts int64) error {
	var f *astiav.Frame
	select {
	case f = <-q.free:
	case <-ctx.Done():
		return ctxError(ctx, "queue frame")
	}
	if err := f.Ref(src); err != nil {
		q.free <- f
		return newError(CodeInternal, "reference frame", err)
	}
	f.SetPts(pts)
	return q.send(ctx, item{frame: f})
}

// putAudio sends a clone of pkt.
func (q *queue) putAudio(ctx context.Context, pkt *astiav.Packet) error {
	c := pkt.Clone()
	if c == nil {
		return newError(CodeInternal, "clone packet", nil)
	}
	return q.send(ctx, item{audio: c})
}

func (q *queue) send(ctx context.Context, it item) error {
	select {
	case q.ch <- it:
		return nil
	case <-ctx.Done():
		q.release(it)
		return ctxError(ctx, "queue")
	}
}

// release gives an item's resources back: a frame to the pool, a packet to the allocator.
func (q *queue) release(it item) {
	if it.frame != nil {
		it.frame.Unref()
		q.free <- it.frame
	}
	if it.audio != nil {
		it.audio.Free()
	}
}

// Close frees the pool and whatever is still queued. Call it only once every producer and the
// consumer have returned.
func (q *queue) Close() {
	if q == nil {
		return
	}
	// Drain what is still queued; the channel may be open (an aborted job) or closed.
	for drained := false; !drained; {
		select {
		case it, ok := <-q.ch:
			if !ok {
				drained = true
			} else if it.audio != nil {
				it.audio.Free()
			}
		default:
			drained = true
		}
	}
	for _, f := range q.frames {
		f.Free()
	}
	q.frames = nil
}
