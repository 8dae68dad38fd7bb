package tap

import (
	"net/netip"
	"sync/atomic"

	"github.com/puzpuzpuz/xsync/v4"

	"github.com/vswitch/vswitch/internal/pkt"
)

// vtepTable maps (VLAN, inner MAC) to the remote VTEP behind which the MAC
// was last seen: the tunnel's own forwarding table, as the Linux vxlan
// device keeps one beside the bridge's. The switch's FDB says "this MAC is
// behind the vxlan port"; this table says which remote host to send to.
// Reads and refreshes are lock-free; learning a new MAC takes a bucket
// lock of the map. The table is bounded: when it is full, new MACs are not
// learned (their frames go to every remote instead), counted by the caller.
type vtepTable struct {
	m      *xsync.Map[uint64, *vtepEntry]
	count  atomic.Int64
	max    int64
	ageing int64 // seconds
	swept  atomic.Int64
}

type vtepEntry struct {
	vtep atomic.Uint32 // IPv4 address of the remote, big-endian in a uint32
	seen atomic.Int64  // unix seconds of the last frame from it
}

func newVTEPTable(maxEntries int, ageingSeconds int64) *vtepTable {
	return &vtepTable{m: xsync.NewMap[uint64, *vtepEntry](), max: int64(maxEntries), ageing: ageingSeconds}
}

func vtepKey(vid uint16, mac pkt.MAC) uint64 { return uint64(vid)<<48 | mac.Uint64() }

func addr4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func fromAddr4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// lookup returns the VTEP for (vid, mac) if one was learned within the
// ageing time.
func (t *vtepTable) lookup(vid uint16, mac pkt.MAC, now int64) (uint32, bool) {
	e, ok := t.m.Load(vtepKey(vid, mac))
	if !ok || now-e.seen.Load() > t.ageing {
		return 0, false
	}
	return e.vtep.Load(), true
}

// learn records that mac on vid came from vtep at now. It reports false
// when the table is full and the MAC is new.
func (t *vtepTable) learn(vid uint16, mac pkt.MAC, vtep uint32, now int64) bool {
	k := vtepKey(vid, mac)
	if e, ok := t.m.Load(k); ok {
		if e.vtep.Load() != vtep {
			e.vtep.Store(vtep) // the MAC moved to another host
		}
		if e.seen.Load() != now {
			e.seen.Store(now)
		}
		return true
	}
	if t.count.Load() >= t.max {
		t.sweep(now)
		if t.count.Load() >= t.max {
			return false
		}
	}
	e := &vtepEntry{}
	e.vtep.Store(vtep)
	e.seen.Store(now)
	if _, loaded := t.m.LoadOrStore(k, e); !loaded {
		t.count.Add(1)
	}
	return true
}

// sweep drops aged entries, at most once a second: it runs only when the
// table is full, so its walk is paid by the MAC that found no room.
func (t *vtepTable) sweep(now int64) {
	if last := t.swept.Load(); last == now || !t.swept.CompareAndSwap(last, now) {
		return
	}
	t.m.Range(func(k uint64, e *vtepEntry) bool {
		if now-e.seen.Load() > t.ageing {
			if _, ok := t.m.LoadAndDelete(k); ok {
				t.count.Add(-1)
			}
		}
		return true
	})
}

// VTEPEntry is one learned remote MAC, for `show fdb`.
type VTEPEntry struct {
	VLAN uint16
	MAC  pkt.MAC
	VTEP netip.Addr
	Age  int64 // seconds since the last frame
}

func (t *vtepTable) entries(now int64) []VTEPEntry {
	var out []VTEPEntry
	t.m.Range(func(k uint64, e *vtepEntry) bool {
		age := now - e.seen.Load()
		if age <= t.ageing {
			out = append(out, VTEPEntry{VLAN: uint16(k >> 48), MAC: pkt.MACFromUint64(k & (1<<48 - 1)),
				VTEP: fromAddr4(e.vtep.Load()), Age: age})
		}
		return true
	})
	return out
}
