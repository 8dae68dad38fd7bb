package gateway

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/autoconf6"
	"github.com/vswitch/vswitch/internal/pkt"
)

var (
	autoPfx  = netip.MustParsePrefix("2001:db8:1::/64")
	autoAddr = netip.MustParseAddr("2001:db8:1::ff:fe00:aa") // autoPfx + the EUI-64 of upMAC
)

// autoUplink6 is an uplink with address6: auto (and gateway6 gw, if
// valid) on a fake clock, with route6Setup's networks attached.
func autoUplink6(t testing.TB, gw netip.Addr) (natNet *Port, u *Uplink, clk *fakeClock) {
	u, _ = newUplink(true)
	clk = newFakeClock()
	u.clk = clk
	u.cfg.Auto6, u.cfg.Gateway6 = true, gw
	u.v6 = u.newAuto6()
	natNet, _ = attach6(t, u)
	return natNet, u, clk
}

// tickUntil advances clk in TickInterval steps, ticking u's client as
// its timer goroutine would, until cond holds (at most 10 s of the fake
// clock); it returns what u sent meanwhile.
func tickUntil(t testing.TB, u *Uplink, clk *fakeClock, cond func(autoconf6.State) bool) [][]byte {
	t.Helper()
	var out [][]byte
	for range 100 {
		u.v6.auto.Tick(clk.Now())
		out = append(out, sent(u)...)
		if cond(u.v6.auto.State()) {
			return out
		}
		clk.Advance(autoconf6.TickInterval)
	}
	t.Fatalf("not reached: state %+v", u.v6.auto.State())
	return nil
}

// autoRA is a router advertisement from router6LL (routerMAC) with
// autoPfx for SLAAC, on-link.
func autoRA(lifetime uint16) []byte { return autoRAMTU(lifetime, 0) }

// autoRAMTU is autoRA with an MTU option, unless mtu is 0; the prefix
// option stays last.
func autoRAMTU(lifetime uint16, mtu uint32) []byte {
	n := pkt.NDPRouterAdvertLen + pkt.NDPLLAOptLen + pkt.NDPPrefixOptLen
	if mtu > 0 {
		n += pkt.NDPMTUOptLen
	}
	m := make([]byte, n)
	pkt.NDPRouterAdvert(m).Encode(&pkt.NDPRouterAdvertFields{CurHopLimit: 64, RouterLifetime: lifetime})
	w := pkt.NDPOptionWriter{B: m, N: pkt.NDPRouterAdvertLen}
	w.AddLinkLayerAddr(pkt.NDPOptSourceLLA, routerMAC)
	if mtu > 0 {
		w.AddMTU(mtu)
	}
	w.AddPrefixInfo(autoPfx, pkt.NDPPrefixOnLink|pkt.NDPPrefixAuto, 86400, 14400)
	return frame6(pkt.MulticastMAC6(pkt.IPv6AllNodes), routerMAC, router6LL, pkt.IPv6AllNodes, 255, pkt.ProtoICMPv6, m)
}

// TestUplinkAuto6: an uplink with address6: auto takes its address by
// SLAAC from the outside's advertisement and its router from it: until
// then a guest's IPv6 counts no_address; then NAT66 masquerades to the
// exact EUI-64 address, to the router's MAC from the advertisement (no
// solicitation first), the answer comes back, and the uplink answers
// neighbour solicitations for its link-local and SLAAC addresses. Closing
// the uplink takes the address away.
func TestUplinkAuto6(t *testing.T) {
	p, u, clk := autoUplink6(t, netip.Addr{})
	ll := pkt.LinkLocalFromMAC(upMAC)
	data := []byte("auto6 query")
	query := udp6Frame(p.MAC(), guestMAC, guest6, remote6, 64, 5353, 53, data)

	// The link-local address is probed, then routers solicited.
	probes := tickUntil(t, u, clk, func(s autoconf6.State) bool { return s.LinkLocal == ll })
	exchange(t, p, query)
	if d := u.Drops(); d[UplinkNoAddress] != 1 || d != [NumUplinkDrops]uint64{UplinkNoAddress: 1} || len(sent(u)) != 0 {
		t.Fatalf("before any address: drops %v", d)
	}
	probes = append(probes, tickUntil(t, u, clk, func(autoconf6.State) bool { return true })...)
	var rs int
	for _, f := range probes {
		if c := pkt.ICMPv6(pkt.IPv6(pkt.Ethernet(f).Payload()).Payload()); c.Type() == pkt.ICMPv6RouterSolicit {
			rs++
		}
	}
	if rs == 0 {
		t.Fatalf("no router solicitation among %d frames", len(probes))
	}

	// The advertisement is the client's (consumed), its router known at once.
	if feed(u, autoRA(1800), clk.Now()) {
		t.Fatal("RA handed on")
	}
	if e := u.Autoconf6().Events(); e[autoconf6.EventRA] != 1 {
		t.Fatalf("events %v", e)
	}
	if m, ok := u.v6.neigh.lookup(router6LL); !ok || m != routerMAC || u.Gateway6() != router6LL {
		t.Fatalf("router %v, its MAC %v %v", u.Gateway6(), m, ok)
	}
	tickUntil(t, u, clk, func(s autoconf6.State) bool { return s.Addr.IsValid() })
	if a := u.Address6(); a != netip.PrefixFrom(autoAddr, 64) {
		t.Fatalf("address %v, want %v/64", a, autoAddr)
	}

	exchange(t, p, query)
	want := udp6Frame(routerMAC, upMAC, autoAddr, remote6, 63, 5353, 53, data)
	if got := sent(u); len(got) != 1 || !bytes.Equal(got[0], want) {
		t.Fatalf("out\n% x\nwant\n% x", got, want)
	}
	if !feed(u, udp6Frame(upMAC, routerMAC, remote6, autoAddr, 50, 53, 5353, []byte("answer")), clk.Now()) {
		t.Fatalf("answer not delivered: drops %v", u.Drops())
	}
	if got, want := takeAll(p.q), udp6Frame(guestMAC, p.MAC(), remote6, guest6, 49, 53, 5353, []byte("answer")); len(got) != 1 || !bytes.Equal(got[0], want) {
		t.Fatalf("delivered\n% x\nwant\n% x", got, want)
	}

	// Neighbour solicitations for both addresses are answered.
	for _, target := range []netip.Addr{ll, autoAddr} {
		g := pkt.SolicitedNode(target)
		feed(u, frame6(pkt.MulticastMAC6(g), routerMAC, router6LL, g, 255, pkt.ProtoICMPv6, nsMsg(target, routerMAC)), clk.Now())
		got := sent(u)
		if len(got) != 1 {
			t.Fatalf("%v: %d answers", target, len(got))
		}
		if na := pkt.NDPNeighAdvert(checkICMPv6Frame(t, got[0], routerMAC, target, router6LL, 255)); na.Target() != target {
			t.Fatalf("NA % x", na)
		}
	}
	if d := u.Drops(); d != [NumUplinkDrops]uint64{UplinkNoAddress: 1} {
		t.Fatalf("drops %v", d)
	}

	u.stop6()
	exchange(t, p, query)
	if d := u.Drops(); d[UplinkNoAddress] != 2 || u.Address6().IsValid() || len(sent(u)) != 0 {
		t.Fatalf("after stop: address %v, drops %v", u.Address6(), d)
	}
}

