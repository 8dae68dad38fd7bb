package gateway

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/puzpuzpuz/xsync/v4"

	"github.com/vswitch/vswitch/internal/pkt"
)

// neighbours is a bounded IPv4 -> MAC cache. Lookups and refreshes take
// no lock (like the FDB): the map is lock-free for readers and an entry's
// last-seen time is an atomic, stored at most once a second. Adding or
// changing an entry synchronises; when full, the entry seen longest ago
// makes room, so a guest spraying ARP cannot grow it.
type neighbours struct {
	m   *xsync.Map[netip.Addr, *neighbour]
	mu  sync.Mutex // adding, replacing and evicting
	max int
	n   atomic.Int64
}

type neighbour struct {
	mac  pkt.MAC      // never changes: a new MAC is a new entry
	seen atomic.Int64 // unix ns
}

func newNeighbours(max int) *neighbours {
	return &neighbours{m: xsync.NewMap[netip.Addr, *neighbour](), max: max}
}

func (n *neighbours) learn(ip netip.Addr, mac pkt.MAC, now time.Time) {
	ns := now.UnixNano()
	if e, ok := n.m.Load(ip); ok && e.mac == mac {
		if ns-e.seen.Load() >= int64(time.Second) {
			e.seen.Store(ns)
		}
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	e := &neighbour{mac: mac}
	e.seen.Store(ns)
	if _, ok := n.m.Load(ip); ok {
		n.m.Store(ip, e) // a changed MAC replaces the old one at once
		return
	}
	if int(n.n.Load()) >= n.max {
		var oldest netip.Addr
		var t int64
		n.m.Range(func(a netip.Addr, e *neighbour) bool {
			if s := e.seen.Load(); !oldest.IsValid() || s < t {
				oldest, t = a, s
			}
			return true
		})
		n.m.Delete(oldest)
		n.n.Add(-1)
	}
	n.m.Store(ip, e)
	n.n.Add(1)
}

// lookup returns the MAC of ip, if known.
func (n *neighbours) lookup(ip netip.Addr) (pkt.MAC, bool) {
	if e, ok := n.m.Load(ip); ok {
		return e.mac, true
	}
	return pkt.MAC{}, false
}

func (n *neighbours) len() int { return int(n.n.Load()) }
