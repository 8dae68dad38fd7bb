package ring

import "sync/atomic"

// Ring holds up to Cap() pointers to T.
type Ring[T any] struct {
	mask  uint64
	slots []slot[T]
	_     [64]byte // keep the producers' and the consumer's cursors apart
	enq   atomic.Uint64
	_     [56]byte
	deq   atomic.Uint64
	_     [56]byte
}

type slot[T any] struct {
	seq atomic.Uint64
	v   *T
}

// New returns a ring of size rounded up to a power of two.
func New[T any](size int) *Ring[T] {
	r := &Ring[T]{}
	r.init(size)
	return r
}

func (r *Ring[T]) init(size int) {
	n := 1
	for n < size {
		n <<= 1
	}
	r.mask = uint64(n - 1)
	r.slots = make([]slot[T], n)
	for i := range r.slots {
		r.slots[i].seq.Store(uint64(i))
	}
}

// Put enqueues v and reports whether there was room.
func (r *Ring[T]) Put(v *T) bool {
	pos := r.enq.Load()
	for {
		s := &r.slots[pos&r.mask]
		seq := s.seq.Load()
		switch d := int64(seq - pos); {
		case d == 0:
			if r.enq.CompareAndSwap(pos, pos+1) {
				s.v = v
				s.seq.Store(pos + 1)
				return true
			}
			pos = r.enq.Load()
		case d < 0:
			return false // full
		default:
			pos = r.enq.Load()
		}
	}
}

// Take dequeues up to len(out) pointers; only one goroutine may call it.
func (r *Ring[T]) Take(out []*T) int {
	pos := r.deq.Load()
	n := 0
	for n < len(out) {
		s := &r.slots[pos&r.mask]
		if s.seq.Load() != pos+1 {
			break // empty, or a producer claimed the slot but has not filled it
		}
		out[n] = s.v
		s.v = nil
		s.seq.Store(pos + r.mask + 1)
		pos++
		n++
	}
	r.deq.Store(pos)
	return n
}

// Len is approximate (producers may be mid-put); for status output.
func (r *Ring[T]) Len() int {
	n := int64(r.enq.Load() - r.deq.Load())
	if n < 0 {
		return 0
	}
	return int(n)
}

// Cap is the ring's size.
func (r *Ring[T]) Cap() int { return len(r.slots) }
