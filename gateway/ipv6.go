package gateway

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// The gateway's IPv6 side on a network with address6: neighbour
// discovery for its global and link-local addresses (ndp.go), router
// advertisements (ra.go), MLD reports of its groups (mld.go), ping and
// ICMPv6 errors (icmp6.go), and routing
// between the networks that have address6 (route6.go). It runs on the
// same writer goroutine as IPv4 and shares its queue, rate limits and
// frame pool; the only other goroutine is the advertiser (ra.go).

// addrState is where duplicate address detection is for one of the
// gateway's own addresses (RFC 4862 5.4).
type addrState = int32

const (
	addrTentative addrState = iota // DAD probe out: not answered for, not used as a source
	addrPreferred                  // DAD passed
	addrDuplicate                  // someone else holds it: the gateway keeps off it
)

// v6 is a network's IPv6 state; nil on a network without address6.
type v6 struct {
	global netip.Addr
	prefix netip.Prefix // a /64
	hi     uint64       // the prefix's upper 64 bits, for the per-packet checks
	ll     netip.Addr   // fe80:: from the gateway's MAC (EUI-64)
	macs   [4]pkt.MAC   // multicast MACs of the groups the gateway is in
	state  [2]atomic.Int32
	neigh  *neighbours // learned only from NS and NA (ndp.go)
	nsTok  tokens      // solicitations for guests, per second
	rsTok  tokens      // solicited RAs, per second
	mldTok tokens      // reports answering queries, per second
}

// Indexes of state.
const (
	stLL = iota
	stGlobal
)

func newV6(pfx netip.Prefix, mac pkt.MAC) *v6 {
	a := pfx.Addr().As16()
	v := &v6{
		global: pfx.Addr(), prefix: pfx.Masked(), hi: binary.BigEndian.Uint64(a[:8]),
		ll: pkt.LinkLocalFromMAC(mac), neigh: newNeighbours(1024),
	}
	v.macs = [4]pkt.MAC{
		pkt.MulticastMAC6(pkt.IPv6AllNodes), pkt.MulticastMAC6(pkt.IPv6AllRouters),
		pkt.MulticastMAC6(pkt.SolicitedNode(v.global)), pkt.MulticastMAC6(pkt.SolicitedNode(v.ll)),
	}
	return v
}

// wantMAC reports whether a frame to the group address dst is for the
// gateway: all-nodes, all-routers and its solicited-node groups.
func (v *v6) wantMAC(dst pkt.MAC) bool {
	return dst == v.macs[0] || dst == v.macs[1] || dst == v.macs[2] || dst == v.macs[3]
}

// own returns which of the gateway's addresses a is (stLL, stGlobal), or
// -1.
func (v *v6) own(a netip.Addr) int {
	switch a {
	case v.ll:
		return stLL
	case v.global:
		return stGlobal
	}
	return -1
}

// usable reports whether the gateway may answer for and send from its
// address i: DAD passed.
func (v *v6) usable(i int) bool { return v.state[i].Load() == addrPreferred }

// inPrefix reports whether a is in the network's /64.
func (v *v6) inPrefix(a netip.Addr) bool {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]) == v.hi
}

// guestAddr reports whether a guest may hold a: a unicast address in the
// prefix or link-local, not the gateway's own and not the prefix's
// subnet-router anycast address (RFC 4291 2.6.1).
func (v *v6) guestAddr(a netip.Addr) bool {
	if !a.Is6() || a.Is4In6() || a.IsMulticast() || a == v.global || a == v.ll {
		return false
	}
	b := a.As16()
	if binary.BigEndian.Uint64(b[8:]) == 0 {
		return false
	}
	return binary.BigEndian.Uint64(b[:8]) == v.hi || a.IsLinkLocalUnicast()
}

// srcFor is the gateway's address to send to dst from: the global one
// for a global destination while it is usable, else the link-local one
// (RFC 6724 prefers the matching scope).
func (v *v6) srcFor(dst netip.Addr) netip.Addr {
	if dst.IsLinkLocalUnicast() || dst.IsMulticast() || !v.usable(stGlobal) {
		return v.ll
	}
	return v.global
}

// icmp6Off is where an ICMPv6 message starts in a frame the gateway
// builds.
const icmp6Off = pkt.EthernetLen + pkt.IPv6Len

