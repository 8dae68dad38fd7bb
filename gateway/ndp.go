package gateway

import (
	"net/netip"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// Neighbour discovery (RFC 4861) for the gateway's own addresses. As on
// the IPv4 side (ARP and DHCP ACKs), the neighbour cache learns only from
// neighbour solicitations and advertisements, never from an IPv6
// packet's source, and only a link-layer address that is the frame's own
// source MAC: a guest cannot point a neighbour's address at another MAC.

// ndpOK applies RFC 4861 7.1's checks common to every NDP message (see
// ndpCheck) and counts a failure (bad_ndp).
func (p *Port) ndpOK(ip pkt.IPv6, c pkt.ICMPv6) (lla pkt.MAC, has, ok bool) {
	if lla, has, ok = ndpCheck(ip, c); !ok {
		p.drops[DropBadNDP].Add(1)
	}
	return lla, has, ok
}

// ndpCheck applies RFC 4861 7.1's checks common to every NDP message: at
// least its fixed part, hop limit 255 (it was not routed here), code 0,
// well-formed options, and from the unspecified address no source
// link-layer address option. It returns the source (target, for an NA)
// link-layer address option, if any.
func ndpCheck(ip pkt.IPv6, c pkt.ICMPv6) (lla pkt.MAC, has, ok bool) {
	if off := pkt.NDPOptionsOffset(c.Type()); len(c) < off || ip.HopLimit() != 255 || c.Code() != 0 {
		return lla, false, false
	}
	want := uint8(pkt.NDPOptSourceLLA)
	if c.Type() == pkt.ICMPv6NeighAdvert {
		want = pkt.NDPOptTargetLLA
	}
	bad := false
	for opts := c.NDPOptions(); ; {
		if !opts.Next() {
			bad = bad || opts.Malformed()
			break
		}
		if opts.Type() == want {
			lla, has = pkt.NDPLinkLayerAddr(opts.Data())
			bad = bad || !has
		}
	}
	if bad || has && (lla.IsMulticast() || lla.IsZero() || want == pkt.NDPOptSourceLLA && ip.Src().IsUnspecified()) {
		return lla, false, false
	}
	return lla, has, true
}

// neighSolicit answers a solicitation for one of the gateway's addresses
// and learns the solicitor; a probe for a tentative address makes it a
// duplicate.
func (p *Port) neighSolicit(eth pkt.Ethernet, ip pkt.IPv6, c pkt.ICMPv6, now time.Time) {
	v := p.v6
	lla, has, ok := p.ndpOK(ip, c)
	if !ok {
		return
	}
	src, t := ip.Src(), pkt.NDPNeighSolicit(c).Target()
	if t.IsMulticast() || src.IsUnspecified() && !isSolicitedNode(ip.Dst()) {
		p.drops[DropBadNDP].Add(1)
		return
	}
	mine := v.own(t)
	if mine < 0 {
		return // for a guest: the guest answers
	}
	switch {
	case v.state[mine].Load() == addrTentative:
		if src.IsUnspecified() { // another node probing the same address
			v.state[mine].Store(addrDuplicate)
		}
		return
	case !v.usable(mine):
		return
	}
	if has && lla != eth.Src() {
		p.drops[DropNDPSpoofed].Add(1)
		return
	}
	dmac, dst, flags := eth.Src(), src, uint8(pkt.NDPNARouter|pkt.NDPNASolicited|pkt.NDPNAOverride)
	if src.IsUnspecified() {
		// A guest's DAD probe for the gateway's address: tell everyone it
		// is taken (RFC 4861 7.2.4, not solicited).
		dmac, dst, flags = pkt.MulticastMAC6(pkt.IPv6AllNodes), pkt.IPv6AllNodes, pkt.NDPNARouter|pkt.NDPNAOverride
		p.drops[DropAddrConflict].Add(1)
	} else if v.guestAddr(src) {
		if has {
			v.neigh.learn(src, lla, now)
		}
	} else {
		p.drops[DropBadSource].Add(1)
		return
	}
	f, b := newFrame()
	p.send(f, writeNA(b, p.mac, dmac, t, dst, flags))
}

// writeNA writes an advertisement of target at the gateway's MAC.
func writeNA(b []byte, smac, dmac pkt.MAC, target, dst netip.Addr, flags uint8) int {
	n := pkt.NDPNeighAdvertLen + pkt.NDPLLAOptLen
	msg := b[icmp6Off : icmp6Off+n]
	pkt.NDPNeighAdvert(msg).Encode(flags, target)
	w := pkt.NDPOptionWriter{B: msg, N: pkt.NDPNeighAdvertLen}
	w.AddLinkLayerAddr(pkt.NDPOptTargetLLA, smac)
	return writeICMPv6(b, smac, dmac, target, dst, 255, n)
}

// writeNS writes a solicitation for target: from src with the gateway's
// MAC as source link-layer address, or, for DAD (src unspecified), with
// no option (RFC 4862 5.4.2).
func writeNS(b []byte, smac pkt.MAC, src, target netip.Addr) int {
	n := pkt.NDPNeighSolicitLen
	if !src.IsUnspecified() {
		n += pkt.NDPLLAOptLen
	}
	msg := b[icmp6Off : icmp6Off+n]
	pkt.NDPNeighSolicit(msg).Encode(target)
	if !src.IsUnspecified() {
		w := pkt.NDPOptionWriter{B: msg, N: pkt.NDPNeighSolicitLen}
		w.AddLinkLayerAddr(pkt.NDPOptSourceLLA, smac)
	}
	group := pkt.SolicitedNode(target)
	return writeICMPv6(b, smac, pkt.MulticastMAC6(group), src, group, 255, n)
}

// neighAdvert learns a guest from its advertisement; one for a tentative
// address of the gateway makes it a duplicate, one for a preferred
// address is a conflict (the switch drops those from guest ports before
// they get here).
func (p *Port) neighAdvert(eth pkt.Ethernet, ip pkt.IPv6, c pkt.ICMPv6, now time.Time) {
	v := p.v6
	lla, has, ok := p.ndpOK(ip, c)
	if !ok {
		return
	}
	m := pkt.NDPNeighAdvert(c)
	t := m.Target()
	if t.IsMulticast() || ip.Dst().IsMulticast() && m.Flags()&pkt.NDPNASolicited != 0 {
		p.drops[DropBadNDP].Add(1)
		return
	}
	if mine := v.own(t); mine >= 0 {
		if v.state[mine].CompareAndSwap(addrTentative, addrDuplicate) {
			return
		}
		p.drops[DropAddrConflict].Add(1)
		return
	}
	if !v.guestAddr(t) {
		p.drops[DropBadSource].Add(1)
		return
	}
	if has && lla != eth.Src() {
		p.drops[DropNDPSpoofed].Add(1)
		return
	}
	v.neigh.learn(t, eth.Src(), now)
}

// isSolicitedNode reports whether a is a solicited-node group
// (ff02::1:ff00:0/104).
func isSolicitedNode(a netip.Addr) bool {
	b := a.As16()
	return a.Is6() && b[0] == 0xff && b[1] == 0x02 && b[11] == 1 && b[12] == 0xff &&
		b[2]|b[3]|b[4]|b[5]|b[6]|b[7]|b[8]|b[9]|b[10] == 0
}

// solicit asks the network for a guest's MAC (rate limited), as deliver
// does by ARP on the IPv4 side.
func (p *Port) solicit(dst netip.Addr, now time.Time) {
	v := p.v6
	if !v.nsTok.allow(now) {
		return
	}
	f, b := newFrame()
	p.send(f, writeNS(b, p.mac, v.srcFor(dst), dst))
}
