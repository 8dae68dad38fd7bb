package vswitch

import (
	"math"

	"github.com/vswitch/vswitch/internal/pkt"
)

// IPv6 source guard. A port guarded by ips with an IPv6 address in them,
// or by dhcp, may send IPv6 only from an address that is its own:
//
//   - a listed address (static guard);
//   - with guard: dhcp, an address in the /64 of one of the gateway's IPv6
//     addresses on the frame's VLAN whose interface identifier is the
//     modified EUI-64 of the frame's (bound) source MAC: what kernel SLAAC
//     makes. Privacy (RFC 4941) and stable-privacy (RFC 7217) addresses
//     are refused; FCFS SAVI (RFC 6620) would take them but holds state per
//     address a guest chooses, and a deterministic rule needs none;
//   - its link-local address fe80::/64 with the EUI-64 of the frame's source
//     MAC (or a listed link-local address): any other link-local source
//     could be a neighbour's, and the gateway answers DHCPv6 and RS there;
//   - :: only for duplicate address detection (an NS for an address the
//     port could use), router solicitations and MLD reports.
//
// With guard: dhcp, a MAC no lease binds yet (and none binds on another
// port) may send from its link-local address only NDP, RS, MLD reports
// and DHCPv6 client messages, so an IPv6-only guest gets its lease.
//
// Other sources are spoofed_ip. Neighbour discovery is checked too
// (spoofed_nd): an NA's target must be an address of the port, a DAD
// probe's target likewise, and a source or target link-layer address
// option must be the frame's source MAC, so no guest poisons a
// neighbour's cache for an address or a MAC not its own. NDP is never
// fragmented (RFC 6980): a first fragment holding NS, NA or RS, or a
// chain that goes on into the fragment or cannot be walked, is dropped
// as well. Reads the frame in place and the guard's set; no allocation.

// guardCheck6 applies g to f, an IPv6 frame from src; macOK says whether
// src may send at now.
func (s *Switch) guardCheck6(p *swPort, g *guard, set *guardSet, f *Frame, src pkt.MAC, macOK bool, now int64) DropReason {
	ip := pkt.IPv6(pkt.Ethernet(f.Bytes()).Payload())
	if !ip.Valid() {
		return DropSpoofedIP // no source to check
	}
	nd, r := ndpMessage(ip)
	if r != NumDropReasons {
		return r
	}
	sip := [16]byte(ip[8:24])
	if sip == ([16]byte{}) {
		if len(nd) == 0 || !fromUnspecified(nd[0]) {
			return DropSpoofedIP
		}
		if !macOK && !(g.dhcp && !s.boundElsewhere(p, src, now)) {
			return DropSpoofedMAC
		}
		if nd[0] == pkt.ICMPv6NeighSolicit && !s.addr6OK(g.dhcp, set, f.vid, src, [16]byte(nd[8:24]), now) {
			return DropSpoofedND // a DAD probe for another's address makes its owner give it up
		}
		return checkLLA(nd, src)
	}
	if !macOK && !(g.dhcp && isLinkLocalOf(sip, src) && bootstrap6(ip, nd) && !s.boundElsewhere(p, src, now)) {
		return DropSpoofedMAC
	}
	if !s.addr6OK(g.dhcp, set, f.vid, src, sip, now) {
		return DropSpoofedIP
	}
	if len(nd) == 0 {
		return NumDropReasons
	}
	if nd[0] == pkt.ICMPv6NeighAdvert && !s.addr6OK(g.dhcp, set, f.vid, src, [16]byte(nd[8:24]), now) {
		return DropSpoofedND
	}
	return checkLLA(nd, src)
}

// ndpMessage returns the NS, NA or RS in ip (nil for anything else), or
// spoofed_nd for one the guard cannot read or that is fragmented. An MLD
// report is returned too: it may come from :: and from an unbound MAC.
func ndpMessage(ip pkt.IPv6) ([]byte, DropReason) {
	it := ip.ExtHeaders()
	var last []byte
	for it.Next() {
		last = it.Data()
	}
	if it.Malformed() {
		return nil, DropSpoofedND
	}
	proto, off := it.Upper()
	end := ip.Len()
	if proto == pkt.ProtoFragment {
		fh := pkt.IPv6FragmentHeader(last)
		if fh.Offset() != 0 {
			return nil, NumDropReasons
		}
		next := fh.NextHeader()
		if pkt.IsIPv6ExtHeader(next) || next == pkt.ProtoICMPv6 && off < end && ndpMinLen(ip[off]) > 0 {
			return nil, DropSpoofedND
		}
		return nil, NumDropReasons
	}
	if proto != pkt.ProtoICMPv6 || off >= end {
		return nil, NumDropReasons
	}
	n := ndpMinLen(ip[off])
	if n == 0 {
		return nil, NumDropReasons
	}
	if end-off < n {
		return nil, DropSpoofedND
	}
	return ip[off:end], NumDropReasons
}

