package vswitch

import "sync/atomic"

// ring is a bounded multi-producer queue of frames (Vyukov's array queue):
// every ingress goroutine may put, the port's writer alone takes. Put never
// blocks and never allocates; a full ring refuses the frame so the caller
// can count a tail drop.
type ring struct {
	mask  uint64
	slots []slot
	_     [64]byte // keep the producers' and the consumer's cursors apart
	enq   atomic.Uint64
	_     [56]byte
	deq   atomic.Uint64
	_     [56]byte
}

type slot struct {
	seq atomic.Uint64
	f   *Frame
}

// newRing returns a ring holding size frames; size is rounded up to a
// power of two.
func newRing(size int) *ring {
	n := 1
	for n < size {
		n <<= 1
	}
	r := &ring{mask: uint64(n - 1), slots: make([]slot, n)}
	for i := range r.slots {
		r.slots[i].seq.Store(uint64(i))
	}
	return r
}

// put enqueues f and reports whether there was room.
func (r *ring) put(f *Frame) bool {
	pos := r.enq.Load()
	for {
		s := &r.slots[pos&r.mask]
		seq := s.seq.Load()
		switch d := int64(seq - pos); {
		case d == 0:
			if r.enq.CompareAndSwap(pos, pos+1) {
				s.f = f
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

// take dequeues up to len(out) frames; only the port's writer calls it.
func (r *ring) take(out []*Frame) int {
	pos := r.deq.Load()
	n := 0
	for n < len(out) {
		s := &r.slots[pos&r.mask]
		if s.seq.Load() != pos+1 {
			break // empty, or a producer has claimed the slot but not filled it yet
		}
		out[n] = s.f
		s.f = nil
		s.seq.Store(pos + r.mask + 1)
		pos++
		n++
	}
	r.deq.Store(pos)
	return n
}

// len is approximate (producers may be mid-put); for status output.
func (r *ring) len() int {
	n := int64(r.enq.Load() - r.deq.Load())
	if n < 0 {
		return 0
	}
	return int(n)
}

func (r *ring) cap() int { return len(r.slots) }
