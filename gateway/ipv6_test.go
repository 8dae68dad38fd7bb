package gateway

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

var (
	gw6       = netip.MustParsePrefix("fd00:122::1/64")
	guest6    = netip.MustParseAddr("fd00:122::5")
	guest6LL  = pkt.LinkLocalFromMAC(guestMAC)
	gw6B      = netip.MustParsePrefix("fd00:123::1/64")
	guest6B   = netip.MustParseAddr("fd00:123::7")
	guestMACB = pkt.MAC{0x52, 0x54, 0, 0, 1, 7}
)

// newPort6 is a gateway with IPv6 whose DAD has passed (the advertiser
// is not started: TestDAD runs it by hand).
func newPort6(name string, pfx netip.Prefix, r *Router6) *Port {
	p := New(Config{Network: name, VLAN: 1, Address: gwAddr, Address6: pfx, Router6: r})
	p.garp.Store(true)
	p.adv.Store(true)
	for i := range p.v6.state {
		p.v6.state[i].Store(addrPreferred)
	}
	return p
}

// frame6 frames an IPv6 packet carrying an ICMPv6 message (checksum set)
// or, for another proto, payload as it is.
func frame6(dmac, smac pkt.MAC, src, dst netip.Addr, hop, proto uint8, payload []byte) []byte {
	b := make([]byte, icmp6Off+len(payload))
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: dmac, Src: smac, Type: pkt.TypeIPv6})
	ip := pkt.IPv6(b[pkt.EthernetLen:])
	ip.Encode(&pkt.IPv6Fields{PayloadLen: uint16(len(payload)), NextHeader: proto, HopLimit: hop, Src: src, Dst: dst})
	copy(b[icmp6Off:], payload)
	if proto == pkt.ProtoICMPv6 {
		pkt.ICMPv6(b[icmp6Off:]).SetChecksum(ip.PseudoHeaderChecksum(pkt.ProtoICMPv6, uint16(len(payload))))
	}
	return b
}

// resum sets the ICMPv6 checksum of a frame changed by hand.
func resum(b []byte) {
	ip := pkt.IPv6(b[pkt.EthernetLen:])
	c := pkt.ICMPv6(b[icmp6Off : pkt.EthernetLen+ip.Len()])
	c.SetChecksum(ip.PseudoHeaderChecksum(pkt.ProtoICMPv6, uint16(len(c))))
}

// nsMsg is a solicitation for target, with a source link-layer address
// option when lla is not zero.
func nsMsg(target netip.Addr, lla pkt.MAC) []byte {
	n := pkt.NDPNeighSolicitLen
	if !lla.IsZero() {
		n += pkt.NDPLLAOptLen
	}
	m := make([]byte, n)
	pkt.NDPNeighSolicit(m).Encode(target)
	if !lla.IsZero() {
		w := pkt.NDPOptionWriter{B: m, N: pkt.NDPNeighSolicitLen}
		w.AddLinkLayerAddr(pkt.NDPOptSourceLLA, lla)
	}
	return m
}

func naMsg(target netip.Addr, flags uint8, lla pkt.MAC) []byte {
	m := make([]byte, pkt.NDPNeighAdvertLen+pkt.NDPLLAOptLen)
	pkt.NDPNeighAdvert(m).Encode(flags, target)
	w := pkt.NDPOptionWriter{B: m, N: pkt.NDPNeighAdvertLen}
	w.AddLinkLayerAddr(pkt.NDPOptTargetLLA, lla)
	return m
}

func solicitNS(src, target netip.Addr, lla pkt.MAC) []byte {
	g := pkt.SolicitedNode(target)
	return frame6(pkt.MulticastMAC6(g), guestMAC, src, g, 255, pkt.ProtoICMPv6, nsMsg(target, lla))
}

