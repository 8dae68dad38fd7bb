package gateway

import (
	"sync/atomic"

	"github.com/vswitch/vswitch/internal/ring"
	vswitch "github.com/vswitch/vswitch/switch"
)

// frameQueue is a bounded queue of frames with a parking consumer: the
// gateway's replies (produced by the switch's writer for this port and by
// the uplink's reader) and an uplink's outbound frames. The consumer parks
// only after finding it empty with the sleeping flag set, so a busy queue
// sends on no channel.
type frameQueue struct {
	r        *ring.Ring[vswitch.Frame]
	sleeping atomic.Bool
	wake     chan struct{}
}

func newFrameQueue(n int) *frameQueue {
	return &frameQueue{r: ring.New[vswitch.Frame](n), wake: make(chan struct{}, 1)}
}

func (q *frameQueue) put(f *vswitch.Frame) bool {
	if !q.r.Put(f) {
		return false
	}
	if q.sleeping.Load() && q.sleeping.CompareAndSwap(true, false) {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// wait takes at least one frame, or returns 0 when done is closed.
func (q *frameQueue) wait(out []*vswitch.Frame, done <-chan struct{}) int {
	for {
		if n := q.r.Take(out); n > 0 {
			return n
		}
		q.sleeping.Store(true)
		if n := q.r.Take(out); n > 0 {
			q.sleeping.Store(false)
			return n
		}
		select {
		case <-q.wake:
		case <-done:
			return 0
		}
	}
}
