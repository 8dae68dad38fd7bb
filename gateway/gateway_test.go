package gateway

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vswitch/vswitch/dhcp"
	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

var (
	gwAddr   = netip.MustParsePrefix("10.30.0.1/24")
	guestMAC = pkt.MAC{0x52, 0x54, 0, 0, 0, 5}
	guestIP  = netip.MustParseAddr("10.30.0.5")
)

func newPort() *Port {
	s := dhcp.NewServer(dhcp.Config{Network: "t", Gateway: gwAddr, RangeStart: netip.MustParseAddr("10.30.0.10"),
		RangeEnd: netip.MustParseAddr("10.30.0.20"), Lease: time.Hour}, nil)
	p := New(Config{Network: "t", VLAN: 1, Address: gwAddr, DHCP: s})
	p.garp.Store(true) // skip the announcement in tests
	return p
}

// exchange writes one frame to the gateway and returns its replies.
func exchange(t testing.TB, p *Port, frame []byte) [][]byte {
	t.Helper()
	f := vswitch.NewFrame()
	f.SetData(frame)
	p.WriteBatch([]*vswitch.Frame{f})
	f.Release()
	var out [][]byte
	var buf [vswitch.BatchSize]*vswitch.Frame
	for n := p.q.Take(buf[:]); n > 0; n = p.q.Take(buf[:]) {
		for _, r := range buf[:n] {
			out = append(out, append([]byte(nil), r.Bytes()...))
			r.Release()
		}
	}
	return out
}

func ipFrame(proto uint8, dst netip.Addr, payload []byte) []byte {
	b := make([]byte, pkt.EthernetLen+pkt.IPv4MinLen+len(payload))
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: StableMAC("t"), Src: guestMAC, Type: pkt.TypeIPv4})
	copy(b[34:], payload)
	pkt.IPv4(b[14:]).Encode(&pkt.IPv4Fields{TotalLen: uint16(20 + len(payload)), TTL: 64, Protocol: proto, Src: guestIP, Dst: dst})
	return b
}

func TestARPAndPing(t *testing.T) {
	p := newPort()
	req := make([]byte, 42)
	pkt.Ethernet(req).Encode(&pkt.EthernetFields{Dst: pkt.Broadcast, Src: guestMAC, Type: pkt.TypeARP})
	pkt.ARP(req[14:]).Encode(&pkt.ARPFields{Op: pkt.ARPRequest, SenderMAC: guestMAC, SenderIP: guestIP, TargetIP: gwAddr.Addr()})
	rep := exchange(t, p, req)
	if len(rep) != 1 {
		t.Fatalf("%d replies to ARP", len(rep))
	}
	a := pkt.ARP(rep[0][14:])
	if a.Op() != pkt.ARPReply || a.SenderMAC() != p.MAC() || a.TargetIP() != guestIP || pkt.Ethernet(rep[0]).Dst() != guestMAC {
		t.Fatalf("bad ARP reply % x", rep[0][:42])
	}
	if p.Neighbours() != 1 {
		t.Fatal("sender not cached")
	}
	echo := []byte{8, 0, 0, 0, 0, 1, 0, 1, 'h', 'i'}
	binary.BigEndian.PutUint16(echo[2:], ^pkt.Checksum(echo, 0))
	rep = exchange(t, p, ipFrame(pkt.ProtoICMP, gwAddr.Addr(), echo))
	if len(rep) != 1 {
		t.Fatal("no echo reply")
	}
	ip := pkt.IPv4(rep[0][14:])
	c := ip.Payload()
	if !ip.Valid() || !ip.HeaderChecksumOK() || c[0] != 0 || pkt.Checksum(c, 0) != 0xffff || string(c[8:]) != "hi" || ip.Dst() != guestIP {
		t.Fatalf("bad echo reply % x", rep[0])
	}
}

