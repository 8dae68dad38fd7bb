package gateway

import (
	"github.com/vswitch/vswitch/dhcp6"
	"github.com/vswitch/vswitch/internal/pkt"
)

// DHCPv6 (package dhcp6 is the server): clients send to
// All_DHCP_Relay_Agents_and_Servers (ff02::1:2) from their link-local
// address; the gateway answers from its own link-local address, to the
// client's address and port 546. A reply that needs its lease on disk
// leaves later, from the store's goroutine, through DeliverDHCP6.

// allDHCPMAC is ff02::1:2's multicast MAC.
var allDHCPMAC = pkt.MulticastMAC6(pkt.IPv6AllDHCP)

// wantDHCP6 reports whether a frame to the group MAC dst is DHCPv6 for
// the gateway's server.
func (p *Port) wantDHCP6(dst pkt.MAC) bool { return p.cfg.DHCP6 != nil && dst == allDHCPMAC }

// dhcp6 takes a UDP datagram to port 547 (at off in ip) when the network
// has a DHCPv6 server and it is sent to ff02::1:2 or to one of the
// gateway's usable addresses (mine, as v6.own says); it reports whether it
// took the datagram, answered or dropped.
func (p *Port) dhcp6(eth pkt.Ethernet, ip pkt.IPv6, off, mine int) bool {
	srv, v := p.cfg.DHCP6, p.v6
	if srv == nil {
		return false
	}
	u := pkt.UDP(ip[off:ip.Len()])
	if !u.Valid() || u.DstPort() != pkt.DHCPv6ServerPort {
		return false
	}
	dst := ip.Dst()
	if dst != pkt.IPv6AllDHCP && (mine < 0 || !v.usable(mine)) {
		return false
	}
	if u.Checksum() != u.ComputeChecksum(ip.PseudoHeaderChecksum(pkt.ProtoUDP, uint16(u.Length()))) {
		p.drops[DropBadIPv6].Add(1) // IPv6 UDP always has a checksum (RFC 8200 8.1)
		return true
	}
	if !v.usable(stLL) {
		return true // no address to answer from yet: the client retransmits
	}
	if !v.guestAddr(ip.Src()) {
		p.drops[DropBadSource].Add(1) // no reply to ::, a group, or another prefix
		return true
	}
	if p.cfg.Known != nil && !p.cfg.Known(p.cfg.VLAN, eth.Src()) {
		p.drops[DropUnlearnedSrc].Add(1)
		return true
	}
	from := dhcp6.From{MAC: eth.Src(), Src: ip.Src(), Unicast: dst != pkt.IPv6AllDHCP}
	rep, ok := srv.Handle(pkt.DHCPv6(u.Payload()), from, p.dhcpBuf[:dhcp6MaxMsg])
	if ok {
		p.DeliverDHCP6(rep)
	}
	return true
}

// dhcp6Off is where a DHCPv6 message starts in a frame the gateway
// builds.
const dhcp6Off = pkt.EthernetLen + pkt.IPv6Len + pkt.UDPLen

// DeliverDHCP6 frames a DHCPv6 reply and queues it to the client. The
// server's store goroutine calls it (through dhcp6.Config.Deliver), so it
// copies rep.Msg and touches only the multi-producer reply queue.
func (p *Port) DeliverDHCP6(rep dhcp6.Reply) {
	v := p.v6
	if v == nil || len(rep.Msg) > dhcp6MaxMsg {
		return
	}
	f, b := newFrame()
	n := len(rep.Msg)
	copy(b[dhcp6Off:], rep.Msg)
	src := v.srcFor(rep.Dst)
	pkt.EncodeUDP(b[pkt.EthernetLen+pkt.IPv6Len:], src, rep.Dst, pkt.DHCPv6ServerPort, pkt.DHCPv6ClientPort, n)
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: rep.DstMAC, Src: p.mac, Type: pkt.TypeIPv6})
	pkt.IPv6(b[pkt.EthernetLen:]).Encode(&pkt.IPv6Fields{PayloadLen: uint16(pkt.UDPLen + n), NextHeader: pkt.ProtoUDP, HopLimit: 64, Src: src, Dst: rep.Dst})
	end := dhcp6Off + n
	clear(b[end:max(end, 60)])
	p.send(f, max(end, 60))
}

// dhcp6MaxMsg is the largest DHCPv6 message a 1514-byte frame
// carries.
const dhcp6MaxMsg = 1500 - pkt.IPv6Len - pkt.UDPLen

// raFlags are the router advertisement's flags and its prefix's, as
// dnsmasq sets them for libvirt: a DHCPv6 server with addresses to hand
// out sets M and O and takes the prefix's A flag off (addresses come
// from DHCPv6 only, so a guest has the one the lease says); a stateless
// one sets O (SLAAC for the address, DHCPv6 for DNS); none leaves both
// off.
func (p *Port) raFlags() (ra, prefix uint8) {
	switch {
	case p.cfg.DHCP6 == nil:
		return 0, pkt.NDPPrefixOnLink | pkt.NDPPrefixAuto
	case p.cfg.DHCP6.Stateful():
		return pkt.NDPRAManaged | pkt.NDPRAOther, pkt.NDPPrefixOnLink
	}
	return pkt.NDPRAOther, pkt.NDPPrefixOnLink | pkt.NDPPrefixAuto
}