// checkICMPv6Frame checks an emitted ICMPv6 frame's headers and checksum
// and returns its message.
func checkICMPv6Frame(t *testing.T, r []byte, dmac pkt.MAC, src, dst netip.Addr, hop uint8) pkt.ICMPv6 {
	t.Helper()
	eth := pkt.Ethernet(r)
	ip := pkt.IPv6(eth.Payload())
	if eth.Type() != pkt.TypeIPv6 || eth.Dst() != dmac || !ip.Valid() || ip.NextHeader() != pkt.ProtoICMPv6 ||
		ip.Src() != src || ip.Dst() != dst || ip.HopLimit() != hop || len(r) != max(icmp6Off+ip.PayloadLen(), 60) {
		t.Fatalf("frame to %v %v->%v hop %d: % x", eth.Dst(), ip.Src(), ip.Dst(), ip.HopLimit(), r)
	}
	c := pkt.ICMPv6(ip.Payload())
	ph := pkt.PseudoHeaderChecksum(pkt.ProtoICMPv6, ip[8:24], ip[24:40], uint16(len(c)))
	if refSum(c) == 0 || !c.ChecksumOK(ph) {
		t.Fatalf("ICMPv6 checksum: % x", c)
	}
	if end := icmp6Off + ip.PayloadLen(); !bytes.Equal(r[end:], make([]byte, len(r)-end)) {
		t.Fatalf("padding not zero: % x", r)
	}
	return c
}

func TestNeighbourSolicitation(t *testing.T) {
	p := newPort6("t", gw6, nil)
	gwLL := pkt.LinkLocalFromMAC(p.MAC())
	for _, c := range []struct {
		name        string
		src, target netip.Addr
	}{
		{"global", guest6, gw6.Addr()},
		{"link-local", guest6LL, gwLL},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := exchange(t, p, solicitNS(c.src, c.target, guestMAC))
			if len(out) != 1 {
				t.Fatalf("%d replies", len(out))
			}
			m := pkt.NDPNeighAdvert(checkICMPv6Frame(t, out[0], guestMAC, c.target, c.src, 255))
			if !m.Valid() || m[0] != pkt.ICMPv6NeighAdvert || m.Target() != c.target ||
				m.Flags() != pkt.NDPNARouter|pkt.NDPNASolicited|pkt.NDPNAOverride {
				t.Fatalf("NA % x", m)
			}
			it := m.Options()
			if !it.Next() || it.Type() != pkt.NDPOptTargetLLA || !bytes.Equal(it.Data(), p.mac[:]) || it.Next() {
				t.Fatalf("NA options % x", m[pkt.NDPNeighAdvertLen:])
			}
			if mac, ok := p.v6.neigh.lookup(c.src); !ok || mac != guestMAC {
				t.Fatalf("solicitor not learned: %v %v", mac, ok)
			}
		})
	}
	if d := p.Drops(); d != [NumDrops]uint64{} {
		t.Fatalf("drops %v", d)
	}
}

