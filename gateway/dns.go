package gateway

import (
	"encoding/binary"
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
	s := p.cfg.DNS
	t := pkt.TCP(ip.Payload())
	if s == nil || !s.TCP() || !t.Valid() || t.DstPort() != dnsPort {
		return false // no TCP service: the port resets, as before
	}
	if t.ComputeChecksum(ip.PseudoHeaderChecksum(pkt.ProtoTCP, uint16(len(t)))) != t.Checksum() {
		s.Dropped(dns.DropBadChecksum)
		return true
	}
	s.Segment(eth.Src(), netip.AddrPortFrom(ip.Src(), t.SrcPort()), t, now)
	return true
}

// DeliverDNSTCP frames a TCP segment from the gateway's port 53 and
// queues it to the guest, under the same rules as DeliverDNS.
func (p *Port) DeliverDNSTCP(s dns.TCPSegment) {
	thl := pkt.TCPMinLen
	if s.MSS != 0 {
		thl += 4
	}
	hdr := pkt.EthernetLen + pkt.IPv4MinLen + thl
	n := hdr + len(s.Payload)
	if n > vswitch.SmallDataLen {
		return // the server's segments fit an MSS of 1460
	}
	f, b := newFrame()
	copy(b[hdr:], s.Payload)
	dst := s.Dst.Addr()
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: s.DstMAC, Src: p.mac, Type: pkt.TypeIPv4})
	ip := pkt.IPv4(b[pkt.EthernetLen:])
	ip.Encode(&pkt.IPv4Fields{TotalLen: uint16(n - pkt.EthernetLen), ID: uint16(p.ipID.Add(1)),
		Flags: pkt.IPv4FlagDF, TTL: 64, Protocol: pkt.ProtoTCP, Src: p.ip, Dst: dst})
	t := pkt.TCP(b[pkt.EthernetLen+pkt.IPv4MinLen : n])
	t.Encode(&pkt.TCPFields{SrcPort: dnsPort, DstPort: s.Dst.Port(), Seq: s.Seq, Ack: s.Ack, Flags: s.Flags, Window: s.Window})
	if s.MSS != 0 {
		t[12] = byte(thl / 4 << 4)
		t[20], t[21] = 2, 4 // the MSS option (RFC 793)
		binary.BigEndian.PutUint16(t[22:], s.MSS)
	}
	t.SetChecksum(ip.PseudoHeaderChecksum(pkt.ProtoTCP, uint16(len(t))))
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
