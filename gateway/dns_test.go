package gateway

import (
	"net/netip"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vswitch/vswitch/dns"
	"github.com/vswitch/vswitch/internal/pkt"
)

// dnsPort is a gateway with a DNS server knowing db = 10.30.0.30.
func newDNSPort(t testing.TB) (*Port, *dns.Server) {
	t.Helper()
	var p *Port
	s := dns.New(dns.Config{Network: "t", Gateway: gwAddr, Domain: "lab", ResolvConf: t.TempDir() + "/none", RateLimit: 1 << 30,
		Hosts:   []dns.Host{{Name: "db", IP: netip.MustParseAddr("10.30.0.30")}},
		Deliver: func(a dns.Answer) { p.DeliverDNS(a) }})
	p = New(Config{Network: "t", VLAN: 1, Address: gwAddr, DNS: s})
	p.garp.Store(true)
	return p, s
}

func dnsQuery(t testing.TB, id uint16, name string) []byte {
	m := new(mdns.Msg)
	m.SetQuestion(name, mdns.TypeA)
	m.Id = id
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// oneReply waits for the gateway's replies (waitReplies) and returns the
// one there must be.
func oneReply(t *testing.T, p *Port) []byte {
	t.Helper()
	reps := waitReplies(p)
	if len(reps) != 1 {
		t.Fatalf("%d replies, want 1", len(reps))
	}
	return reps[0]
}

// waitReplies collects the gateway's replies until one arrives or 2 s pass.
func waitReplies(p *Port) [][]byte {
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if r := takeAll(p.q); len(r) > 0 {
			return r
		}
	}
	return nil
}

func TestGatewayDNS(t *testing.T) {
	p, s := newDNSPort(t)
	s.Start()
	defer s.Close()
	q := dnsQuery(t, 0x0abc, "db.lab.")

	// A good query: answered from port 53 to the guest's port, exact headers.
	p.handle(fromGuest(pkt.ProtoUDP, 1, 0, udp4(guestIP, gwIP, 40000, 53, q)), t0)
	r := oneReply(t, p)
	ip := pkt.IPv4(r[14:])
	u := pkt.UDP(ip.Payload())
	if pkt.Ethernet(r).Dst() != guestMAC || pkt.Ethernet(r).Src() != p.MAC() || ip.Src() != gwIP || ip.Dst() != guestIP ||
		ip.Protocol() != pkt.ProtoUDP || refSum(r[14:34]) != 0 || u.SrcPort() != 53 || u.DstPort() != 40000 {
		t.Fatalf("reply headers wrong: % x", r)
	}
	if refSum(pseudo(ip, pkt.ProtoUDP, u.Length()), u[:u.Length()]) != 0 {
		t.Fatalf("reply UDP checksum wrong")
	}
	m := new(mdns.Msg)
	if err := m.Unpack(u.Payload()); err != nil || m.Id != 0x0abc || len(m.Answer) != 1 ||
		m.Answer[0].(*mdns.A).A.String() != "10.30.0.30" {
		t.Fatalf("answer %v (%v)", m, err)
	}

	// A bad UDP checksum: dropped and counted, nothing sent; the honest
	// query after it is the sentinel.
	bad := udp4(guestIP, gwIP, 40000, 53, q)
	bad[6] ^= 0xff
	p.handle(fromGuest(pkt.ProtoUDP, 2, 0, bad), t0)
	p.handle(fromGuest(pkt.ProtoUDP, 3, 0, udp4(guestIP, gwIP, 40001, 53, q)), t0)
	r = oneReply(t, p) // after a bad checksum
	if pkt.UDP(pkt.IPv4(r[14:]).Payload()).DstPort() != 40001 {
		t.Fatalf("after a bad checksum: % x", r)
	}
	if st := s.Stats(); st.Drops[dns.DropBadChecksum] != 1 || st.Results[dns.ResultLocal] != 2 {
		t.Fatalf("drops %v results %v", st.Drops, st.Results)
	}
}

func TestGatewayNoDNS(t *testing.T) {
	// Without a DNS server port 53 is closed: port unreachable, as before.
	p := newPort()
	q := dnsQuery(t, 1, "db.lab.")
	reps := answer(p, fromGuest(pkt.ProtoUDP, 1, 0, udp4(guestIP, gwIP, 40000, 53, q)), t0)
	if len(reps) != 1 || pkt.ICMP(pkt.IPv4(reps[0][14:]).Payload()).Type() != pkt.ICMPUnreachable {
		t.Fatalf("replies %d, want one port unreachable", len(reps))
	}
}

func TestGatewayDNSTCP(t *testing.T) {
	var p *Port
	s := dns.New(dns.Config{Network: "t", Gateway: gwAddr, Domain: "lab", ResolvConf: t.TempDir() + "/none",
		Deliver: func(a dns.Answer) { p.DeliverDNS(a) }, DeliverTCP: func(s dns.TCPSegment) { p.DeliverDNSTCP(s) }})
	p = New(Config{Network: "t", VLAN: 1, Address: gwAddr, DNS: s})
	p.garp.Store(true)
	s.Start()
	defer s.Close()
	p.handle(fromGuest(pkt.ProtoTCP, 1, 0, tcpSeg(40000, 53, 100, 0, pkt.TCPFlagSYN, nil, guestIP, gwIP)), t0)
	r := oneReply(t, p)
	ip := pkt.IPv4(r[14:])
	seg := ip.Payload()
	if pkt.Ethernet(r).Dst() != guestMAC || ip.Src() != gwIP || ip.Dst() != guestIP || ip.Protocol() != pkt.ProtoTCP || refSum(r[14:34]) != 0 ||
		refSum(pseudo(ip, pkt.ProtoTCP, len(seg)), seg) != 0 {
		t.Fatalf("SYN-ACK headers or checksums wrong: % x", r)
	}
	tc := pkt.TCP(seg)
	if tc.SrcPort() != 53 || tc.DstPort() != 40000 || tc.Flags() != pkt.TCPFlagSYN|pkt.TCPFlagACK || tc.Ack() != 101 ||
		tc.DataOffset() != 24 || string(tc.Options()) != "\x02\x04\x05\xb4" || len(tc.Payload()) != 0 {
		t.Fatalf("SYN-ACK % x", seg)
	}
	// A bad checksum: counted, no reply; without DNS the port resets.
	bad := tcpSeg(40001, 53, 100, 0, pkt.TCPFlagSYN, nil, guestIP, gwIP)
	bad[16] ^= 0xff
	p.handle(fromGuest(pkt.ProtoTCP, 2, 0, bad), t0)
	time.Sleep(50 * time.Millisecond)
	if r := takeAll(p.q); len(r) != 0 || s.Stats().Drops[dns.DropBadChecksum] != 1 {
		t.Fatalf("bad checksum: %d replies, drops %v", len(r), s.Stats().Drops)
	}
	udpOnly, _ := newDNSPort(t) // a DNS server without DeliverTCP
	for _, gw := range []*Port{newPort(), udpOnly} {
		rst := answer(gw, fromGuest(pkt.ProtoTCP, 3, 0, tcpSeg(40002, 53, 100, 0, pkt.TCPFlagSYN, nil, guestIP, gwIP)), t0)
		if len(rst) != 1 || pkt.TCP(pkt.IPv4(rst[0][14:]).Payload()).Flags()&pkt.TCPFlagRST == 0 {
			t.Fatalf("no DNS over TCP: %d replies, want a RST", len(rst))
		}
	}
}