// TestNDPHostile: each malformed or lying message is dropped with its
// reason, answered by nothing and learned by nobody.
func TestNDPHostile(t *testing.T) {
	gw := gw6.Addr()
	other := pkt.MAC{0x52, 0x54, 0, 0, 0, 0x99}
	hop64 := solicitNS(guest6, gw, guestMAC)
	hop64[pkt.EthernetLen+7] = 64
	badSum := solicitNS(guest6, gw, guestMAC)
	badSum[icmp6Off+2] ^= 1
	zeroOpt := solicitNS(guest6, gw, guestMAC)
	zeroOpt[icmp6Off+pkt.NDPNeighSolicitLen+1] = 0
	resum(zeroOpt)
	short := solicitNS(guest6, gw, pkt.MAC{})
	pkt.IPv6(short[pkt.EthernetLen:]).SetPayloadLen(pkt.ICMPv6Len + 4)
	resum(short)
	dadWithLLA := solicitNS(netip.IPv6Unspecified(), gw, guestMAC)
	g := pkt.SolicitedNode(gw)
	chain := frame6(pkt.MulticastMAC6(g), guestMAC, guest6, g, 255, pkt.ProtoDestOpts, append([]byte{pkt.ProtoICMPv6, 3}, make([]byte, 6)...))
	for _, c := range []struct {
		name   string
		frame  []byte
		reason DropReason
	}{
		{"hop limit 64", hop64, DropBadNDP},
		{"bad checksum", badSum, DropBadICMPv6},
		{"zero-length option", zeroOpt, DropBadNDP},
		{"short NS", short, DropBadNDP},
		{"DAD probe with an address option", dadWithLLA, DropBadNDP},
		{"option is another MAC", solicitNS(guest6, gw, other), DropNDPSpoofed},
		{"NS from outside the prefix", solicitNS(netip.MustParseAddr("fd00:999::5"), gw, guestMAC), DropBadSource},
		{"NA claiming the gateway", frame6(pkt.MulticastMAC6(pkt.IPv6AllNodes), guestMAC, guest6, pkt.IPv6AllNodes, 255, pkt.ProtoICMPv6, naMsg(gw, pkt.NDPNAOverride, guestMAC)), DropAddrConflict},
		{"NA for a neighbour at another MAC", frame6(pkt.MulticastMAC6(pkt.IPv6AllNodes), guestMAC, guest6, pkt.IPv6AllNodes, 255, pkt.ProtoICMPv6, naMsg(guest6, pkt.NDPNAOverride, other)), DropNDPSpoofed},
		{"extension header runs past the payload", chain, DropBadIPv6},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPort6("t", gw6, nil)
			if out := exchange(t, p, c.frame); len(out) != 0 {
				t.Fatalf("answered: % x", out[0])
			}
			var want [NumDrops]uint64
			want[c.reason] = 1
			if d := p.Drops(); d != want {
				t.Fatalf("drops %v, want 1 %v", d, c.reason)
			}
			if p.v6.neigh.len() != 0 {
				t.Fatal("learned a neighbour")
			}
		})
	}
	// The positive control: the same guest, honest, is answered.
	p := newPort6("t", gw6, nil)
	if out := exchange(t, p, solicitNS(guest6, gw, guestMAC)); len(out) != 1 {
		t.Fatalf("honest NS: %d replies", len(out))
	}
}

func TestNeighbourAdvertLearns(t *testing.T) {
	p := newPort6("t", gw6, nil)
	na := frame6(p.MAC(), guestMAC, guest6, gw6.Addr(), 255, pkt.ProtoICMPv6, naMsg(guest6, pkt.NDPNASolicited|pkt.NDPNAOverride, guestMAC))
	if out := exchange(t, p, na); len(out) != 0 {
		t.Fatalf("answered an NA: % x", out[0])
	}
	if mac, ok := p.v6.neigh.lookup(guest6); !ok || mac != guestMAC || p.Drops() != [NumDrops]uint64{} {
		t.Fatalf("learned %v %v, drops %v", mac, ok, p.Drops())
	}
}

func TestEcho6(t *testing.T) {
	p := newPort6("t", gw6, nil)
	req := make([]byte, 8+20)
	pkt.ICMPv6(req).EncodeHeader(pkt.ICMPv6EchoRequest, 0, 0x00420007)
	copy(req[8:], "twenty bytes of data")
	out := exchange(t, p, frame6(p.MAC(), guestMAC, guest6, gw6.Addr(), 64, pkt.ProtoICMPv6, req))
	if len(out) != 1 {
		t.Fatalf("%d replies", len(out))
	}
	c := checkICMPv6Frame(t, out[0], guestMAC, gw6.Addr(), guest6, 64)
	if c.Type() != pkt.ICMPv6EchoReply || c.Code() != 0 || c.Ident() != 0x42 || c.Seq() != 7 || string(c.Payload()) != "twenty bytes of data" {
		t.Fatalf("reply % x", c)
	}
}