// ndpMinLen is the fixed length of a message the guard reads, 0 for the
// rest.
func ndpMinLen(typ uint8) int {
	switch typ {
	case pkt.ICMPv6NeighSolicit, pkt.ICMPv6NeighAdvert, pkt.ICMPv6RouterSolicit:
		return pkt.NDPOptionsOffset(typ)
	case pkt.ICMPv6MLDReport, pkt.ICMPv6MLDv2Report:
		return 8
	}
	return 0
}

// bootstrap6 reports whether ip, from a link-local address, is what an
// IPv6 host sends before a lease binds its MAC (guard: dhcp): a DHCPv6
// client's message (UDP 546 to 547), ND and RS, MLD reports. As DHCP
// from 0.0.0.0 is for IPv4, it lets an IPv6-only guest get its lease.
func bootstrap6(ip pkt.IPv6, nd []byte) bool {
	if len(nd) > 0 {
		return true
	}
	if ip.NextHeader() != pkt.ProtoUDP {
		return false
	}
	u := pkt.UDP(ip.Rest())
	return u.Valid() && u.SrcPort() == pkt.DHCPv6ClientPort && u.DstPort() == pkt.DHCPv6ServerPort
}

// isLinkLocalOf reports whether a is fe80::/64 with the EUI-64 of mac.
func isLinkLocalOf(a [16]byte, mac pkt.MAC) bool {
	return a[0] == 0xfe && a[1] == 0x80 && a[2]|a[3]|a[4]|a[5]|a[6]|a[7] == 0 && iidIsEUI64(a, mac)
}

// fromUnspecified: the messages a host sends before it has an address.
func fromUnspecified(typ uint8) bool {
	switch typ {
	case pkt.ICMPv6NeighSolicit, pkt.ICMPv6RouterSolicit, pkt.ICMPv6MLDReport, pkt.ICMPv6MLDv2Report:
		return true
	}
	return false
}

// checkLLA: a link-layer address option of an NDP message must be src.
func checkLLA(nd []byte, src pkt.MAC) DropReason {
	if nd[0] != pkt.ICMPv6NeighSolicit && nd[0] != pkt.ICMPv6NeighAdvert && nd[0] != pkt.ICMPv6RouterSolicit {
		return NumDropReasons
	}
	it := pkt.ICMPv6(nd).NDPOptions()
	for it.Next() {
		if t := it.Type(); t == pkt.NDPOptSourceLLA || t == pkt.NDPOptTargetLLA {
			if m, ok := pkt.NDPLinkLayerAddr(it.Data()); !ok || m != src {
				return DropSpoofedND
			}
		}
	}
	if it.Malformed() {
		return DropSpoofedND
	}
	return NumDropReasons
}

// addr6OK reports whether mac may use a on the port at now.
func (s *Switch) addr6OK(dhcp bool, set *guardSet, vid uint16, mac pkt.MAC, a [16]byte, now int64) bool {
	if isLinkLocalOf(a, mac) {
		return true
	}
	if !dhcp {
		for _, b := range set.ips6 {
			if b == a {
				return true
			}
		}
		return false
	}
	for i := range set.bound6 {
		if b := &set.bound6[i]; b.ip == a && b.mac == mac && b.expiry > now {
			return true
		}
	}
	return iidIsEUI64(a, mac) && s.inLocalPrefix(vid, a)
}

// iidIsEUI64 reports whether the low 64 bits of a are the modified EUI-64
// of mac (RFC 4291 appendix A).
func iidIsEUI64(a [16]byte, mac pkt.MAC) bool {
	return a[8] == mac[0]^0x02 && a[9] == mac[1] && a[10] == mac[2] && a[11] == 0xff &&
		a[12] == 0xfe && a[13] == mac[3] && a[14] == mac[4] && a[15] == mac[5]
}

