package nat

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// A binary upgrade carries the table to the next vswitch process: Export
// writes every live flow as a Flow, Import recreates them in an empty
// table, so an established connection keeps its outside port. The
// snapshot comes from our own previous process, but it is still checked
// like guest input: a record that is malformed, a duplicate of one
// already taken, or past the table's bounds is refused, never trusted.

// SnapshotVersion is the format Export writes and Import reads.
const SnapshotVersion = 1

// Snapshot is a table's flows as data.
type Snapshot struct {
	Version int    `json:"version"`
	Flows   []Flow `json:"flows"`
}

// Flow is one tracked flow as data.
type Flow struct {
	Proto       uint8          `json:"proto"`
	InSrc       netip.AddrPort `json:"in_src"`
	InDst       netip.AddrPort `json:"in_dst"`
	OutSrc      netip.AddrPort `json:"out_src"`
	OutDst      netip.AddrPort `json:"out_dst"`
	State       uint32         `json:"state"`
	Created     int64          `json:"created"`   // unix seconds
	LastSeen    int64          `json:"last_seen"` // unix seconds
	Assured     bool           `json:"assured,omitempty"`
	FromOutside bool           `json:"from_outside,omitempty"`
	Packets     [2]uint64      `json:"packets"` // out, in
	Bytes       [2]uint64      `json:"bytes"`   // out, in
}

// Errors Import returns, for errors.Is.
var (
	ErrSnapshotVersion = errors.New("snapshot version not understood")
	ErrSnapshotFlow    = errors.New("bad flow in snapshot")
)

// Export is a snapshot of every live flow.
func (t *Table) Export() Snapshot {
	s := Snapshot{Version: SnapshotVersion, Flows: []Flow{}}
	for _, e := range t.Entries() {
		po, pi, bo, bi := e.Counters()
		s.Flows = append(s.Flows, Flow{Proto: e.Inside.Proto, InSrc: e.Inside.Src, InDst: e.Inside.Dst,
			OutSrc: e.Outside.Src, OutDst: e.Outside.Dst, State: e.state.Load(), Created: e.Created.Unix(),
			LastSeen: e.lastSeen.Load(), Assured: e.assured.Load(), FromOutside: e.fromOutside,
			Packets: [2]uint64{po, pi}, Bytes: [2]uint64{bo, bi}})
	}
	return s
}

// Import adds the snapshot's flows to t, which should be empty. A flow
// idle past its timeout at now is skipped, not an error. A flow that
// is malformed or clashes with one already in t is refused with the
// reason, and so is one past MaxEntries or MaxPerSource; the flows before
// it stay. It returns how many flows were added.
func (t *Table) Import(s Snapshot, now int64) (int, error) {
	if s.Version != SnapshotVersion {
		return 0, fmt.Errorf("%w: %d (want %d)", ErrSnapshotVersion, s.Version, SnapshotVersion)
	}
	n := 0
	for i, f := range s.Flows {
		if err := f.check(); err != nil {
			return n, fmt.Errorf("flow %d: %w: %v", i, ErrSnapshotFlow, err)
		}
		e := &Entry{Inside: Tuple{f.Proto, f.InSrc, f.InDst}, Outside: Tuple{f.Proto, f.OutSrc, f.OutDst},
			Created: time.Unix(f.Created, 0), fromOutside: f.FromOutside}
		e.state.Store(f.State)
		e.assured.Store(f.Assured)
		if now-f.LastSeen >= e.timeout() {
			continue
		}
		e.pkts[out].Store(f.Packets[0])
		e.pkts[in].Store(f.Packets[1])
		e.bytes[out].Store(f.Bytes[0])
		e.bytes[in].Store(f.Bytes[1])
		if err := t.restore(e, f.LastSeen); err != nil {
			return n, fmt.Errorf("flow %d: %w", i, err)
		}
		n++
	}
	return n, nil
}

// check refuses a flow no table could hold.
func (f Flow) check() error {
	switch {
	case !f.InSrc.IsValid() || !f.InDst.IsValid() || !f.OutSrc.IsValid() || !f.OutDst.IsValid():
		return errors.New("an address is missing")
	case f.State >= uint32(len(stateNames)):
		return fmt.Errorf("state %d", f.State)
	case f.InDst != f.OutDst && !(f.Proto == pkt.ProtoICMP && f.InDst.Addr() == f.OutDst.Addr()):
		// Masquerade rewrites the source only; ICMP echo also carries
		// its identifier in the destination's "port".
		return errors.New("inside and outside go to different remotes")
	}
	return nil
}

// restore publishes e as insert does, unless a flow already holds one of
// its tuples or the table's bounds refuse it.
func (t *Table) restore(e *Entry, lastSeen int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.byInside.Load(e.Inside); ok {
		return fmt.Errorf("%w: inside tuple taken twice", ErrSnapshotFlow)
	}
	if _, ok := t.byOutside.Load(e.Outside.reverse()); ok {
		return fmt.Errorf("%w: outside tuple taken twice", ErrSnapshotFlow)
	}
	if t.perSource[e.origin()] >= t.cfg.MaxPerSource {
		return fmt.Errorf("%w: more flows from %s than max_per_source", ErrSnapshotFlow, e.origin())
	}
	if t.count.Load() >= int64(t.cfg.MaxEntries) {
		return fmt.Errorf("%w: more flows than max_entries", ErrSnapshotFlow)
	}
	t.insert(e, lastSeen)
	if e.assured.Load() {
		t.unqueue(e) // assured flows never come back to early drop
	}
	return nil
}
