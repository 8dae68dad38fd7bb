package gateway

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/nat"
)

var (
	up6Pfx    = netip.MustParsePrefix("2001:db8:1::2/64")
	up6       = up6Pfx.Addr()
	router6   = netip.MustParseAddr("2001:db8:1::1")
	router6LL = netip.MustParseAddr("fe80::1")
	remote6   = netip.MustParseAddr("2001:db8:2::99")
	routed6   = netip.MustParsePrefix("fd00:123::1/64")
	routedG6  = netip.MustParseAddr("fd00:123::7")
)

// testUplink6 is a static uplink with address6 up6Pfx whose DAD passed,
// its next hop gw (invalid: learned from RA) resolved to routerMAC,
// and an outside MTU of mtu.
func testUplink6(gw netip.Addr, mtu int) *Uplink {
	u, _ := newUplink(true)
	u.cfg.Address6, u.cfg.Gateway6, u.cfg.MTU = up6Pfx, gw, mtu
	u.v6 = newUplink6(up6Pfx, gw, upMAC, mtu)
	for i := range u.v6.state {
		u.v6.state[i].Store(addrPreferred)
	}
	if gw.IsValid() {
		u.v6.neigh.learn(gw, routerMAC, t0)
	}
	return u
}

// route6Setup is a nat network (gw6, its guest guest6 known) and a routed
// one (routed6, its guest routedG6 known) on an uplink from testUplink6.
func route6Setup(t testing.TB, gw netip.Addr, mtu int) (natNet, routedNet *Port, u *Uplink) {
	u = testUplink6(gw, mtu)
	natNet, routedNet = attach6(t, u)
	return natNet, routedNet, u
}

// attach6 attaches route6Setup's two networks to u.
func attach6(t testing.TB, u *Uplink) (natNet, routedNet *Port) {
	r := NewRouter6()
	mk := func(name string, addr4 string, pfx netip.Prefix, mode config.Mode, g netip.Addr, mac pkt.MAC) *Port {
		p := New(Config{Network: name, VLAN: 1, Address: netip.MustParsePrefix(addr4), Address6: pfx, Router6: r, Mode: mode, Uplink: u})
		p.garp.Store(true)
		p.adv.Store(true)
		for i := range p.v6.state {
			p.v6.state[i].Store(addrPreferred)
		}
		u.Attach(p)
		exchange(t, p, frame6(p.MAC(), mac, g, pfx.Addr(), 255, pkt.ProtoICMPv6, naMsg(g, pkt.NDPNASolicited|pkt.NDPNAOverride, mac)))
		return p
	}
	natNet = mk("t", "10.30.0.1/24", gw6, config.ModeNAT, guest6, guestMAC)
	routedNet = mk("r", "10.31.0.1/24", routed6, config.ModeRouted, routedG6, guest2MAC)
	return natNet, routedNet
}

// udp6Frame frames an IPv6 UDP datagram with its checksum.
func udp6Frame(dmac, smac pkt.MAC, src, dst netip.Addr, hop uint8, sport, dport uint16, data []byte) []byte {
	l := make([]byte, pkt.UDPLen+len(data))
	binary.BigEndian.PutUint16(l[0:], sport)
	binary.BigEndian.PutUint16(l[2:], dport)
	binary.BigEndian.PutUint16(l[4:], uint16(len(l)))
	copy(l[pkt.UDPLen:], data)
	b := frame6(dmac, smac, src, dst, hop, pkt.ProtoUDP, l)
	ip := pkt.IPv6(b[pkt.EthernetLen:])
	u := b[icmp6Off:]
	binary.BigEndian.PutUint16(u[6:], ^pkt.Checksum(u, ip.PseudoHeaderChecksum(pkt.ProtoUDP, uint16(len(u)))))
	return b
}

