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
//
// A network's gateway learns only from ARP and from the DHCP server's
// ACKs, never from the source of an IP packet: a guest sending one
// packet with a neighbour's address as source would otherwise take that
// neighbour's traffic from the outside. IP packets only confirm an entry.
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

// learn caches ip at mac, replacing another MAC at once.
func (n *neighbours) learn(ip netip.Addr, mac pkt.MAC, now time.Time) {
	if n.confirm(ip, mac, now) {
		return
	}
	ns := now.UnixNano()
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

// confirm refreshes ip's entry if it holds mac, without a lock, and
// reports whether it did; it never adds or changes an entry.
func (n *neighbours) confirm(ip netip.Addr, mac pkt.MAC, now time.Time) bool {
	e, ok := n.m.Load(ip)
	if !ok || e.mac != mac {
		return false
	}
	if ns := now.UnixNano(); ns-e.seen.Load() >= int64(time.Second) {
		e.seen.Store(ns)
	}
	return true
}

// learnLease caches the address a DHCP ACK gives its client: the server
// bound it to chaddr, which dhcp checked is the request's source MAC.
func (p *Port) learnLease(m pkt.DHCP) {
	if !m.Valid() || m.Op() != pkt.BOOTReply {
		return
	}
	mac, yi := m.CHAddr(), m.YIAddr()
	if p.guestAddr(yi) && !mac.IsMulticast() && !mac.IsZero() && m.ParseOptions().Type == pkt.DHCPAck {
		p.neigh.learn(yi, mac, time.Now())
	}
}

// lookup returns the MAC of ip, if known.
func (n *neighbours) lookup(ip netip.Addr) (pkt.MAC, bool) {
	if e, ok := n.m.Load(ip); ok {
		return e.mac, true
	}
	return pkt.MAC{}, false
}

func (n *neighbours) len() int { return int(n.n.Load()) }
