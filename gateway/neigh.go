package gateway

import (
	"net/netip"
	"sync"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// neighbours is a bounded IPv4 -> MAC cache. When full, the entry seen
// longest ago makes room, so a guest spraying ARP cannot grow it.
type neighbours struct {
	mu  sync.Mutex
	max int
	m   map[netip.Addr]neighbour
}

type neighbour struct {
	mac  pkt.MAC
	seen time.Time
}

func newNeighbours(max int) *neighbours {
	return &neighbours{max: max, m: make(map[netip.Addr]neighbour)}
}

func (n *neighbours) learn(ip netip.Addr, mac pkt.MAC, now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e, ok := n.m[ip]; ok && e.mac == mac && now.Sub(e.seen) < time.Second {
		return
	}
	if _, ok := n.m[ip]; !ok && len(n.m) >= n.max {
		var oldest netip.Addr
		var t time.Time
		for a, e := range n.m {
			if !oldest.IsValid() || e.seen.Before(t) {
				oldest, t = a, e.seen
			}
		}
		delete(n.m, oldest)
	}
	n.m[ip] = neighbour{mac: mac, seen: now}
}

// Lookup returns the MAC of ip, if known.
func (n *neighbours) lookup(ip netip.Addr) (pkt.MAC, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	e, ok := n.m[ip]
	return e.mac, ok
}

func (n *neighbours) len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.m)
}
