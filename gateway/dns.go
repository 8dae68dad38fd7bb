package gateway

import (
	"net/netip"
	"time"

	"github.com/vswitch/vswitch/dns"
	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// dnsPort is where the gateway answers DNS.
const dnsPort = 53

// dnsUDP hands a UDP query to the gateway's address on port 53 to the
// network's DNS server and reports whether it was one. The server copies
// the query and answers from its own goroutines (DeliverDNS): the writer
// never waits for an upstream.
func (p *Port) dnsUDP(eth pkt.Ethernet, ip pkt.IPv4, now time.Time) bool {
	s := p.cfg.DNS
	u := pkt.UDP(ip.Payload())
	if s == nil || !u.Valid() || u.DstPort() != dnsPort {
		return false
	}
	if u.Checksum() != 0 && u.ComputeChecksum(ip.PseudoHeaderChecksum(pkt.ProtoUDP, uint16(u.Length()))) != u.Checksum() {
		s.Dropped(dns.DropBadChecksum)
		return true
	}
	s.Query(eth.Src(), netip.AddrPortFrom(ip.Src(), u.SrcPort()), u.Payload(), now)
	return true
}

// dnsTCP hands a TCP segment to the gateway's port 53 to the DNS server,
// as dnsUDP does a query.
func (p *Port) dnsTCP(eth pkt.Ethernet, ip pkt.IPv4, now time.Time) bool {
	t := pkt.TCP(ip.Payload())
	return p.dnsSegment(eth.Src(), ip.Src(), t, ip.PseudoHeaderChecksum(pkt.ProtoTCP, uint16(len(t))), now)
}

// dnsSegment is dnsTCP and dnsTCP6 past the IP header: t is the segment
// from src, pseudo its family's pseudo-header sum. It reports whether it
// took the segment (the DNS server serves TCP and t is for port 53).
func (p *Port) dnsSegment(mac pkt.MAC, src netip.Addr, t pkt.TCP, pseudo uint16, now time.Time) bool {
	s := p.cfg.DNS
	if s == nil || !s.TCP() || !t.Valid() || t.DstPort() != dnsPort {
		return false // no TCP service: the port resets, as before
	}
	if t.ComputeChecksum(pseudo) != t.Checksum() {
		s.Dropped(dns.DropBadChecksum)
		return true
	}
	s.Segment(mac, netip.AddrPortFrom(src, t.SrcPort()), t, now)
	return true
}

// DeliverDNSTCP frames a TCP segment from the gateway's port 53 and
// queues it to the guest, under the same rules as DeliverDNS: over IPv4
// from the gateway's address, over IPv6 from its global one (the only one
// dnsTCP6 takes segments for).
func (p *Port) DeliverDNSTCP(s dns.TCPSegment) {
	dst := s.Dst.Addr()
	tcpOff := pkt.EthernetLen + pkt.IPv4MinLen
	if dst.Is6() {
		if p.v6 == nil {
			return
		}
		tcpOff = pkt.EthernetLen + pkt.IPv6Len
	}
	tf := pkt.TCPFields{SrcPort: dnsPort, DstPort: s.Dst.Port(), Seq: s.Seq, Ack: s.Ack, Flags: s.Flags, Window: s.Window, MSS: s.MSS}
	thl := tf.EncodedLen()
	n := tcpOff + thl + len(s.Payload)
	if n > vswitch.SmallDataLen {
		return // the server's segments fit its MSS
	}
	f, b := newFrame()
	copy(b[tcpOff+thl:], s.Payload)
	t := pkt.TCP(b[tcpOff:n])
	t.Encode(&tf)
	var pseudo uint16
	if dst.Is6() {
		pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: s.DstMAC, Src: p.mac, Type: pkt.TypeIPv6})
		ip := pkt.IPv6(b[pkt.EthernetLen:])
		ip.Encode(&pkt.IPv6Fields{PayloadLen: uint16(len(t)), NextHeader: pkt.ProtoTCP, HopLimit: 64, Src: p.v6.global, Dst: dst})
		pseudo = ip.PseudoHeaderChecksum(pkt.ProtoTCP, uint16(len(t)))
	} else {
		pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: s.DstMAC, Src: p.mac, Type: pkt.TypeIPv4})
		ip := pkt.IPv4(b[pkt.EthernetLen:])
		ip.Encode(&pkt.IPv4Fields{TotalLen: uint16(n - pkt.EthernetLen), ID: uint16(p.ipID.Add(1)),
			Flags: pkt.IPv4FlagDF, TTL: 64, Protocol: pkt.ProtoTCP, Src: p.ip, Dst: dst})
		pseudo = ip.PseudoHeaderChecksum(pkt.ProtoTCP, uint16(len(t)))
	}
	t.SetChecksum(pseudo)
	clear(b[n:max(n, 60)])
	p.send(f, max(n, 60))
}

// DeliverDNS frames a DNS answer from the gateway's port 53 and queues it
// to the guest. The DNS server's goroutines call it (dns.Config.Deliver),
// so it copies a.Msg and touches nothing but the multi-producer queue.
func (p *Port) DeliverDNS(a dns.Answer) {
	if a.Dst.Addr().Is6() {
		p.deliverDNS6(a)
		return
	}
	hdr := pkt.EthernetLen + pkt.IPv4MinLen + pkt.UDPLen
	n := hdr + len(a.Msg)
	if n > vswitch.SmallDataLen {
		return // the server sends at most 1232 bytes over UDP
	}
	f, b := newFrame()
	copy(b[hdr:], a.Msg)
	dst := a.Dst.Addr()
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: a.DstMAC, Src: p.mac, Type: pkt.TypeIPv4})
	pkt.EncodeUDP(b[pkt.EthernetLen+pkt.IPv4MinLen:], p.ip, dst, dnsPort, a.Dst.Port(), len(a.Msg))
	pkt.IPv4(b[pkt.EthernetLen:]).Encode(&pkt.IPv4Fields{TotalLen: uint16(n - pkt.EthernetLen),
		ID: uint16(p.ipID.Add(1)), TTL: 64, Protocol: pkt.ProtoUDP, Src: p.ip, Dst: dst})
	clear(b[n:max(n, 60)]) // zero padding: pooled buffers hold other frames' bytes
	p.send(f, max(n, 60))
}
