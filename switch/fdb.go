package vswitch

import (
	"sync/atomic"

	"github.com/puzpuzpuz/xsync/v4"

	"github.com/vswitch/vswitch/internal/pkt"
)

// fdb is the forwarding database: (VLAN, MAC) -> port. Lookups and
// refreshes are lock-free (an xsync map read plus atomic loads and stores);
// only learning a new address or moving one takes the map's bucket lock or
// a CAS. Entry counts are kept in atomics so limits cost no map walk.
type fdb struct {
	m       *xsync.Map[uint64, *fdbEntry]
	count   atomic.Int64 // dynamic entries
	max     int64
	ageing  int64 // seconds
	learned atomic.Uint64
	moves   atomic.Uint64
	evicted atomic.Uint64 // fair share evictions (fairshare.go)
}

type fdbEntry struct {
	port   atomic.Pointer[swPort] // nil once the entry is being removed
	seen   atomic.Int64           // unix seconds of the last frame from it
	static bool
	local  bool // the switch's own address (a gateway): no other port may use it as source
}

// learnResult says what learning a source address did.
type learnResult uint8

const (
	learnOK      learnResult = iota // learned, refreshed, or pinned elsewhere by a static entry
	learnLimit                      // not learned: the FDB or the port's MAC limit
	learnSpoofed                    // the switch's own address from another port: drop the frame
)

// fdbKey packs (vid, mac) into one integer: xsync hashes integers fast, and
// the key is compared without touching memory.
func fdbKey(vid uint16, mac pkt.MAC) uint64 { return uint64(vid)<<48 | mac.Uint64() }

func newFDB(maxEntries int, ageingSeconds int64) *fdb {
	return &fdb{
		m:      xsync.NewMap[uint64, *fdbEntry](xsync.WithPresize(1024)),
		max:    int64(maxEntries),
		ageing: ageingSeconds,
	}
}

// lookup returns the port for (vid, mac), or nil to flood.
func (t *fdb) lookup(vid uint16, mac pkt.MAC) *swPort {
	if e, ok := t.m.Load(fdbKey(vid, mac)); ok {
		return e.port.Load()
	}
	return nil
}

// learn records that mac on vid was seen on p at now.
func (t *fdb) learn(p *swPort, vid uint16, mac pkt.MAC, now int64) learnResult {
	k := fdbKey(vid, mac)
	if e, ok := t.m.Load(k); ok {
		old := e.port.Load()
		if old == nil {
			// The ager or a port removal is deleting this entry right now:
			// learn afresh instead of losing this frame's learning.
			return t.insert(p, k, now)
		}
		if e.local && old != p {
			return learnSpoofed
		}
		if old != p && !e.static {
			if !p.macRoom() {
				return learnLimit
			}
			if e.port.CompareAndSwap(old, p) {
				old.macs.Add(-1)
				p.macs.Add(1)
				t.moves.Add(1)
			}
		}
		// Store only when the second changed, so a busy flow does not
		// bounce the entry's cache line between cores on every frame.
		if e.seen.Load() != now {
			e.seen.Store(now)
		}
		return learnOK
	}
	return t.insert(p, k, now)
}

// insert adds a dynamic entry for k on p unless a live one is there. A dying
// entry (port already nil) is gone from the map by the time Compute holds
// its bucket: removeIf clears the port under that same lock.
func (t *fdb) insert(p *swPort, k uint64, now int64) learnResult {
	if t.count.Load() >= t.max || !p.macRoom() {
		return learnLimit
	}
	t.m.Compute(k, func(cur *fdbEntry, loaded bool) (*fdbEntry, xsync.ComputeOp) {
		if loaded && cur.port.Load() != nil {
			return cur, xsync.CancelOp
		}
		e := &fdbEntry{}
		e.port.Store(p)
		e.seen.Store(now)
		t.count.Add(1)
		p.macs.Add(1)
		t.learned.Add(1)
		return e, xsync.UpdateOp
	})
	return learnOK
}

// addStatic installs a static entry: never aged, never moved. A local one
// is the switch's own address: a frame from any other port with it as
// source is dropped (the Linux bridge does not learn its own addresses
// from ports either).
func (t *fdb) addStatic(p *swPort, vid uint16, mac pkt.MAC, local bool) {
	e := &fdbEntry{static: true, local: local}
	e.port.Store(p)
	if old, loaded := t.m.LoadAndStore(fdbKey(vid, mac), e); loaded && !old.static {
		if op := old.port.Swap(nil); op != nil {
			op.macs.Add(-1)
			t.count.Add(-1)
		}
	}
}

// removeIf deletes every entry for which match is true, keeping the counts
// right. It runs off the frame path (ageing, port removal).
func (t *fdb) removeIf(match func(e *fdbEntry) bool) int {
	return t.m.DeleteMatching(func(_ uint64, e *fdbEntry) (bool, bool) {
		if !match(e) {
			return false, false
		}
		if p := e.port.Swap(nil); p != nil && !e.static {
			p.macs.Add(-1)
			t.count.Add(-1)
		}
		return true, false
	})
}

// age removes dynamic entries not seen for more than the ageing time: "now"
// and "seen" are whole seconds, so ">=" could drop an entry learned a
// millisecond ago.
func (t *fdb) age(now int64) int {
	return t.removeIf(func(e *fdbEntry) bool {
		return !e.static && now-e.seen.Load() > t.ageing
	})
}

// flushPort removes every entry (static ones too) pointing at p.
func (t *fdb) flushPort(p *swPort) int {
	return t.removeIf(func(e *fdbEntry) bool { return e.port.Load() == p })
}