// TestNAT66Route: a guest's UDP leaves masqueraded to the uplink's
// address, to the router's MAC, hop limit one lower; the reply comes back
// to the guest. A routed network's guest leaves and is reached with its
// own address. Unsolicited packets reach nobody.
func TestNAT66Route(t *testing.T) {
	p, r, u := route6Setup(t, router6, 0)
	data := []byte("nat66 query")
	exchange(t, p, udp6Frame(p.MAC(), guestMAC, guest6, remote6, 64, 5353, 53, data))
	want := udp6Frame(routerMAC, upMAC, up6, remote6, 63, 5353, 53, data)
	if got := sent(u); len(got) != 1 || !bytes.Equal(got[0], want) {
		t.Fatalf("out\n% x\nwant\n% x", got, want)
	}
	if !feed(u, udp6Frame(upMAC, routerMAC, remote6, up6, 50, 53, 5353, []byte("answer")), t0) {
		t.Fatal("reply not delivered")
	}
	if got, want := takeAll(p.q), udp6Frame(guestMAC, p.MAC(), remote6, guest6, 49, 53, 5353, []byte("answer")); len(got) != 1 || !bytes.Equal(got[0], want) {
		t.Fatalf("delivered\n% x\nwant\n% x", got, want)
	}
	if o, i := u.Translations6(); o != 1 || i != 1 {
		t.Fatalf("NAT66 translations %d %d", o, i)
	}
	if o, i := u.Translations(); o != 1 || i != 1 {
		t.Fatalf("translations %d %d", o, i)
	}

	// Routed: out and in untranslated.
	exchange(t, r, udp6Frame(r.MAC(), guest2MAC, routedG6, remote6, 64, 4000, 80, data))
	if got, want := sent(u), udp6Frame(routerMAC, upMAC, routedG6, remote6, 63, 4000, 80, data); len(got) != 1 || !bytes.Equal(got[0], want) {
		t.Fatalf("routed out\n% x\nwant\n% x", got, want)
	}
	if !feed(u, udp6Frame(upMAC, routerMAC, remote6, routedG6, 50, 80, 4000, data), t0) {
		t.Fatal("routed inbound not delivered")
	}
	if got, want := takeAll(r.q), udp6Frame(guest2MAC, r.MAC(), remote6, routedG6, 49, 80, 4000, data); len(got) != 1 || !bytes.Equal(got[0], want) {
		t.Fatalf("routed in\n% x\nwant\n% x", got, want)
	}
	if o, i := u.Translations6(); o != 1 || i != 1 {
		t.Fatalf("routed packets counted as translations: %d %d", o, i)
	}

	// Refused from the outside: unsolicited to the uplink's address, to
	// the nat network's prefix directly, from a network's own prefix,
	// with hop limit 1 for a routed guest.
	for _, c := range []struct {
		name string
		b    []byte
		want UplinkDropReason
	}{
		{"unsolicited", udp6Frame(upMAC, routerMAC, remote6, up6, 50, 53, 9999, data), UplinkNotTracked},
		{"to a nat guest", udp6Frame(upMAC, routerMAC, remote6, guest6, 50, 53, 5353, data), UplinkNotTracked},
		{"spoofed network source", udp6Frame(upMAC, routerMAC, guest6, routedG6, 50, 53, 5353, data), UplinkBadSource},
		{"link-local source", udp6Frame(upMAC, routerMAC, router6LL, routedG6, 50, 53, 5353, data), UplinkBadSource},
		{"hop limit", udp6Frame(upMAC, routerMAC, remote6, routedG6, 1, 53, 5353, data), UplinkTTL},
	} {
		before := u.Drops()
		if feed(u, c.b, t0) {
			t.Fatalf("%s: delivered", c.name)
		}
		before[c.want]++
		if d := u.Drops(); d != before {
			t.Fatalf("%s: drops %v, want %v", c.name, d, before)
		}
	}
	if n := len(takeAll(p.q)) + len(takeAll(r.q)); n != 0 {
		t.Fatalf("%d frames reached the networks", n)
	}
}

