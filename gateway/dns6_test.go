package gateway

import (
	"encoding/binary"
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/vswitch/vswitch/dns"
	"github.com/vswitch/vswitch/internal/pkt"
)

// udp6 is a UDP datagram with its checksum over the IPv6 pseudo-header.
func udp6(src, dst netip.Addr, sport, dport uint16, data []byte) []byte {
	u := make([]byte, pkt.UDPLen+len(data))
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[8:], data)
	s, d := src.As16(), dst.As16()
	pkt.UDP(u).SetChecksum(pkt.PseudoHeaderChecksum(pkt.ProtoUDP, s[:], d[:], uint16(len(u))))
	return u
}

// TestGatewayDNS6: a query to the gateway's IPv6 address (the RDNSS of
// its advertisements) is answered over IPv6; a bad or missing checksum is
// dropped as over IPv4; a closed port gets port unreachable.
func TestGatewayDNS6(t *testing.T) {
	var p *Port
	s := dns.New(dns.Config{Network: "t", Gateway: gwAddr, Gateway6: gw6, Domain: "lab", ResolvConf: t.TempDir() + "/none", RateLimit: 1 << 30,
		Hosts:   []dns.Host{{Name: "db", IP: netip.MustParseAddr("10.30.0.30")}},
		Deliver: func(a dns.Answer) { p.DeliverDNS(a) }})
	p = newPort6("t", gw6, nil)
	p.cfg.DNS = s
	s.Start()
	defer s.Close()
	gw := gw6.Addr()
	q := dnsQuery(t, 0x0abc, "db.lab.")
	p.handle(frame6(p.MAC(), guestMAC, guest6, gw, 64, pkt.ProtoUDP, udp6(guest6, gw, 40000, 53, q)), t0)
	r := oneReply(t, p)
	ip := pkt.IPv6(r[14:])
	u := pkt.UDP(ip.Payload())
	if pkt.Ethernet(r).Dst() != guestMAC || pkt.Ethernet(r).Type() != pkt.TypeIPv6 || ip.Src() != gw || ip.Dst() != guest6 ||
		ip.NextHeader() != pkt.ProtoUDP || !u.Valid() || u.SrcPort() != 53 || u.DstPort() != 40000 || u.Length() != ip.PayloadLen() {
		t.Fatalf("reply headers wrong: % x", r)
	}
	if u.ComputeChecksum(ip.PseudoHeaderChecksum(pkt.ProtoUDP, uint16(u.Length()))) != u.Checksum() || u.Checksum() == 0 {
		t.Fatal("reply UDP checksum wrong")
	}
	m := new(mdns.Msg)
	if err := m.Unpack(u.Payload()); err != nil || m.Id != 0x0abc || len(m.Answer) != 1 || m.Answer[0].(*mdns.A).A.String() != "10.30.0.30" {
		t.Fatalf("answer %v (%v)", m, err)
	}
	// No checksum (0 means none over IPv4, is wrong over IPv6): dropped.
	zero := udp6(guest6, gw, 40000, 53, q)
	zero[6], zero[7] = 0, 0
	p.handle(frame6(p.MAC(), guestMAC, guest6, gw, 64, pkt.ProtoUDP, zero), t0)
	// A closed port: port unreachable, quoting the datagram.
	p.handle(frame6(p.MAC(), guestMAC, guest6, gw, 64, pkt.ProtoUDP, udp6(guest6, gw, 40000, 54, q)), t0)
	r = oneReply(t, p) // port unreachable
	c := checkICMPv6Frame(t, r, guestMAC, gw, guest6, 64)
	if c.Type() != pkt.ICMPv6DstUnreach || c.Code() != pkt.ICMPv6CodePortUnreach {
		t.Fatalf("unreachable % x", c)
	}
	if d := s.Stats().Drops[dns.DropBadChecksum]; d != 1 {
		t.Fatalf("bad_checksum %d, want 1", d)
	}
}

// tcp6 is a TCP segment from src to dst, checksummed over the IPv6
// pseudo-header, with opts then data.
func tcp6(src, dst netip.Addr, sport, dport uint16, seq, ack uint32, flags uint8, opts, data []byte) []byte {
	b := make([]byte, 20, 20+len(opts)+len(data))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], seq)
	binary.BigEndian.PutUint32(b[8:], ack)
	b[12], b[13] = byte((20+len(opts))/4<<4), flags
	binary.BigEndian.PutUint16(b[14:], 65535)
	b = append(append(b, opts...), data...)
	s, d := src.As16(), dst.As16()
	pkt.TCP(b).SetChecksum(pkt.PseudoHeaderChecksum(pkt.ProtoTCP, s[:], d[:], uint16(len(b))))
	return b
}

