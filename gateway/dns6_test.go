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
	reps := waitReplies(p)
	if len(reps) != 1 {
		t.Fatalf("%d replies, want 1", len(reps))
	}
	r := reps[0]
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
	reps = waitReplies(p)
	if len(reps) != 1 {
		t.Fatalf("%d replies, want 1 (port unreachable)", len(reps))
	}
	c := checkICMPv6Frame(t, reps[0], guestMAC, gw, guest6, 64)
	if c.Type() != pkt.ICMPv6DstUnreach || c.Code() != pkt.ICMPv6CodePortUnreach {
		t.Fatalf("unreachable % x", c)
	}
	if d := s.Stats().Drops[dns.DropBadChecksum]; d != 1 {
		t.Fatalf("bad_checksum %d, want 1", d)
	}
}
