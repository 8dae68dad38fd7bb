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
	if !a.Is4() {
		return nil
	}
	v := addr32(a)
	for _, p := range t.routes {
		if p.sub.contains(v) {
			return p
		}
	}
	return nil
}

// subnet is an IPv4 prefix as integers, for the per-packet source checks
// (netip's Contains and comparisons cost several times as much).
type subnet struct {
	first, last, mask uint32
}

func newSubnet(pfx netip.Prefix) subnet {
	mask := ^uint32(0) << (32 - pfx.Bits()) // 0 for /0: a shift of 32 gives 0
	first := addr32(pfx.Addr()) & mask
	return subnet{first: first, last: first | ^mask, mask: mask}
}

func (s subnet) contains(v uint32) bool { return v&s.mask == s.first }

// host reports whether v is in s and may be a host there: not, below
// /31 (RFC 3021), its first or last address.
func (s subnet) host(v uint32) bool {
	return s.contains(v) && (s.last-s.first < 2 || v != s.first && v != s.last)
}

func addr32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func addrFrom32(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}