// TestDAD runs the advertiser by hand: an MLD join of the gateway's
// groups, two probes from ::, then, once
// the wait passes, an advertisement with the prefix; a guest's NA for the
// tentative global address makes it a duplicate, so it is not answered
// for and the advertisement carries no RDNSS with it.
func TestDAD(t *testing.T) {
	for _, dup := range []bool{false, true} {
		p := New(Config{Network: "t", VLAN: 1, Address: gwAddr, Address6: gw6})
		p.cfg.DNS = nil
		wait := make(chan time.Time)
		done := make(chan struct{})
		go func() { p.advertise(func(time.Duration) <-chan time.Time { return wait }); close(done) }()
		var probes [][]byte
		for len(probes) < 3 {
			probes = append(probes, takeWait(t, p)...)
		}
		checkMLDReport(t, p, probes[0], netip.IPv6Unspecified(), pkt.RecordToExclude) // the join comes first
		probes = probes[1:]
		ll := pkt.LinkLocalFromMAC(p.MAC())
		for i, target := range []netip.Addr{ll, gw6.Addr()} {
			g := pkt.SolicitedNode(target)
			m := pkt.NDPNeighSolicit(checkICMPv6Frame(t, probes[i], pkt.MulticastMAC6(g), netip.IPv6Unspecified(), g, 255))
			if m.Target() != target || len(m) != pkt.NDPNeighSolicitLen {
				t.Fatalf("probe %d % x", i, m)
			}
		}
		if dup {
			exchange(t, p, frame6(pkt.MulticastMAC6(pkt.IPv6AllNodes), guestMAC, guest6, pkt.IPv6AllNodes, 255, pkt.ProtoICMPv6, naMsg(gw6.Addr(), pkt.NDPNAOverride, guestMAC)))
		}
		// Tentative: a solicitation for it is not answered.
		if out := exchange(t, p, solicitNS(guest6, gw6.Addr(), guestMAC)); len(out) != 0 {
			t.Fatalf("answered for a tentative address")
		}
		wait <- time.Time{}
		ra := takeWait(t, p)
		m := pkt.NDPRouterAdvert(checkICMPv6Frame(t, ra[0], pkt.MulticastMAC6(pkt.IPv6AllNodes), ll, pkt.IPv6AllNodes, 255))
		checkRA(t, m, p.MAC(), netip.Addr{})
		out := exchange(t, p, solicitNS(guest6, gw6.Addr(), guestMAC))
		if want := map[bool]int{false: 1, true: 0}[dup]; len(out) != want {
			t.Fatalf("duplicate %v: %d answers to NS, want %d", dup, len(out), want)
		}
		p.Close()
		<-done
	}
}

// takeWait waits for the gateway to queue frames and takes them.
func takeWait(t *testing.T, p *Port) [][]byte {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if out := takeAll(p.q); len(out) > 0 {
			return out
		}
	}
	t.Fatal("nothing queued")
	return nil
}

// checkRA checks an advertisement exactly: fields, then options in
// order; rdnss invalid means no RDNSS option.
func checkRA(t *testing.T, m pkt.NDPRouterAdvert, mac pkt.MAC, rdnss netip.Addr) {
	t.Helper()
	if !m.Valid() || m.CurHopLimit() != 64 || m.Flags() != 0 || m.RouterLifetime() != 1800 || m.ReachableTime() != 0 || m.RetransTimer() != 0 {
		t.Fatalf("RA % x", m)
	}
	it := m.Options()
	var types []uint8
	for it.Next() {
		types = append(types, it.Type())
		d := it.Data()
		switch it.Type() {
		case pkt.NDPOptSourceLLA:
			if !bytes.Equal(d, mac[:]) {
				t.Fatalf("SLLA % x", d)
			}
		case pkt.NDPOptMTU:
			if mtu, _ := pkt.NDPMTU(d); mtu != 1500 {
				t.Fatalf("MTU %d", mtu)
			}
		case pkt.NDPOptPrefixInfo:
			pi := pkt.NDPPrefixInfo(d)
			if pi.Prefix() != gw6.Masked() || pi.Flags() != pkt.NDPPrefixOnLink|pkt.NDPPrefixAuto || pi.ValidLifetime() != 86400 || pi.PreferredLifetime() != 14400 {
				t.Fatalf("prefix % x", d)
			}
		case pkt.NDPOptRDNSS:
			r := pkt.NDPRDNSS(d)
			if !r.Valid() || r.Count() != 1 || r.Addr(0) != rdnss || r.Lifetime() != 1800 {
				t.Fatalf("RDNSS % x", d)
			}
		}
	}
	want := []uint8{pkt.NDPOptSourceLLA, pkt.NDPOptMTU, pkt.NDPOptPrefixInfo}
	if rdnss.IsValid() {
		want = append(want, pkt.NDPOptRDNSS)
	}
	if it.Malformed() || !bytes.Equal(types, want) {
		t.Fatalf("options %v, want %v", types, want)
	}
}