// newDNSPort6 is a gateway with IPv6 and a DNS server (not started)
// knowing db = 10.30.0.30; tcp says whether it serves TCP.
func newDNSPort6(t testing.TB, tcp bool) (*Port, *dns.Server) {
	t.Helper()
	var p *Port
	cfg := dns.Config{Network: "t", Gateway: gwAddr, Gateway6: gw6, Domain: "lab", ResolvConf: t.TempDir() + "/none", RateLimit: 1 << 30,
		Hosts:   []dns.Host{{Name: "db", IP: netip.MustParseAddr("10.30.0.30")}},
		Deliver: func(a dns.Answer) { p.DeliverDNS(a) }}
	if tcp {
		cfg.DeliverTCP = func(s dns.TCPSegment) { p.DeliverDNSTCP(s) }
	}
	s := dns.New(cfg)
	p = newPort6("t", gw6, nil)
	p.cfg.DNS = s
	return p, s
}

// checkTCP6 checks a segment the gateway sent from port 53 of its global
// address to guest6:dport, header by header, and returns the segment.
func checkTCP6(t *testing.T, r []byte, dport uint16) pkt.TCP {
	t.Helper()
	ip := pkt.IPv6(r[14:])
	if pkt.Ethernet(r).Dst() != guestMAC || pkt.Ethernet(r).Type() != pkt.TypeIPv6 || !ip.Valid() || ip.Src() != gw6.Addr() ||
		ip.Dst() != guest6 || ip.NextHeader() != pkt.ProtoTCP || ip.HopLimit() != 64 || len(r) != max(14+ip.Len(), 60) {
		t.Fatalf("headers wrong: % x", r)
	}
	seg := ip.Payload()
	if refSum(pseudo6(ip, pkt.ProtoTCP, len(seg)), seg) != 0 {
		t.Fatalf("TCP checksum wrong: % x", seg)
	}
	tc := pkt.TCP(seg)
	if !tc.Valid() || tc.SrcPort() != 53 || tc.DstPort() != dport {
		t.Fatalf("ports: % x", seg)
	}
	return tc
}

