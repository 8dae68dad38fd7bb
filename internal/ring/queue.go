package ring

import "sync/atomic"

// Queue is a Ring whose one consumer parks when it is empty. The consumer
// sets a sleeping flag and looks once more before it parks; a producer
// sends a wake-up token only when it sees the flag. A busy queue therefore
// sends on no channel, and an idle consumer costs no CPU. This handshake
// is the only one in vswitch: port writers (the uplinks' too), captures
// and the gateway all use it.
type Queue[T any] struct {
	Ring[T]
	sleeping atomic.Bool
	nudged   atomic.Bool
	wake     chan struct{}
}

// NewQueue returns a queue of size rounded up to a power of two.
func NewQueue[T any](size int) *Queue[T] {
	q := &Queue[T]{wake: make(chan struct{}, 1)}
	q.Ring.init(size)
	return q
}

// Put enqueues v, wakes the consumer if it is parked, and reports whether
// there was room.
func (q *Queue[T]) Put(v *T) bool {
	if !q.Ring.Put(v) {
		return false
	}
	if q.sleeping.Load() && q.sleeping.CompareAndSwap(true, false) {
		q.signal()
	}
	return true
}

// Wake makes the consumer's current or next Wait return, with 0 if the
// queue is empty, so it re-checks its own state (a capture being closed).
func (q *Queue[T]) Wake() {
	q.nudged.Store(true)
	q.signal()
}

func (q *Queue[T]) signal() {
	select {
	case q.wake <- struct{}{}:
	default: // a token is already pending
	}
}

// Wait takes up to len(out) values, parking while the queue is empty. It
// returns 0 only when done is closed or Wake was called; after a Wake it
// may also return values, so a consumer that can be woken re-checks its own
// state on every return. Only the one consumer may call it.
func (q *Queue[T]) Wait(out []*T, done <-chan struct{}) int {
	for {
		if n := q.Take(out); n > 0 {
			return n
		}
		q.sleeping.Store(true)
		// Look again: a producer that put before seeing the flag sent no token.
		if n := q.Take(out); n > 0 {
			q.sleeping.Store(false)
			return n
		}
		if q.nudged.Swap(false) {
			q.sleeping.Store(false)
			return 0
		}
		select {
		case <-q.wake:
			if q.nudged.Swap(false) {
				q.sleeping.Store(false)
				return q.Take(out)
			}
		case <-done:
			q.sleeping.Store(false)
			return 0
		}
	}
}