func TestRouterSolicitation(t *testing.T) {
	p := newPort6("t", gw6, nil)
	ll := pkt.LinkLocalFromMAC(p.MAC())
	rs := make([]byte, pkt.NDPRouterSolicitLen+pkt.NDPLLAOptLen)
	pkt.ICMPv6(rs).EncodeHeader(pkt.ICMPv6RouterSolicit, 0, 0)
	w := pkt.NDPOptionWriter{B: rs, N: pkt.NDPRouterSolicitLen}
	w.AddLinkLayerAddr(pkt.NDPOptSourceLLA, guestMAC)
	frame := frame6(pkt.MulticastMAC6(pkt.IPv6AllRouters), guestMAC, guest6LL, pkt.IPv6AllRouters, 255, pkt.ProtoICMPv6, rs)
	now := time.Now()
	answered := 0
	for range 15 {
		f := frameOf(frame)
		p.handle(f.Bytes(), now)
		f.Release()
		for _, r := range takeAll(p.q) {
			checkRA(t, pkt.NDPRouterAdvert(checkICMPv6Frame(t, r, guestMAC, ll, guest6LL, 255)), p.MAC(), netip.Addr{})
			answered++
		}
	}
	// Ten a second: a flood of solicitations gets a bounded answer.
	if answered != 10 || p.Drops()[DropRateLimited] != 5 {
		t.Fatalf("%d answers, %d rate limited", answered, p.Drops()[DropRateLimited])
	}
}

// With DNS on, the advertisement names the gateway as DNS server.
func TestRAWithRDNSS(t *testing.T) {
	p, _ := newDNSPort(t)
	p.v6 = newV6(gw6, p.MAC())
	for i := range p.v6.state {
		p.v6.state[i].Store(addrPreferred)
	}
	f, b := newFrame()
	defer f.Release()
	n := p.writeRA(b, pkt.MulticastMAC6(pkt.IPv6AllNodes), pkt.IPv6AllNodes)
	ra := checkICMPv6Frame(t, b[:n], pkt.MulticastMAC6(pkt.IPv6AllNodes), pkt.LinkLocalFromMAC(p.MAC()), pkt.IPv6AllNodes, 255)
	checkRA(t, pkt.NDPRouterAdvert(ra), p.MAC(), gw6.Addr())
}

