package gateway

import (
	"net/netip"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// MLD (RFC 3810) for the gateway's own groups: it reports the
// all-routers group and the solicited-node groups of its two addresses
// when it attaches and whenever a querier asks, as a host does. A switch
// that snoops MLD then still delivers neighbour solicitations for the
// gateway's addresses, and router solicitations, to the gateway's port.

// mldRouters is ff02::16, where MLDv2 reports go.
var mldRouters = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x16})

// hbhRouterAlert is a hop-by-hop header with the router alert option
// (MLD, RFC 2711) and PadN, naming ICMPv6 next.
var hbhRouterAlert = [8]byte{pkt.ProtoICMPv6, 0, 5, 2, 0, 0, 1, 0}

// groups are the gateway's groups to report: all-routers and the
// solicited-node groups of its addresses (once if they coincide).
func (v *v6) groups() ([3]netip.Addr, int) {
	g := [3]netip.Addr{pkt.IPv6AllRouters, pkt.SolicitedNode(v.ll), pkt.SolicitedNode(v.global)}
	if g[2] == g[1] {
		return g, 2
	}
	return g, 3
}

// writeMLDReport writes an MLDv2 report of the gateway's groups with
// record type rec, from src (:: before its link-local address passed
// DAD, RFC 3810 5.2.13).
func (p *Port) writeMLDReport(b []byte, src netip.Addr, rec uint8) int {
	g, n := p.v6.groups()
	msgLen := 8 + 20*n
	off := pkt.EthernetLen + pkt.IPv6Len
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: pkt.MulticastMAC6(mldRouters), Src: p.mac, Type: pkt.TypeIPv6})
	ip := pkt.IPv6(b[pkt.EthernetLen:])
	ip.Encode(&pkt.IPv6Fields{PayloadLen: uint16(8 + msgLen), NextHeader: pkt.ProtoHopByHop, HopLimit: 1, Src: src, Dst: mldRouters})
	copy(b[off:], hbhRouterAlert[:])
	c := pkt.ICMPv6(b[off+8 : off+8+msgLen])
	c.EncodeHeader(pkt.ICMPv6MLDv2Report, 0, uint32(n)) // reserved, number of records
	for i := range n {
		r := c[8+20*i:]
		r[0], r[1], r[2], r[3] = rec, 0, 0, 0
		a := g[i].As16()
		copy(r[4:20], a[:])
	}
	s, d := src.As16(), mldRouters.As16()
	c.SetChecksum(pkt.PseudoHeaderChecksum(pkt.ProtoICMPv6, s[:], d[:], uint16(msgLen)))
	end := off + 8 + msgLen
	clear(b[end:max(end, 60)])
	return max(end, 60)
}

// mldQuery answers a querier (RFC 3810 7.1: hop limit 1, a link-local
// source) with a report of every group, at most ten a second.
func (p *Port) mldQuery(ip pkt.IPv6, c pkt.ICMPv6, now time.Time) {
	v := p.v6
	if ip.HopLimit() != 1 || !ip.Src().IsLinkLocalUnicast() || len(c) < 24 {
		p.drops[DropBadNDP].Add(1)
		return
	}
	if g := netip.AddrFrom16([16]byte(c[8:24])); !g.IsUnspecified() {
		if all, n := v.groups(); !containsAddr(all[:n], g) {
			return // a query for a group the gateway is not in
		}
	}
	if !v.usable(stLL) || !v.mldTok.allow(now) {
		return
	}
	f, b := newFrame()
	p.send(f, p.writeMLDReport(b, v.ll, pkt.RecordIsExclude)) // MODE_IS_EXCLUDE: the answer to a query
}

func containsAddr(s []netip.Addr, a netip.Addr) bool {
	for _, x := range s {
		if x == a {
			return true
		}
	}
	return false
}
