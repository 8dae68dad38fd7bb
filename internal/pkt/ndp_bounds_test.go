package pkt

import (
	"net/netip"
	"testing"
)

// TestNDPBounds: each NDP view and option body is accepted at exactly its
// length and refused a byte short; an RDNSS body holds whole addresses
// only, and its Count and Addr find each one; an option run that ends
// one byte into an option header is malformed, never read past.
func TestNDPBounds(t *testing.T) {
	z := func(n int) []byte { return make([]byte, n) }
	for _, c := range []struct {
		name  string
		valid func([]byte) bool
		n     int
	}{
		{"RS", func(b []byte) bool { return NDPRouterSolicit(b).Valid() }, NDPRouterSolicitLen},
		{"RA", func(b []byte) bool { return NDPRouterAdvert(b).Valid() }, NDPRouterAdvertLen},
		{"NS", func(b []byte) bool { return NDPNeighSolicit(b).Valid() }, NDPNeighSolicitLen},
		{"NA", func(b []byte) bool { return NDPNeighAdvert(b).Valid() }, NDPNeighAdvertLen},
		{"redirect", func(b []byte) bool { return NDPRedirect(b).Valid() }, NDPRedirectLen},
		{"prefix info", func(b []byte) bool { return NDPPrefixInfo(b).Valid() }, NDPPrefixOptLen - 2},
		{"link-layer address", func(b []byte) bool { _, ok := NDPLinkLayerAddr(b); return ok }, MACLen},
		{"MTU", func(b []byte) bool { _, ok := NDPMTU(b); return ok }, 6},
		{"RDNSS, one server", func(b []byte) bool { return NDPRDNSS(b).Valid() }, 6 + 16},
		{"RDNSS, two servers", func(b []byte) bool { return NDPRDNSS(b).Valid() }, 6 + 32},
	} {
		if !c.valid(z(c.n)) || c.valid(z(c.n-1)) {
			t.Errorf("%s: Valid at %d bytes %v, at %d %v", c.name, c.n, c.valid(z(c.n)), c.n-1, c.valid(z(c.n-1)))
		}
	}
	if NDPRDNSS(z(6 + 17)).Valid() {
		t.Error("RDNSS with a partial address")
	}
	s1, s2 := netip.MustParseAddr("fd00::53"), netip.MustParseAddr("fd00::54")
	r := append([]byte{0, 0, 0, 0, 0x0e, 0x10}, append(s1.AsSlice(), s2.AsSlice()...)...)
	if rd := NDPRDNSS(r); rd.Count() != 2 || rd.Addr(0) != s1 || rd.Addr(1) != s2 || rd.Lifetime() != 3600 {
		t.Errorf("RDNSS: %d servers %v %v, lifetime %d", rd.Count(), rd.Addr(0), rd.Addr(1), rd.Lifetime())
	}
	// An RS with one source link-layer address option, then one stray byte.
	rs := append(z(NDPRouterSolicitLen), NDPOptSourceLLA, 1, 0x52, 0x54, 0, 0, 0, 1, 9)
	rs[0] = ICMPv6RouterSolicit
	it := ICMPv6(rs).NDPOptions()
	n := 0
	for it.Next() {
		n++
	}
	if n != 1 || !it.Malformed() {
		t.Errorf("%d options, malformed %v; want 1 and true", n, it.Malformed())
	}
}
