package nat

import (
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
)

// fragKey names a fragmented datagram as it arrived.
type fragKey struct {
	proto    uint8
	src, dst netip.Addr
	id       uint16
}

// fragTimeout is how long a datagram's fragments are followed (Linux's
// ipfrag_time).
const fragTimeout = 30

// fragTable lets the later fragments of a datagram follow its first, which
// has the ports: a fixed array of slots, each holding the record of the
// last datagram whose key hashed to it. Its size is its bound; a new
// datagram takes its slot from whatever was there. Refusing new datagrams
// when full instead would let a guest that sends a few thousand first
// fragments every 30 s cut everyone's fragmented traffic, and would cap a
// busy fragmented stream at a few hundred datagrams a second. A datagram's
// later fragments come within microseconds of its first, so losing its
// slot before they pass takes a collision in that window; the hash is
// keyed at random, so a guest cannot aim one. Lock-free: a record is
// replaced whole.
type fragTable struct {
	slots   []atomic.Pointer[fragRecord]
	seed    uint64        // random; tests may fix it
	evicted atomic.Uint64 // records of datagrams still in flight, replaced
}

type fragRecord struct {
	key  fragKey
	e    *Entry
	seen int64       // when its first fragment passed, unix seconds
	done atomic.Bool // its last fragment passed: replacing it loses nothing
}

func newFragTable(n int) fragTable {
	return fragTable{slots: make([]atomic.Pointer[fragRecord], n), seed: rand.Uint64()}
}

// slot is k's slot: the key's 88 bits mixed with the seed (MurmurHash3's
// finalizer, twice), which spreads keys that differ in any bit.
func (f *fragTable) slot(k fragKey) *atomic.Pointer[fragRecord] {
	s, d := k.src.As4(), k.dst.As4()
	a := uint64(s[0])<<56 | uint64(s[1])<<48 | uint64(s[2])<<40 | uint64(s[3])<<32 |
		uint64(d[0])<<24 | uint64(d[1])<<16 | uint64(d[2])<<8 | uint64(d[3])
	h := mix64(mix64(a^f.seed) ^ uint64(k.proto)<<16 ^ uint64(k.id))
	return &f.slots[h%uint64(len(f.slots))]
}

func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// record notes that the later fragments of k belong to e.
func (f *fragTable) record(k fragKey, e *Entry, now int64) {
	s := f.slot(k)
	old := s.Load()
	if old != nil && old.key == k && old.e == e && old.seen == now {
		// The first fragment again, this second (a datagram sent again
		// with its id): the record stands, open again.
		if old.done.Load() {
			old.done.Store(false)
		}
		return
	}
	if old != nil && old.key != k && !old.done.Load() && now-old.seen < fragTimeout && !old.e.dead.Load() {
		f.evicted.Add(1)
	}
	s.Store(&fragRecord{key: k, e: e, seen: now})
}

// follow is the flow of a later fragment of k, or nil: no record (its
// first was not seen, or lost its slot), past fragTimeout, or the flow is
// gone. last: this is the datagram's last fragment.
func (f *fragTable) follow(k fragKey, now int64, last bool) *Entry {
	r := f.slot(k).Load()
	if r == nil || r.key != k || now-r.seen >= fragTimeout || r.e.dead.Load() {
		return nil
	}
	if last && !r.done.Load() {
		r.done.Store(true)
	}
	return r.e
}

// sweep empties the slots past fragTimeout, so they hold no flow alive.
func (f *fragTable) sweep(now int64) {
	for i := range f.slots {
		if r := f.slots[i].Load(); r != nil && now-r.seen >= fragTimeout {
			f.slots[i].CompareAndSwap(r, nil)
		}
	}
}