// TestGatewayDNSTCP6: DNS over TCP on the gateway's IPv6 address, the
// exchange dig +tcp makes, byte by byte: SYN-ACK with the MSS an IPv6
// frame carries (1440), the answer with FIN, the last ACK. A bad checksum
// and a link-local source are dropped with their reasons; the link-local
// address, a gateway without DNS and one serving DNS over UDP only reset.
func TestGatewayDNSTCP6(t *testing.T) {
	p, s := newDNSPort6(t, true)
	s.Start()
	defer s.Close()
	gw := gw6.Addr()
	send := func(b []byte) { p.handle(frame6(p.MAC(), guestMAC, guest6, gw, 64, pkt.ProtoTCP, b), t0) }
	send(tcp6(guest6, gw, 40000, 53, 100, 0, pkt.TCPFlagSYN, []byte{2, 4, 0x05, 0xb4}, nil))
	r := oneReply(t, p) // to the SYN
	sa := checkTCP6(t, r, 40000)
	if sa.Flags() != pkt.TCPFlagSYN|pkt.TCPFlagACK || sa.Ack() != 101 || sa.DataOffset() != 24 || string(sa.Options()) != "\x02\x04\x05\xa0" ||
		len(sa.Payload()) != 0 || pkt.IPv6(r[14:]).PayloadLen() != 24 {
		t.Fatalf("SYN-ACK % x", []byte(sa))
	}
	iss := sa.Seq()
	q := dnsQuery(t, 0x0abc, "db.lab.")
	framedQ := append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...)
	send(tcp6(guest6, gw, 40000, 53, 101, iss+1, pkt.TCPFlagACK|pkt.TCPFlagPSH, nil, framedQ))
	r = oneReply(t, p) // to the query
	a := checkTCP6(t, r, 40000)
	m := new(mdns.Msg)
	if a.Flags() != pkt.TCPFlagACK|pkt.TCPFlagPSH|pkt.TCPFlagFIN || a.Seq() != iss+1 || a.Ack() != 101+uint32(len(framedQ)) ||
		int(binary.BigEndian.Uint16(a.Payload())) != len(a.Payload())-2 || m.Unpack(a.Payload()[2:]) != nil ||
		m.Id != 0x0abc || len(m.Answer) != 1 || m.Answer[0].(*mdns.A).A.String() != "10.30.0.30" {
		t.Fatalf("answer % x", []byte(a))
	}
	end := iss + 1 + uint32(len(a.Payload())) + 1
	send(tcp6(guest6, gw, 40000, 53, 101+uint32(len(framedQ)), end, pkt.TCPFlagACK|pkt.TCPFlagFIN, nil, nil))
	r = oneReply(t, p) // to the FIN
	if l := checkTCP6(t, r, 40000); l.Flags() != pkt.TCPFlagACK || l.Seq() != end || l.Ack() != 102+uint32(len(framedQ)) {
		t.Fatalf("last ACK % x", []byte(l))
	}

	// Dropped on the frame path, nothing sent: a bad checksum, and a
	// source outside the /64 (link-local). The RST from the link-local
	// address that follows is the sentinel.
	bad := tcp6(guest6, gw, 40001, 53, 100, 0, pkt.TCPFlagSYN, nil, nil)
	bad[16] ^= 0xff
	send(bad)
	p.handle(frame6(p.MAC(), guestMAC, guest6LL, gw, 64, pkt.ProtoTCP, tcp6(guest6LL, gw, 40002, 53, 100, 0, pkt.TCPFlagSYN, nil, nil)), t0)
	ll := pkt.LinkLocalFromMAC(p.MAC())
	p.handle(frame6(p.MAC(), guestMAC, guest6LL, ll, 64, pkt.ProtoTCP, tcp6(guest6LL, ll, 40003, 53, 100, 0, pkt.TCPFlagSYN, nil, nil)), t0)
	r = oneReply(t, p)
	if pkt.IPv6(r[14:]).Src() != ll || pkt.TCP(pkt.IPv6(r[14:]).Payload()).Flags() != pkt.TCPFlagRST|pkt.TCPFlagACK {
		t.Fatalf("% x, want the link-local address's RST", r)
	}
	if d := s.Stats().Drops; d[dns.DropBadChecksum] != 1 || d[dns.DropOutsidePrefix] != 1 || s.Conns() != 0 {
		t.Fatalf("drops %v, %d connections", d, s.Conns())
	}

	// No DNS, or DNS over UDP only: the port resets, as before.
	udpOnly, _ := newDNSPort6(t, false)
	for _, g := range []*Port{newPort6("t", gw6, nil), udpOnly} {
		rst := answer(g, frame6(g.MAC(), guestMAC, guest6, gw, 64, pkt.ProtoTCP, tcp6(guest6, gw, 40004, 53, 100, 0, pkt.TCPFlagSYN, nil, nil)), t0)
		if len(rst) != 1 || checkTCP6(t, rst[0], 40004).Flags() != pkt.TCPFlagRST|pkt.TCPFlagACK {
			t.Fatalf("no DNS over TCP: %d replies, want a RST", len(rst))
		}
	}
}

// TestDeliverDNSTCP6: a full-sized segment to an IPv6 client is one
// MTU-1500 frame (1440 bytes of data: 1514 bytes on the wire); to an IPv6
// client of a gateway without IPv6, nothing is sent.
func TestDeliverDNSTCP6(t *testing.T) {
	p, _ := newDNSPort6(t, true)
	data := make([]byte, 1440)
	for i := range data {
		data[i] = byte(i * 7)
	}
	p.DeliverDNSTCP(dns.TCPSegment{DstMAC: guestMAC, Dst: netip.AddrPortFrom(guest6, 40000), Seq: 7, Ack: 9, Flags: pkt.TCPFlagACK, Window: 4096, Payload: data})
	reps := takeAll(p.q)
	if len(reps) != 1 || len(reps[0]) != 1514 {
		t.Fatalf("%d frames, want one of 1514 bytes", len(reps))
	}
	tc := checkTCP6(t, reps[0], 40000)
	if tc.Seq() != 7 || tc.Ack() != 9 || tc.Flags() != pkt.TCPFlagACK || tc.Window() != 4096 || tc.DataOffset() != 20 || string(tc.Payload()) != string(data) {
		t.Fatalf("segment % x", []byte(tc[:20]))
	}
	no6 := newPort()
	no6.DeliverDNSTCP(dns.TCPSegment{DstMAC: guestMAC, Dst: netip.AddrPortFrom(guest6, 40000), Flags: pkt.TCPFlagRST})
	if n := len(takeAll(no6.q)); n != 0 {
		t.Fatalf("a gateway without IPv6 sent %d frames", n)
	}
}
