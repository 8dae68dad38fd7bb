package gateway

import (
	"net/netip"
	"time"

	"github.com/vswitch/vswitch/dns"
	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// dnsUDP6 is dnsUDP for a query over IPv6 to the gateway's address, the
// one its router advertisements name (RDNSS); it reports whether it took
// the datagram. The server copies the query and answers through
// DeliverDNS, which frames IPv6 for an IPv6 client.
func (p *Port) dnsUDP6(eth pkt.Ethernet, ip pkt.IPv6, u pkt.UDP, now time.Time) bool {
	s := p.cfg.DNS
	if s == nil || !u.Valid() || u.DstPort() != dnsPort {
		return false
	}
	// Over IPv6 the checksum is mandatory (RFC 8200 8.1): 0 is wrong too.
	if u.Checksum() == 0 || u.ComputeChecksum(ip.PseudoHeaderChecksum(pkt.ProtoUDP, uint16(u.Length()))) != u.Checksum() {
		s.Dropped(dns.DropBadChecksum)
		return true
	}
	s.Query(eth.Src(), netip.AddrPortFrom(ip.Src(), u.SrcPort()), u.Payload(), now)
	return true
}

// dnsTCP6 is dnsTCP for a segment over IPv6 (t, the upper layer past any
// extension headers) to the gateway's global address, the one RDNSS names;
// it reports whether it took the segment. The same responder, limits and
// drop reasons serve both families; its segments come back through
// DeliverDNSTCP. The link-local address has no DNS: a SYN to it is reset.
func (p *Port) dnsTCP6(eth pkt.Ethernet, ip pkt.IPv6, t pkt.TCP, now time.Time) bool {
	if ip.Dst() != p.v6.global {
		return false
	}
	return p.dnsSegment(eth.Src(), ip.Src(), t, ip.PseudoHeaderChecksum(pkt.ProtoTCP, uint16(len(t))), now)
}

// deliverDNS6 frames a DNS answer to an IPv6 client (DeliverDNS's IPv6
// half), from the gateway's global address.
func (p *Port) deliverDNS6(a dns.Answer) {
	v := p.v6
	if v == nil {
		return
	}
	udpOff := pkt.EthernetLen + pkt.IPv6Len
	n := udpOff + pkt.UDPLen + len(a.Msg)
	if n > vswitch.SmallDataLen {
		return
	}
	f, b := newFrame()
	copy(b[udpOff+pkt.UDPLen:], a.Msg)
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: a.DstMAC, Src: p.mac, Type: pkt.TypeIPv6})
	ip := pkt.IPv6(b[pkt.EthernetLen:])
	l := uint16(pkt.UDPLen + len(a.Msg))
	ip.Encode(&pkt.IPv6Fields{PayloadLen: l, NextHeader: pkt.ProtoUDP, HopLimit: 64, Src: v.global, Dst: a.Dst.Addr()})
	u := pkt.UDP(b[udpOff:n])
	u[0], u[1], u[2], u[3] = dnsPort>>8, dnsPort&0xff, byte(a.Dst.Port()>>8), byte(a.Dst.Port())
	u[4], u[5] = byte(l>>8), byte(l)
	u.SetChecksum(ip.PseudoHeaderChecksum(pkt.ProtoUDP, l))
	clear(b[n:max(n, 60)])
	p.send(f, max(n, 60))
}