func TestUnreachableAndReset(t *testing.T) {
	p := newPort()
	udp := make([]byte, 12)
	pkt.EncodeUDP(udp, guestIP, gwAddr.Addr(), 5555, 9999, 4)
	rep := exchange(t, p, ipFrame(pkt.ProtoUDP, gwAddr.Addr(), udp))
	if len(rep) != 1 || pkt.IPv4(rep[0][14:]).Payload()[0] != pkt.ICMPUnreachable || pkt.IPv4(rep[0][14:]).Payload()[1] != pkt.ICMPCodePortUnreach {
		t.Fatalf("UDP to a closed port: %d replies", len(rep))
	}
	syn := make([]byte, 20)
	binary.BigEndian.PutUint16(syn[0:], 40000)
	binary.BigEndian.PutUint16(syn[2:], 22)
	binary.BigEndian.PutUint32(syn[4:], 1000)
	syn[12], syn[13] = 5<<4, 0x02
	rep = exchange(t, p, ipFrame(pkt.ProtoTCP, gwAddr.Addr(), syn))
	if len(rep) != 1 {
		t.Fatal("no RST")
	}
	tcp := pkt.IPv4(rep[0][14:]).Payload()
	if tcp[13] != 0x14 || binary.BigEndian.Uint32(tcp[8:]) != 1001 || binary.BigEndian.Uint16(tcp[2:]) != 40000 {
		t.Fatalf("RST % x", tcp)
	}
	s, d := gwAddr.Addr().As4(), guestIP.As4()
	if pkt.Checksum(tcp, pkt.PseudoHeaderChecksum(pkt.ProtoTCP, s[:], d[:], 20)) != 0xffff {
		t.Fatal("RST checksum")
	}
	// Not for us: nothing, counted.
	rep = exchange(t, p, ipFrame(pkt.ProtoUDP, netip.MustParseAddr("8.8.8.8"), udp))
	if len(rep) != 0 || p.Drops()[DropNotForUs] != 1 {
		t.Fatal("routed on an isolated network")
	}
}

func TestNeighbourCacheBounded(t *testing.T) {
	n := newNeighbours(8)
	now := time.Now()
	for i := 0; i < 100; i++ {
		n.learn(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), guestMAC, now.Add(time.Duration(i)*time.Second))
	}
	if n.len() != 8 {
		t.Fatalf("%d entries", n.len())
	}
	if _, ok := n.lookup(netip.AddrFrom4([4]byte{10, 0, 0, 99})); !ok {
		t.Fatal("newest entry evicted")
	}
}

// A neighbour seen again a second or more later is refreshed (so it is
// not the oldest), a changed MAC replaces the old one at once.
func TestNeighbourRefresh(t *testing.T) {
	a, b, c := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	n := newNeighbours(2)
	n.learn(a, guestMAC, t0)
	n.learn(b, guestMAC, t0.Add(500*time.Millisecond))
	n.learn(a, guestMAC, t0.Add(time.Second)) // exactly a second: refreshed
	n.learn(c, guestMAC, t0.Add(2*time.Second))
	if _, ok := n.lookup(b); ok {
		t.Fatal("refreshed entry evicted instead of the oldest")
	}
	if _, ok := n.lookup(a); !ok {
		t.Fatal("refreshed entry evicted")
	}
	n.learn(a, guest2MAC, t0.Add(2*time.Second))
	if mac, _ := n.lookup(a); mac != guest2MAC {
		t.Fatal("changed MAC not taken")
	}
	// Within the second: not refreshed, so it is the oldest.
	n = newNeighbours(2)
	n.learn(a, guestMAC, t0)
	n.learn(b, guestMAC, t0.Add(100*time.Millisecond))
	n.learn(a, guestMAC, t0.Add(900*time.Millisecond))
	n.learn(c, guestMAC, t0.Add(2*time.Second))
	if _, ok := n.lookup(a); ok {
		t.Fatal("entry refreshed within a second")
	}
}