// inLocalPrefix reports whether a is in the /64 of a global (not
// link-local) gateway address on vid: the prefix the gateway advertises.
func (s *Switch) inLocalPrefix(vid uint16, a [16]byte) bool {
	l := s.local6.Load()
	if l == nil {
		return false
	}
	for _, e := range *l {
		if e.vid != vid || e.addr.IsLinkLocalUnicast() {
			continue
		}
		if g := e.addr.As16(); [8]byte(g[:8]) == [8]byte(a[:8]) {
			return true
		}
	}
	return false
}

// binding6 is one DHCPv6 lease of a DHCP-guarded port.
type binding6 struct {
	mac    pkt.MAC
	ip     [16]byte
	expiry int64 // unix seconds
}

// snoopDHCP6 binds the addresses of a DHCPv6 Reply the gateway sends to
// the DHCP-guarded port where the FDB has the frame's destination MAC: the
// gateway answers a client at its link-local address, so that MAC is the
// client's. Each IA address with a valid lifetime binds until it ends; a
// lifetime of 0 (the reply to a Release or Decline) unbinds it.
func (s *Switch) snoopDHCP6(f *Frame, now int64) {
	eth := pkt.Ethernet(f.Bytes())
	dst := eth.Dst()
	if dst.IsMulticast() {
		return
	}
	ip := pkt.IPv6(eth.Payload())
	if !ip.Valid() || ip.NextHeader() != pkt.ProtoUDP || ip.Len() > len(ip) {
		return
	}
	u := pkt.UDP(ip.Rest())
	if !u.Valid() || u.SrcPort() != pkt.DHCPv6ServerPort || u.DstPort() != pkt.DHCPv6ClientPort {
		return
	}
	m := pkt.DHCPv6(u.Payload())
	if !m.Valid() || m.Type() != pkt.DHCPv6Reply {
		return
	}
	q := s.fdb.lookup(f.vid, dst)
	if q == nil || q.guard == nil || !q.guard.dhcp {
		return
	}
	it := m.Options().Iter()
	for it.Next() {
		ia := pkt.DHCPv6IANA(it.Data())
		if it.Code() != pkt.DHCPv6OptIANA || !ia.Valid() {
			continue
		}
		sub := ia.Options().Iter()
		for sub.Next() {
			a := pkt.DHCPv6IAAddr(sub.Data())
			if sub.Code() != pkt.DHCPv6OptIAAddr || !a.Valid() {
				continue
			}
			addr := a.Addr()
			if !addr.IsGlobalUnicast() || addr.Is4In6() {
				continue // no lease is link-local, multicast or ::
			}
			expiry := now + int64(a.ValidLifetime())
			if a.ValidLifetime() == math.MaxUint32 {
				expiry = math.MaxInt64 // infinite
			}
			s.bind6(q, dst, addr.As16(), expiry, now)
		}
	}
}

// bind6 binds a to mac on q until expiry (at or before now: unbinds it
// there); the address leaves every other DHCP-guarded port, as an IPv4
// lease does.
func (s *Switch) bind6(q *swPort, mac pkt.MAC, a [16]byte, expiry, now int64) {
	for _, other := range s.topo.Load().ports {
		if other != q && other.guard != nil && other.guard.dhcp {
			other.guard.update6(binding6{ip: a}, false, now)
		}
	}
	q.guard.update6(binding6{mac: mac, ip: a, expiry: expiry}, expiry > now, now)
}

// update6 drops expired DHCPv6 bindings and those of b.ip, then adds b if
// add; when the port holds MaxGuardBindings, the one that expires first
// makes room. The IPv4 bindings carry over.
func (g *guard) update6(b binding6, add bool, now int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.set.Load()
	n := &guardSet{bound: old.bound, bound6: make([]binding6, 0, len(old.bound6)+1)}
	for _, o := range old.bound6 {
		if o.expiry > now && o.ip != b.ip {
			n.bound6 = append(n.bound6, o)
		}
	}
	if !add {
		if len(n.bound6) != len(old.bound6) {
			g.set.Store(n)
		}
		return
	}
	n.bound6 = append(makeRoom(n.bound6, func(b binding6) int64 { return b.expiry }), b)
	g.set.Store(n)
}