// writeICMPv6 frames the ICMPv6 message of n bytes already written at
// b[icmp6Off:]: Ethernet and IPv6 headers, the checksum, zeroed padding.
// It returns the frame's length.
func writeICMPv6(b []byte, smac, dmac pkt.MAC, src, dst netip.Addr, hop uint8, n int) int {
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: dmac, Src: smac, Type: pkt.TypeIPv6})
	ip := pkt.IPv6(b[pkt.EthernetLen:])
	ip.Encode(&pkt.IPv6Fields{PayloadLen: uint16(n), NextHeader: pkt.ProtoICMPv6, HopLimit: hop, Src: src, Dst: dst})
	pkt.ICMPv6(b[icmp6Off : icmp6Off+n]).SetChecksum(ip.PseudoHeaderChecksum(pkt.ProtoICMPv6, uint16(n)))
	end := icmp6Off + n
	clear(b[end:max(end, 60)]) // pooled buffers hold other frames' bytes
	return max(end, 60)
}

// ipv6 handles an IPv6 frame to the gateway's MAC or one of its groups.
func (p *Port) ipv6(eth pkt.Ethernet, now time.Time) {
	v := p.v6
	if v == nil {
		return
	}
	ip := pkt.IPv6(eth.Payload())
	if !ip.Valid() {
		p.drops[DropBadIPv6].Add(1)
		return
	}
	proto, off, ok := ip.UpperLayer()
	if !ok {
		p.drops[DropBadIPv6].Add(1)
		return
	}
	dst := ip.Dst()
	mine := v.own(dst)
	if proto == pkt.ProtoUDP && p.dhcp6(eth, ip, off, mine) {
		return
	}
	switch {
	case mine >= 0 && !v.usable(mine):
		return // tentative or duplicate: not ours to answer yet (RFC 4862 5.4)
	case mine < 0 && !dst.IsMulticast():
		p.route6(eth, ip, now)
		return
	case mine < 0 && !v.wantMAC(pkt.MulticastMAC6(dst)):
		return // another group that shares the MAC
	}
	switch proto {
	case pkt.ProtoICMPv6:
		c := pkt.ICMPv6(ip[off:ip.Len()])
		if !c.Valid() || !c.ChecksumOK(ip.PseudoHeaderChecksum(pkt.ProtoICMPv6, uint16(len(c)))) {
			p.drops[DropBadICMPv6].Add(1)
			return
		}
		p.icmp6(eth, ip, c, mine >= 0, now)
	case pkt.ProtoFragment:
		if mine >= 0 {
			p.drops[DropFragment].Add(1)
		}
	case pkt.ProtoUDP:
		if mine >= 0 && !p.dnsUDP6(eth, ip, pkt.UDP(ip[off:ip.Len()]), now) {
			p.icmp6Error(eth, ip, pkt.ICMPv6DstUnreach, pkt.ICMPv6CodePortUnreach, 0, now)
		}
	case pkt.ProtoTCP:
		if t := pkt.TCP(ip[off:ip.Len()]); mine >= 0 && !p.dnsTCP6(eth, ip, t, now) {
			p.tcpReset6(eth, ip, t)
		}
	case pkt.ProtoNoNext:
	default:
		// An upper layer the gateway does not speak: parameter problem,
		// unrecognized next header, pointing at it (RFC 8200 4).
		if mine >= 0 {
			p.icmp6Error(eth, ip, pkt.ICMPv6ParamProblem, pkt.ICMPv6CodeUnknownNext, uint32(nextHeaderOffset(ip, off)), now)
		}
	}
}

// icmp6 dispatches an ICMPv6 message whose checksum verified; unicast
// says it was addressed to one of the gateway's own addresses.
func (p *Port) icmp6(eth pkt.Ethernet, ip pkt.IPv6, c pkt.ICMPv6, unicast bool, now time.Time) {
	switch c.Type() {
	case pkt.ICMPv6NeighSolicit:
		p.neighSolicit(eth, ip, c, now)
	case pkt.ICMPv6NeighAdvert:
		p.neighAdvert(eth, ip, c, now)
	case pkt.ICMPv6RouterSolicit:
		p.routerSolicit(eth, ip, c, now)
	case pkt.ICMPv6MLDQuery:
		p.mldQuery(ip, c, now)
	case pkt.ICMPv6EchoRequest:
		if unicast && c.Code() == 0 {
			p.v6.neigh.confirm(ip.Src(), eth.Src(), now)
			p.echo6(eth, ip, c)
		}
	}
}

// nextHeaderOffset is where, in ip, the next-header field naming the
// upper layer at off sits: the fixed header's, or the last extension
// header's first byte.
func nextHeaderOffset(ip pkt.IPv6, off int) int {
	if off == pkt.IPv6Len {
		return 6
	}
	it := ip.ExtHeaders()
	last := 6
	for at := pkt.IPv6Len; it.Next(); at += len(it.Data()) {
		last = at
	}
	return last
}
