package vswitch

import (
	"math"

	"github.com/puzpuzpuz/xsync/v4"

	"github.com/vswitch/vswitch/internal/pkt"
)

// FDB fair share: one port that fills the table (a guest sending from
// thousands of random MACs) must not lock every other port out of it.
// When learning fails because the table is full, a port holding less than
// its fair share (max_entries / ports) still learns: the oldest entry of
// the port holding the most entries makes room. A port at or over its
// share is refused as before (fdb_limit). The search walks the table, off
// the steady state: it runs only when a full table meets a new address of
// a port under its share, which each port can ask for at most share times
// before it is at its share.

// learnFair retries learning mac on vid for p after a learnLimit, by
// evicting. It reports whether mac is now learned.
func (s *Switch) learnFair(topo *topology, p *swPort, vid uint16, mac pkt.MAC, now int64) bool {
	t := s.fdb
	if !p.macRoom() || t.count.Load() < t.max || len(topo.ports) == 0 {
		return false // the port's own limit, not the table's
	}
	share := t.max / int64(len(topo.ports))
	if p.macs.Load() >= share {
		return false
	}
	var victim *swPort
	for _, q := range topo.ports {
		if q != p && (victim == nil || q.macs.Load() > victim.macs.Load()) {
			victim = q
		}
	}
	if victim == nil || victim.macs.Load() <= share || !t.evictOldest(victim) {
		return false
	}
	return t.learn(p, vid, mac, now) == learnOK
}

// evictOldest removes the dynamic entry of p seen longest ago.
func (t *fdb) evictOldest(p *swPort) bool {
	var key uint64
	var oldest *fdbEntry
	seen := int64(math.MaxInt64)
	t.m.RangeRelaxed(func(k uint64, e *fdbEntry) bool {
		if !e.static && e.port.Load() == p {
			if s := e.seen.Load(); s < seen {
				key, oldest, seen = k, e, s
			}
		}
		return true
	})
	if oldest == nil {
		return false
	}
	evicted := false
	t.m.Compute(key, func(cur *fdbEntry, loaded bool) (*fdbEntry, xsync.ComputeOp) {
		// Only if it is still that entry on p: it may have moved, aged out
		// or been evicted by another reader meanwhile.
		if !loaded || cur != oldest || !cur.port.CompareAndSwap(p, nil) {
			return cur, xsync.CancelOp
		}
		p.macs.Add(-1)
		t.count.Add(-1)
		evicted = true
		return nil, xsync.DeleteOp
	})
	if evicted {
		t.evicted.Add(1)
	}
	return evicted
}