// TestNAT66NextHop: without the router's MAC the packet is dropped and
// the router solicited from the uplink's address; without gateway6 the
// router comes from an advertisement (its link-local source), and a
// lifetime of 0 withdraws it.
func TestNAT66NextHop(t *testing.T) {
	p, _, u := route6Setup(t, router6, 0)
	u.v6.neigh = newNeighbours(8) // the router unknown
	pktOut := udp6Frame(p.MAC(), guestMAC, guest6, remote6, 64, 5353, 53, []byte("q"))
	exchange(t, p, pktOut)
	got := sent(u)
	g := pkt.SolicitedNode(router6)
	if len(got) != 1 || pkt.NDPNeighSolicit(checkICMPv6Frame(t, got[0], pkt.MulticastMAC6(g), up6, g, 255)).Target() != router6 || u.Drops()[UplinkNeighMiss] != 1 {
		t.Fatalf("solicitation %d frames, drops %v", len(got), u.Drops())
	}
	// The router answers; the next packet goes.
	feed(u, frame6(upMAC, routerMAC, router6, up6, 255, pkt.ProtoICMPv6, naMsg(router6, pkt.NDPNASolicited|pkt.NDPNARouter, routerMAC)), t0)
	exchange(t, p, pktOut)
	if got := sent(u); len(got) != 1 || pkt.Ethernet(got[0]).Dst() != routerMAC {
		t.Fatalf("after the NA: % x", got)
	}

	// No gateway6: no route until an RA names one.
	p, _, u = route6Setup(t, netip.Addr{}, 0)
	exchange(t, p, pktOut)
	if d := u.Drops(); d[UplinkNoRoute] != 1 || len(sent(u)) != 0 {
		t.Fatalf("drops %v", d)
	}
	ra := func(lifetime uint16) []byte {
		m := make([]byte, pkt.NDPRouterAdvertLen+pkt.NDPLLAOptLen)
		pkt.NDPRouterAdvert(m).Encode(&pkt.NDPRouterAdvertFields{CurHopLimit: 64, RouterLifetime: lifetime})
		w := pkt.NDPOptionWriter{B: m, N: pkt.NDPRouterAdvertLen}
		w.AddLinkLayerAddr(pkt.NDPOptSourceLLA, routerMAC)
		return frame6(pkt.MulticastMAC6(pkt.IPv6AllNodes), routerMAC, router6LL, pkt.IPv6AllNodes, 255, pkt.ProtoICMPv6, m)
	}
	feed(u, ra(1800), t0)
	if u.Gateway6() != router6LL {
		t.Fatalf("router %v", u.Gateway6())
	}
	exchange(t, p, pktOut)
	if got := sent(u); len(got) != 1 || pkt.Ethernet(got[0]).Dst() != routerMAC {
		t.Fatalf("via the learned router: % x", got)
	}
	feed(u, ra(0), t0)
	if u.Gateway6().IsValid() {
		t.Fatalf("router %v after lifetime 0", u.Gateway6())
	}
	// With gateway6, an RA changes nothing.
	_, _, u = route6Setup(t, router6, 0)
	feed(u, ra(1800), t0)
	if u.Gateway6() != router6 {
		t.Fatalf("gateway6 replaced by %v", u.Gateway6())
	}
}