// TestRoute6 routes between two networks that share a Router6.
func TestRoute6(t *testing.T) {
	r := NewRouter6()
	a, b := newPort6("a", gw6, r), newPort6("b", gw6B, r)
	pktTo := func(dst netip.Addr, hop uint8) []byte {
		return frame6(a.MAC(), guestMAC, guest6, dst, hop, pkt.ProtoUDP, []byte("0123456789abcdef"))
	}
	// Unknown neighbour on b: dropped, and b solicits it.
	if out := exchange(t, a, pktTo(guest6B, 64)); len(out) != 0 {
		t.Fatalf("a answered % x", out[0])
	}
	ns := takeAll(b.q)
	g := pkt.SolicitedNode(guest6B)
	if len(ns) != 1 || pkt.NDPNeighSolicit(checkICMPv6Frame(t, ns[0], pkt.MulticastMAC6(g), gw6B.Addr(), g, 255)).Target() != guest6B || b.Drops()[DropNeighMiss] != 1 {
		t.Fatalf("b's solicitation: %d frames, drops %v", len(ns), b.Drops())
	}
	// The guest answers; the next packet crosses with its hop limit down one.
	exchange(t, b, frame6(b.MAC(), guestMACB, guest6B, gw6B.Addr(), 255, pkt.ProtoICMPv6, naMsg(guest6B, pkt.NDPNASolicited|pkt.NDPNAOverride, guestMACB)))
	in := pktTo(guest6B, 64)
	exchange(t, a, in)
	got := takeAll(b.q)
	want := append([]byte(nil), in...)
	pkt.Ethernet(want).Encode(&pkt.EthernetFields{Dst: guestMACB, Src: b.MAC(), Type: pkt.TypeIPv6})
	want[pkt.EthernetLen+7] = 63
	if len(got) != 1 || !bytes.Equal(got[0], want) {
		t.Fatalf("routed\n% x\nwant\n% x", got, want)
	}
	// Hop limit 1: time exceeded back to the sender, quoting the packet.
	out := exchange(t, a, pktTo(guest6B, 1))
	if len(out) != 1 {
		t.Fatalf("%d answers to hop limit 1", len(out))
	}
	c := checkICMPv6Frame(t, out[0], guestMAC, gw6.Addr(), guest6, 64)
	if c.Type() != pkt.ICMPv6TimeExceeded || c.Code() != 0 || !bytes.Equal(c.Payload(), pktTo(guest6B, 1)[pkt.EthernetLen:]) {
		t.Fatalf("time exceeded % x", c)
	}
	// No network for the prefix: destination unreachable, no route.
	out = exchange(t, a, pktTo(netip.MustParseAddr("2001:db8::1"), 64))
	if len(out) != 1 || checkICMPv6Frame(t, out[0], guestMAC, gw6.Addr(), guest6, 64).Type() != pkt.ICMPv6DstUnreach {
		t.Fatalf("no route: %d answers", len(out))
	}
	// A source outside a's prefix is not routed.
	spoof := frame6(a.MAC(), guestMAC, guest6B, guest6B, 64, pkt.ProtoUDP, []byte("x"))
	if out := exchange(t, a, spoof); len(out) != 0 || len(takeAll(b.q)) != 0 {
		t.Fatal("routed a spoofed source")
	}
	wantA := [NumDrops]uint64{DropTTLExceeded: 1, DropNotForUs: 1, DropBadSource: 1}
	if d := a.Drops(); d != wantA {
		t.Fatalf("a's drops %v, want %v", d, wantA)
	}
}

// TestGatewayAnswers6: TCP to the gateway's IPv6 address gets a RST and
// an upper layer it does not speak a parameter problem pointing at the
// next-header field that names it, as from a Linux host.
func TestGatewayAnswers6(t *testing.T) {
	p := newPort6("t", gw6, nil)
	gw := gw6.Addr()
	syn := make([]byte, pkt.TCPMinLen)
	pkt.TCP(syn).Encode(&pkt.TCPFields{SrcPort: 40000, DstPort: 22, Seq: 1000, Flags: pkt.TCPFlagSYN})
	out := exchange(t, p, frame6(p.MAC(), guestMAC, guest6, gw, 64, pkt.ProtoTCP, syn))
	if len(out) != 1 {
		t.Fatalf("%d answers to a SYN", len(out))
	}
	ip := pkt.IPv6(out[0][pkt.EthernetLen:])
	r := pkt.TCP(ip.Payload())
	if ip.Src() != gw || ip.Dst() != guest6 || ip.NextHeader() != pkt.ProtoTCP || !r.Valid() || r.SrcPort() != 22 || r.DstPort() != 40000 ||
		r.Flags() != pkt.TCPFlagRST|pkt.TCPFlagACK || r.Ack() != 1001 || r.ComputeChecksum(ip.PseudoHeaderChecksum(pkt.ProtoTCP, uint16(len(r)))) != r.Checksum() {
		t.Fatalf("RST % x", out[0])
	}
	for _, c := range []struct {
		name    string
		next    uint8
		payload []byte
		pointer uint32
	}{
		{"SCTP", 132, make([]byte, 12), 6},
		{"SCTP behind destination options", pkt.ProtoDestOpts, append([]byte{132, 0, 1, 4, 0, 0, 0, 0}, make([]byte, 12)...), 40},
	} {
		out := exchange(t, p, frame6(p.MAC(), guestMAC, guest6, gw, 64, c.next, c.payload))
		if len(out) != 1 {
			t.Fatalf("%s: %d answers", c.name, len(out))
		}
		m := checkICMPv6Frame(t, out[0], guestMAC, gw, guest6, 64)
		if m.Type() != pkt.ICMPv6ParamProblem || m.Code() != pkt.ICMPv6CodeUnknownNext || m.Word() != c.pointer {
			t.Fatalf("%s: % x", c.name, m)
		}
	}
}
