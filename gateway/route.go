package gateway

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

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

// lastAddr is the last address of an IPv4 prefix: its broadcast address.
func lastAddr(pfx netip.Prefix) netip.Addr {
	b := pfx.Masked().Addr().As4()
	v := binary.BigEndian.Uint32(b[:]) | ^(^uint32(0) << (32 - pfx.Bits()))
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}
