package gateway

import (
	"net/netip"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// A binary upgrade carries the neighbour caches to the next process, so
// the first packet back to a guest (or out to the next hop) after it does
// not wait on an ARP round trip. What comes back is checked as an ARP
// reply would be: an entry the cache would not have learned is skipped.

// Neighbour is a cached IPv4 neighbour as data.
type Neighbour struct {
	IP   netip.Addr `json:"ip"`
	MAC  pkt.MAC    `json:"mac"`
	Seen int64      `json:"seen"` // unix nanoseconds
}

func (n *neighbours) export() []Neighbour {
	out := []Neighbour{}
	n.m.Range(func(ip netip.Addr, e *neighbour) bool {
		out = append(out, Neighbour{IP: ip, MAC: e.mac, Seen: e.seen.Load()})
		return true
	})
	return out
}

// restore learns each entry ok accepts, at most the cache's bound (learn
// evicts past it); it returns how many it took.
func (n *neighbours) restore(list []Neighbour, ok func(netip.Addr) bool) int {
	taken := 0
	for _, e := range list {
		if !e.IP.Is4() || !ok(e.IP) || e.MAC.IsMulticast() || e.MAC.IsZero() {
			continue
		}
		n.learn(e.IP, e.MAC, time.Unix(0, e.Seen))
		taken++
	}
	return min(taken, n.max)
}

// ExportNeighbours is the gateway's neighbour cache.
func (p *Port) ExportNeighbours() []Neighbour { return p.neigh.export() }

// ImportNeighbours fills the cache of a gateway not started yet with
// entries of guest addresses; it returns how many it took.
func (p *Port) ImportNeighbours(list []Neighbour) int { return p.neigh.restore(list, p.guestAddr) }

// ExportNeighbours is the uplink's neighbour cache.
func (u *Uplink) ExportNeighbours() []Neighbour { return u.neigh.export() }

// ImportNeighbours fills the cache of an uplink not started yet; it
// returns how many entries it took.
func (u *Uplink) ImportNeighbours(list []Neighbour) int {
	return u.neigh.restore(list, func(netip.Addr) bool { return true })
}