// FuzzGateway sends arbitrary frames to a nat network's gateway with a
// resolved uplink. Every frame the gateway emits, towards the guests or
// out of the uplink, must be well formed: from the emitter's own MAC,
// ARP or IPv4 with a header checksum that verifies; the gateway's own
// IPv4 replies come from its address with L4 checksums that verify
// against a full recomputation, padding is zero; routed packets leave
// with their TTL one lower and, translated, from the outside address.
func FuzzGateway(f *testing.F) {
	echo := []byte{8, 0, 0xf7, 0xfe, 0, 1, 0, 0}
	f.Add(ipFrame(pkt.ProtoICMP, gwAddr.Addr(), echo))
	f.Add(ipFrame(pkt.ProtoTCP, gwAddr.Addr(), make([]byte, 20)))
	f.Add(ipFrame(pkt.ProtoUDP, netip.MustParseAddr("255.255.255.255"), make([]byte, 250)))
	f.Add(guestDHCP(pkt.DHCPDiscover, 1, 0x8000, netip.Addr{}, netip.MustParseAddr("255.255.255.255")))
	f.Add(guestUDP(remoteIP, 64, 5353, 53, "query"))
	f.Add(guestUDP(remoteIP, 1, 5353, 53, "ttl"))
	f.Add(guestUDP(upIP, 64, 5353, 8080, "hairpin"))
	f.Add(fromGuest(pkt.ProtoTCP, 1, 0, tcpSeg(1, 2, 3, 4, 0x12, []byte("x"), guestIP, gwIP)))
	f.Add(arpFrame(pkt.Broadcast, guestMAC, 1, guestMAC, guestIP, pkt.MAC{}, gwIP))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > vswitch.SmallDataLen {
			return
		}
		// A fresh network per input, so a failure reproduces from its input.
		p, u := routeSetup("nat")
		p.cfg.DHCP = dhcp.NewServer(dhcp.Config{Network: "t", Gateway: gwAddr, RangeStart: netip.MustParseAddr("10.30.0.10"),
			RangeEnd: netip.MustParseAddr("10.30.0.20"), Lease: time.Hour, Router: true}, nil)
		u.cfg.NAT.AddForward(pkt.ProtoUDP, 8080, netip.AddrPortFrom(guest2IP, 80))
		p.neigh.learn(guest2IP, guest2MAC, t0)
		now := t0
		in := pkt.IPv4(nil)
		if len(b) >= 34 && binary.BigEndian.Uint16(b[12:]) == pkt.TypeIPv4 {
			in = pkt.IPv4(b[14:])
		}
		p.handle(b, now)
		for _, r := range takeAll(p.q) {
			checkEmitted(t, r, p.MAC(), func(ip pkt.IPv4) {
				switch ip.Src() {
				case gwIP: // its own: padded with zeros to the minimum
					checkIPv4(t, r)
					if n := 14 + ip.TotalLen(); len(r) != max(n, 60) || string(r[n:]) != string(make([]byte, len(r)-n)) {
						t.Fatalf("reply length or padding % x", r)
					}
				case upIP: // hairpin: translated twice, TTL down twice, to a known guest
					mac, ok := p.neigh.lookup(ip.Dst())
					if !ok || mac != pkt.Ethernet(r).Dst() || !gwAddr.Contains(ip.Dst()) || ip.TTL() != in.TTL()-2 || len(r) != 14+ip.TotalLen() {
						t.Fatalf("hairpin % x", r)
					}
				default:
					t.Fatalf("from %v: % x", ip.Src(), r)
				}
			})
		}
		for _, r := range sent(u) {
			checkEmitted(t, r, upMAC, func(ip pkt.IPv4) {
				if ip.Src() != upIP || ip.TTL() != in.TTL()-1 || ip.Dst() != in.Dst() || pkt.Ethernet(r).Dst() != routerMAC || len(r) != 14+ip.TotalLen() {
					t.Fatalf("routed % x from % x", r, b)
				}
			})
		}
	})
}

// checkEmitted checks the common form of an emitted frame; ipCheck
// checks IPv4 further.
func checkEmitted(t *testing.T, r []byte, src pkt.MAC, ipCheck func(pkt.IPv4)) {
	t.Helper()
	eth := pkt.Ethernet(r)
	if len(r) < 14 || eth.Src() != src {
		t.Fatalf("frame of %d bytes from %v: % x", len(r), eth.Src(), r)
	}
	switch eth.Type() {
	case pkt.TypeARP:
		a := pkt.ARP(r[14:])
		if len(r) != 60 || !a.Valid() || a.SenderMAC() != src || string(r[42:]) != string(make([]byte, 18)) {
			t.Fatalf("ARP % x", r)
		}
	case pkt.TypeIPv4:
		ip := pkt.IPv4(r[14:])
		if !ip.Valid() || refSum(ip[:ip.HeaderLen()]) != 0 {
			t.Fatalf("IPv4 % x", r)
		}
		ipCheck(ip)
	default:
		t.Fatalf("type %#04x", eth.Type())
	}
}

func TestGratuitousARPFirst(t *testing.T) {
	p := New(Config{Network: "t", VLAN: 1, Address: gwAddr})
	frames := []*vswitch.Frame{vswitch.NewFrame()}
	n, err := p.ReadBatch(frames)
	if n != 1 || err != nil {
		t.Fatalf("%d %v", n, err)
	}
	b := frames[0].Bytes()
	a := pkt.ARP(b[14:])
	if pkt.Ethernet(b).Dst() != pkt.Broadcast || !a.Valid() || a.SenderIP() != gwAddr.Addr() || a.TargetIP() != gwAddr.Addr() || a.SenderMAC() != StableMAC("t") {
		t.Fatalf("not a gratuitous ARP: % x", b[:42])
	}
	p.Close()
	if _, err := p.ReadBatch(frames); err == nil {
		t.Fatal("ReadBatch after Close")
	}
}

// Learners and readers at once (run under -race): the cache stays within
// its bound and its count matches what it holds.
func TestNeighboursConcurrent(t *testing.T) {
	n := newNeighbours(64)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				a := netip.AddrFrom4([4]byte{10, 0, byte(g), byte(i % 100)})
				n.learn(a, pkt.MAC{2, 0, 0, 0, byte(g), byte(i % 3)}, t0.Add(time.Duration(i)*time.Millisecond))
				n.lookup(a)
			}
		}()
	}
	wg.Wait()
	held := 0
	n.m.Range(func(netip.Addr, *neighbour) bool { held++; return true })
	if n.len() != held || held != 64 {
		t.Fatalf("len %d, holds %d, want 64", n.len(), held)
	}
}