// TestUplinkAuto6Gateway: gateway6 given with address6: auto overrides
// the advertised router: packets go to it, solicited from the learned
// address.
func TestUplinkAuto6Gateway(t *testing.T) {
	p, u, clk := autoUplink6(t, router6)
	tickUntil(t, u, clk, func(s autoconf6.State) bool { return s.LinkLocal.IsValid() })
	feed(u, autoRA(1800), clk.Now())
	tickUntil(t, u, clk, func(s autoconf6.State) bool { return s.Addr.IsValid() })
	if u.Gateway6() != router6 {
		t.Fatalf("gateway %v", u.Gateway6())
	}
	exchange(t, p, udp6Frame(p.MAC(), guestMAC, guest6, remote6, 64, 5353, 53, []byte("q")))
	got := sent(u)
	g := pkt.SolicitedNode(router6)
	if len(got) != 1 || pkt.NDPNeighSolicit(checkICMPv6Frame(t, got[0], pkt.MulticastMAC6(g), autoAddr, g, 255)).Target() != router6 || u.Drops()[UplinkNeighMiss] != 1 {
		t.Fatalf("%d frames, drops %v", len(got), u.Drops())
	}
}

// TestUplinkAuto6Timer: the uplink's goroutine runs the client's timers
// on its own: started, it probes its link-local address (DAD, from the
// unspecified address) within the first second; closed, it stops.
func TestUplinkAuto6Timer(t *testing.T) {
	_, u, clk := autoUplink6(t, netip.Addr{})
	u.wg.Add(1)
	go u.autoconf6()
	ll := pkt.LinkLocalFromMAC(upMAC)
	g := pkt.SolicitedNode(ll)
	var got [][]byte
	waitFor(t, func() bool { // the fake clock runs 10 ms a real millisecond
		clk.Advance(10 * time.Millisecond)
		got = append(got, sent(u)...)
		return len(got) > 0
	})
	if m := pkt.NDPNeighSolicit(checkICMPv6Frame(t, got[0], pkt.MulticastMAC6(g), netip.IPv6Unspecified(), g, 255)); m.Target() != ll {
		t.Fatalf("probe % x", m)
	}
	close(u.done)
	u.wg.Wait()
}

// TestUplinkAuto6MTU: an advertised MTU below the device's is the
// uplink's: a guest's packet one byte larger gets Packet Too Big naming
// it, one of exactly that size leaves.
func TestUplinkAuto6MTU(t *testing.T) {
	p, u, clk := autoUplink6(t, netip.Addr{})
	tickUntil(t, u, clk, func(s autoconf6.State) bool { return s.LinkLocal.IsValid() })
	feed(u, autoRAMTU(1800, 1280), clk.Now())
	tickUntil(t, u, clk, func(s autoconf6.State) bool { return s.Addr.IsValid() })
	sized := func(n int) []byte {
		return udp6Frame(p.MAC(), guestMAC, guest6, remote6, 64, 5353, 53, make([]byte, n-pkt.IPv6Len-pkt.UDPLen))
	}
	out := exchange(t, p, sized(1281))
	if len(out) != 1 || len(sent(u)) != 0 {
		t.Fatalf("%d answers, sent anyway", len(out))
	}
	if c := checkICMPv6Frame(t, out[0], guestMAC, gw6.Addr(), guest6, 64); c.Type() != pkt.ICMPv6PacketTooBig || c.Word() != 1280 {
		t.Fatalf("answer % x", c)
	}
	exchange(t, p, sized(1280))
	if got := sent(u); len(got) != 1 || len(got[0]) != pkt.EthernetLen+1280 {
		t.Fatalf("a packet of exactly the MTU: %d frames", len(got))
	}
}
