package gateway

import (
	"net/netip"
	"slices"
)

// Mode is a network's forward mode, libvirt's names.
type Mode uint8

const (
	ModeIsolated Mode = iota // guests and the gateway only; nothing is routed out
	ModeNAT                  // routed out of the uplink with masquerade
	ModeRouted               // routed out of the uplink as is; the outside routes back
)

var modeNames = [...]string{"isolated", "nat", "routed"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "unknown"
}

// ParseMode reads a mode's config name.
func ParseMode(s string) (Mode, bool) {
	i := slices.Index(modeNames[:], s)
	return Mode(max(i, 0)), i >= 0
}

// routesOut reports whether the network sends off-network packets to its
// uplink.
func (m Mode) routesOut() bool { return m == ModeNAT || m == ModeRouted }

// routeTable maps an address to the attached network that holds it,
// longest prefix first. It is built when a network attaches and replaced
// whole (copy on write), so the packet path reads it without a lock.
type routeTable struct {
	routes []*Port // by prefix length, longest first
}

// with returns a new table that also holds p.
func (t *routeTable) with(p *Port) *routeTable {
	n := &routeTable{routes: append(slices.Clone(t.routes), p)}
	slices.SortStableFunc(n.routes, func(a, b *Port) int { return b.cfg.Address.Bits() - a.cfg.Address.Bits() })
	return n
}

// lookup returns the attached network whose prefix holds a, or nil.
func (t *routeTable) lookup(a netip.Addr) *Port {
	for _, p := range t.routes {
		if p.cfg.Address.Contains(a) {
			return p
		}
	}
	return nil
}