// TestUplink6NDP: the uplink probes its two addresses, then announces
// them and solicits gateway6; it answers solicitations and pings for its
// addresses once DAD has passed, and a probe or advertisement for one
// while tentative makes it a duplicate it never uses.
func TestUplink6NDP(t *testing.T) {
	for _, dup := range []bool{false, true} {
		u, _ := newUplink(true)
		u.v6 = newUplink6(up6Pfx, router6, upMAC, 0)
		ll := pkt.LinkLocalFromMAC(upMAC)
		wait := make(chan time.Time)
		u.wg.Add(1)
		done := make(chan struct{})
		go func() { u.dad6(func(time.Duration) <-chan time.Time { return wait }); close(done) }()
		var probes [][]byte
		waitFor(t, func() bool { probes = append(probes, sent(u)...); return len(probes) == 2 })
		for i, a := range []netip.Addr{ll, up6} {
			g := pkt.SolicitedNode(a)
			if m := pkt.NDPNeighSolicit(checkICMPv6Frame(t, probes[i], pkt.MulticastMAC6(g), netip.IPv6Unspecified(), g, 255)); m.Target() != a || len(m) != pkt.NDPNeighSolicitLen {
				t.Fatalf("probe %d % x", i, m)
			}
		}
		ns := frame6(pkt.MulticastMAC6(pkt.SolicitedNode(up6)), routerMAC, router6, pkt.SolicitedNode(up6), 255, pkt.ProtoICMPv6, nsMsg(up6, routerMAC))
		if feed(u, ns, t0); len(sent(u)) != 0 {
			t.Fatal("answered for a tentative address")
		}
		if dup {
			probe := frame6(pkt.MulticastMAC6(pkt.SolicitedNode(up6)), otherMAC, netip.IPv6Unspecified(), pkt.SolicitedNode(up6), 255, pkt.ProtoICMPv6, nsMsg(up6, pkt.MAC{}))
			feed(u, probe, t0)
		}
		wait <- time.Time{}
		<-done
		got := sent(u)
		if want := map[bool]int{false: 3, true: 2}[dup]; len(got) != want { // NA per usable address, NS for the router
			t.Fatalf("duplicate %v: %d frames after DAD, want %d", dup, len(got), want)
		}
		na := pkt.NDPNeighAdvert(checkICMPv6Frame(t, got[0], pkt.MulticastMAC6(pkt.IPv6AllNodes), ll, pkt.IPv6AllNodes, 255))
		if na.Target() != ll || na.Flags() != pkt.NDPNARouter|pkt.NDPNAOverride {
			t.Fatalf("announcement % x", na)
		}
		src := up6
		if dup {
			src = ll // the global address is not used
		}
		g := pkt.SolicitedNode(router6)
		if m := pkt.NDPNeighSolicit(checkICMPv6Frame(t, got[len(got)-1], pkt.MulticastMAC6(g), src, g, 255)); m.Target() != router6 {
			t.Fatalf("router solicitation % x", m)
		}
		feed(u, ns, t0)
		answers := sent(u)
		if dup {
			if len(answers) != 0 || u.Address6() != up6Pfx {
				t.Fatalf("answered for a duplicate: %d", len(answers))
			}
			continue
		}
		if len(answers) != 1 {
			t.Fatalf("%d answers to NS", len(answers))
		}
		a := pkt.NDPNeighAdvert(checkICMPv6Frame(t, answers[0], routerMAC, up6, router6, 255))
		if a.Target() != up6 || a.Flags() != pkt.NDPNARouter|pkt.NDPNASolicited|pkt.NDPNAOverride {
			t.Fatalf("NA % x", a)
		}
		if m, ok := u.v6.neigh.lookup(router6); !ok || m != routerMAC {
			t.Fatal("the solicitor not learned")
		}
		// Ping, and what is not answered: a forged hop limit, another's
		// target, a spoofed link-layer address.
		echo := frame6(upMAC, routerMAC, remote6, up6, 60, pkt.ProtoICMPv6, []byte{pkt.ICMPv6EchoRequest, 0, 0, 0, 0, 7, 0, 1, 'h', 'i'})
		feed(u, echo, t0)
		r := sent(u)
		if len(r) != 1 {
			t.Fatalf("%d echo replies", len(r))
		}
		if c := checkICMPv6Frame(t, r[0], routerMAC, up6, remote6, 64); c.Type() != pkt.ICMPv6EchoReply || !bytes.Equal(c[4:], []byte{0, 7, 0, 1, 'h', 'i'}) {
			t.Fatalf("echo reply % x", c)
		}
		hop := append([]byte(nil), ns...)
		hop[pkt.EthernetLen+7] = 64
		other := frame6(pkt.MulticastMAC6(pkt.SolicitedNode(remote6)), routerMAC, router6, pkt.SolicitedNode(remote6), 255, pkt.ProtoICMPv6, nsMsg(router6, routerMAC))
		spoof := frame6(pkt.MulticastMAC6(pkt.SolicitedNode(up6)), routerMAC, router6, pkt.SolicitedNode(up6), 255, pkt.ProtoICMPv6, nsMsg(up6, otherMAC))
		for _, b := range [][]byte{hop, other, spoof} {
			feed(u, b, t0)
		}
		if n := len(sent(u)); n != 0 || u.Drops()[UplinkMalformed] != 1 {
			t.Fatalf("%d answers to the refused, drops %v", n, u.Drops())
		}
	}
}

