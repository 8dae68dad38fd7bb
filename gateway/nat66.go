package gateway

import (
	"net/netip"
	"time"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// IPv6 through an uplink with address6: a guest's packet for an address
// no network holds leaves masqueraded to the uplink's address (mode nat,
// NAT66 by package nat) or as it is (mode routed: the outside routes the
// network's /64 to the uplink's address); what comes back for the
// uplink's address is translated back, what comes for a routed network's
// /64 is delivered as it is. IPv6 is never fragmented on the way: a
// packet larger than the next link's MTU is dropped and answered with
// Packet Too Big (RFC 8200 5), rate limited like every ICMPv6 error.

// routesOut6 reports whether a guest's packet for dst leaves through the
// uplink: the network routes out, the uplink has an IPv6 address, and dst
// is global and in no network the uplink serves.
func (p *Port) routesOut6(dst netip.Addr) bool {
	u := p.cfg.Uplink
	return u != nil && u.v6 != nil && p.cfg.Mode.RoutesOut() && dst.IsGlobalUnicast() && u.routes.Load().lookup6(dst) == nil
}

// routesWhole6 is routesWhole for IPv6 (nat66.go: TSO6 across NAT66): a
// TCP or UDP packet, its upper layer right after the fixed header, that
// route6 would send out through the uplink.
func (p *Port) routesWhole6(ip pkt.IPv6) bool {
	if p.v6 == nil || !ip.Valid() || ip.NextHeader() != pkt.ProtoTCP && ip.NextHeader() != pkt.ProtoUDP {
		return false
	}
	dst := ip.Dst()
	return !p.v6.inPrefix(dst) && p.routesOut6(dst) && (p.cfg.Router6 == nil || p.cfg.Router6.lookup(dst) == nil)
}

// route6Out sends a guest's packet (its source checked by route6) out
// through the uplink: hop limit and MTU checked here, the rest (NAT66,
// hairpin, next hop) is the uplink's.
func (p *Port) route6Out(eth pkt.Ethernet, ip pkt.IPv6, now time.Time) {
	u := p.cfg.Uplink
	p.v6.neigh.confirm(ip.Src(), eth.Src(), now)
	if ip.HopLimit() <= 1 {
		p.icmp6Error(eth, ip, pkt.ICMPv6TimeExceeded, pkt.ICMPv6CodeHopLimit, 0, now)
		p.drops[DropTTLExceeded].Add(1)
		return
	}
	if mtu := u.v6.linkMTU(); p.wireLen6(ip) > mtu {
		p.icmp6Error(eth, ip, pkt.ICMPv6PacketTooBig, 0, uint32(mtu), now)
		p.drops[DropTooBig].Add(1)
		return
	}
	f := p.routed6(eth, ip)
	f.VNet = p.vnet // a super-frame leaves whole (offload.go)
	u.output6(f, p.cfg.Mode == config.ModeNAT, now)
}

// wireLen6 is the size on the wire of the largest packet ip stands for:
// itself, or a segment of the super-frame being routed (its headers and
// gso_size bytes), as Linux checks a GSO packet against the MTU. The
// headers are measured, not taken from the guest's hdr_len: a super-frame
// has its TCP or UDP header right after the fixed one (routesWhole6), and
// its length was checked (vswitch.Segmentable).
func (p *Port) wireLen6(ip pkt.IPv6) int {
	if !p.vnet.IsGSO() {
		return ip.Len()
	}
	thl := pkt.UDPLen
	if ip.NextHeader() == pkt.ProtoTCP {
		thl = pkt.TCP(ip[pkt.IPv6Len:]).DataOffset()
	}
	return min(ip.Len(), pkt.IPv6Len+thl+int(p.vnet.GSOSize))
}

// routed6 is a frame holding the packet ip (in eth) with its hop limit
// decremented (routed: the frame it came in, or a copy).
func (p *Port) routed6(eth pkt.Ethernet, ip pkt.IPv6) *vswitch.Frame {
	f := p.routed(eth, pkt.EthernetLen+ip.Len())
	pkt.IPv6(f.Bytes()[pkt.EthernetLen:]).DecHopLimit()
	return f
}

// output6 takes a guest's IPv6 packet in f (owned from here on, hop limit
// already decremented) out: masqueraded when translate is set, straight
// back in when that makes it a port forward's (hairpin), else to the next
// hop.
func (u *Uplink) output6(f *vswitch.Frame, translate bool, now time.Time) {
	src := u.v6.source()
	if !src.IsValid() { // DAD still running, the address is taken, or none learned yet
		u.drops[UplinkNoAddress].Add(1)
		f.Release()
		return
	}
	u.outward(f, src, translate, now)
}

// send6 puts an IPv6 packet (in f, after a 14-byte Ethernet header) out
// to its next hop on the outside link.
func (u *Uplink) send6(f *vswitch.Frame, now time.Time) {
	v := u.v6
	hop := v.nextHop(pkt.IPv6(f.Bytes()[pkt.EthernetLen:]).Dst())
	if !hop.IsValid() {
		u.drops[UplinkNoRoute].Add(1) // no gateway6 and no router advertised yet
		f.Release()
		return
	}
	u.sendVia(f, hop, pkt.TypeIPv6, now)
}

// input6 handles an IPv6 frame from the outside; true means f was handed
// on to a network.
func (u *Uplink) input6(f *vswitch.Frame, eth pkt.Ethernet, now time.Time) bool {
	v := u.v6
	if v == nil {
		return false
	}
	ip := pkt.IPv6(eth.Payload())
	if !ip.Valid() {
		u.drops[UplinkMalformed].Add(1)
		return false
	}
	proto, off, ok := ip.UpperLayer()
	if !ok {
		u.drops[UplinkMalformed].Add(1)
		return false
	}
	if u.control6(eth, ip, proto, off, now) {
		return false
	}
	dst, src := ip.Dst(), ip.Src()
	if dst.IsMulticast() || dst == v.ll || eth.Dst() != u.mac {
		return false // nothing else is for the uplink's groups or link-local address
	}
	// The uplink's own address as source is a hairpin's (output6).
	if !src.IsGlobalUnicast() || u.routes.Load().lookup6(src) != nil {
		u.drops[UplinkBadSource].Add(1) // a guest would take it for a neighbour's
		return false
	}
	if ip.Len() > DefaultMTU && !f.VNet.IsGSO() {
		// Larger than a network's link (RFC 8200 5: never fragmented on
		// the way): the sender learns the MTU.
		u.tooBig6(eth, ip, now)
		u.drops[UplinkTooBig].Add(1)
		return false
	}
	toUs := v.own(dst) == stGlobal
	if toUs && !v.usable(stGlobal) {
		u.drops[UplinkNoAddress].Add(1)
		return false
	}
	return u.inward(f, ip[:ip.Len()], dst, toUs, now)
}

// tooBig6 answers an outside packet too large for the networks with
// Packet Too Big from the uplink's address, rate limited.
func (u *Uplink) tooBig6(eth pkt.Ethernet, ip pkt.IPv6, now time.Time) {
	src := u.v6.source()
	if !src.IsValid() || !u.icmpTok.allow(now) {
		return
	}
	quote := ip[:min(ip.Len(), icmp6MaxQuote, vswitch.SmallDataLen-icmp6Off-pkt.ICMPv6Len)]
	n := pkt.ICMPv6Len + len(quote)
	f, b := newFrame()
	pkt.ICMPv6(b[icmp6Off:]).EncodeHeader(pkt.ICMPv6PacketTooBig, 0, DefaultMTU)
	copy(b[icmp6Off+pkt.ICMPv6Len:], quote)
	u.enqueue(f, writeICMPv6(b, u.mac, eth.Src(), src, ip.Src(), 64, n))
}

// lookup6 returns the attached network whose /64 holds a, or nil.
func (t *routeTable) lookup6(a netip.Addr) *Port {
	for _, p := range t.routes {
		if p.v6 != nil && p.v6.inPrefix(a) {
			return p
		}
	}
	return nil
}
