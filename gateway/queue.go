package gateway

import (
	"sync/atomic"

	vswitch "github.com/vswitch/vswitch/switch"
)

// replyQueue is a bounded single-producer single-consumer queue: the
// switch's writer goroutine for this port produces replies, its reader
// goroutine takes them. The reader parks only after finding it empty with
// the sleeping flag set, so a busy gateway sends on no channel.
type replyQueue struct {
	slots    [256]*vswitch.Frame
	head     atomic.Uint64 // next to take
	tail     atomic.Uint64 // next to fill
	sleeping atomic.Bool
	wake     chan struct{}
}

func newReplyQueue() *replyQueue { return &replyQueue{wake: make(chan struct{}, 1)} }

func (q *replyQueue) put(f *vswitch.Frame) bool {
	t := q.tail.Load()
	if t-q.head.Load() == uint64(len(q.slots)) {
		return false
	}
	q.slots[t%uint64(len(q.slots))] = f
	q.tail.Store(t + 1)
	if q.sleeping.Load() && q.sleeping.CompareAndSwap(true, false) {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return true
}

func (q *replyQueue) take(out []*vswitch.Frame) int {
	h, t := q.head.Load(), q.tail.Load()
	n := 0
	for h != t && n < len(out) {
		i := h % uint64(len(q.slots))
		out[n] = q.slots[i]
		q.slots[i] = nil
		h++
		n++
	}
	q.head.Store(h)
	return n
}