// TestPacketTooBig6: a guest's packet larger than the uplink's MTU is
// answered with Packet Too Big naming that MTU and quoting it, never sent;
// one of exactly the MTU goes. From the outside, a packet larger than the
// networks' 1500 gets Packet Too Big from the uplink's address.
func TestPacketTooBig6(t *testing.T) {
	p, r, u := route6Setup(t, router6, 1400)
	sized := func(n int) []byte { // an IPv6 packet of n bytes
		return udp6Frame(p.MAC(), guestMAC, guest6, remote6, 64, 5353, 53, make([]byte, n-pkt.IPv6Len-pkt.UDPLen))
	}
	big := sized(1401)
	out := exchange(t, p, big)
	if len(out) != 1 || len(sent(u)) != 0 {
		t.Fatalf("%d answers, sent anyway", len(out))
	}
	c := checkICMPv6Frame(t, out[0], guestMAC, gw6.Addr(), guest6, 64)
	if c.Type() != pkt.ICMPv6PacketTooBig || c.Code() != 0 || c.Word() != 1400 || !bytes.Equal(c.Payload(), big[pkt.EthernetLen:pkt.EthernetLen+icmp6MaxQuote]) {
		t.Fatalf("packet too big: type %d mtu %d, quote %d bytes", c.Type(), c.Word(), len(c.Payload()))
	}
	if d := p.Drops(); d[DropTooBig] != 1 {
		t.Fatalf("drops %v", d)
	}
	if exchange(t, p, sized(1400)); len(sent(u)) != 1 {
		t.Fatal("a packet of the MTU not sent")
	}
	// Inbound, for a routed guest.
	in := udp6Frame(upMAC, routerMAC, remote6, routedG6, 50, 80, 4000, make([]byte, 1501-pkt.IPv6Len-pkt.UDPLen))
	if feed(u, in, t0) || len(takeAll(r.q)) != 0 {
		t.Fatal("delivered")
	}
	got := sent(u)
	if len(got) != 1 || u.Drops()[UplinkTooBig] != 1 {
		t.Fatalf("%d answers, drops %v", len(got), u.Drops())
	}
	if c := checkICMPv6Frame(t, got[0], routerMAC, up6, remote6, 64); c.Type() != pkt.ICMPv6PacketTooBig || c.Word() != DefaultMTU {
		t.Fatalf("packet too big type %d mtu %d", c.Type(), c.Word())
	}
	if !feed(u, udp6Frame(upMAC, routerMAC, remote6, routedG6, 50, 80, 4000, make([]byte, 1500-pkt.IPv6Len-pkt.UDPLen)), t0) {
		t.Fatal("a packet of 1500 not delivered")
	}
}

// TestNAT66ForwardAndHairpin: a port forward to an IPv6 guest is reached
// at the uplink's IPv6 address from the outside, and from another guest
// through the uplink's address (hairpin), which it sees as the source.
func TestNAT66ForwardAndHairpin(t *testing.T) {
	p, _, u := route6Setup(t, router6, 0)
	u.cfg.NAT.SetForwards([]nat.Forward{{Proto: pkt.ProtoUDP, Port: 8080, To: netip.AddrPortFrom(guest6, 80)}})
	if !feed(u, udp6Frame(upMAC, routerMAC, remote6, up6, 50, 4000, 8080, []byte("fw")), t0) {
		t.Fatal("forward not delivered")
	}
	if got, want := takeAll(p.q), udp6Frame(guestMAC, p.MAC(), remote6, guest6, 49, 4000, 80, []byte("fw")); len(got) != 1 || !bytes.Equal(got[0], want) {
		t.Fatalf("forwarded\n% x\nwant\n% x", got, want)
	}
	// Hairpin from a second guest of the network.
	g2 := netip.MustParseAddr("fd00:122::6")
	exchange(t, p, frame6(p.MAC(), guest2MAC, g2, gw6.Addr(), 255, pkt.ProtoICMPv6, naMsg(g2, pkt.NDPNASolicited, guest2MAC)))
	got := exchange(t, p, udp6Frame(p.MAC(), guest2MAC, g2, up6, 64, 5000, 8080, []byte("hp")))
	if up := sent(u); len(up) != 0 {
		t.Fatalf("hairpin went out: % x", up)
	}
	if want := udp6Frame(guestMAC, p.MAC(), up6, guest6, 62, 5000, 80, []byte("hp")); len(got) != 1 || !bytes.Equal(got[0], want) {
		t.Fatalf("hairpin\n% x\nwant\n% x", got, want)
	}
}
