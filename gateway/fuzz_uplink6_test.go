package gateway

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/internal/autoconf6"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/nat"
	vswitch "github.com/vswitch/vswitch/switch"
)

// FuzzUplink6 sends arbitrary frames from the outside to an uplink with
// address6, a nat and a routed network behind it, and a flow and a port
// forward open. Nothing may panic. What the uplink sends itself is
// well formed: from its MAC, ICMPv6 from one of its addresses with a
// checksum that verifies, NDP with hop limit 255. What reaches a network
// is the input's packet for that network (a routed guest by its own
// address, a nat guest only by translation), hop limit one lower. The
// uplink learns no neighbour at a MAC that is not the frame's source.
func FuzzUplink6(f *testing.F) {
	data := []byte("0123456789abcdef")
	f.Add(udp6Frame(upMAC, routerMAC, remote6, up6, 50, 53, 5353, data))
	f.Add(udp6Frame(upMAC, routerMAC, remote6, up6, 50, 4000, 8080, data))
	f.Add(udp6Frame(upMAC, routerMAC, remote6, routedG6, 50, 80, 4000, data))
	f.Add(frame6(pkt.MulticastMAC6(pkt.SolicitedNode(up6)), otherMAC, remote6, pkt.SolicitedNode(up6), 255, pkt.ProtoICMPv6, nsMsg(up6, otherMAC)))
	f.Add(frame6(upMAC, otherMAC, router6, up6, 255, pkt.ProtoICMPv6, naMsg(router6, pkt.NDPNASolicited, otherMAC)))
	f.Add(frame6(upMAC, routerMAC, remote6, up6, 60, pkt.ProtoICMPv6, []byte{pkt.ICMPv6EchoRequest, 0, 0, 0, 0, 7, 0, 1}))
	ra := make([]byte, pkt.NDPRouterAdvertLen)
	pkt.NDPRouterAdvert(ra).Encode(&pkt.NDPRouterAdvertFields{CurHopLimit: 64, RouterLifetime: 1800})
	f.Add(frame6(pkt.MulticastMAC6(pkt.IPv6AllNodes), otherMAC, router6LL, pkt.IPv6AllNodes, 255, pkt.ProtoICMPv6, ra))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > vswitch.SmallDataLen {
			return
		}
		p, r, u := route6Setup(t, router6, 0)
		u.cfg.NAT.SetForwards([]nat.Forward{{Proto: pkt.ProtoUDP, Port: 8080, To: netip.AddrPortFrom(guest6, 80)}})
		exchange(t, p, udp6Frame(p.MAC(), guestMAC, guest6, remote6, 64, 5353, 53, data))
		sent(u)
		feed(u, b, t0)
		for _, out := range sent(u) {
			checkUplinkEmitted6(t, u, out)
		}
		for _, n := range []*Port{p, r} {
			for _, out := range takeAll(n.q) {
				checkDelivered6(t, n, out, b)
			}
		}
		checkLearned6(t, u, b)
	})
}

// checkUplinkEmitted6 checks a frame the uplink built itself.
func checkUplinkEmitted6(t *testing.T, u *Uplink, r []byte) {
	t.Helper()
	eth := pkt.Ethernet(r)
	ip := pkt.IPv6(eth.Payload())
	if eth.Src() != u.mac || eth.Type() != pkt.TypeIPv6 || !ip.Valid() || u.v6.own(ip.Src()) < 0 || ip.NextHeader() != pkt.ProtoICMPv6 {
		t.Fatalf("uplink sent % x", r)
	}
	checkICMPv6Emitted(t, ip, r)
}

// checkICMPv6Emitted checks the ICMPv6 message in ip (of frame r) that
// an uplink sent: whole, its checksum verifies, and NDP has hop limit
// 255.
func checkICMPv6Emitted(t *testing.T, ip pkt.IPv6, r []byte) {
	t.Helper()
	c := pkt.ICMPv6(ip.Payload())
	if !c.Valid() || !c.ChecksumOK(ip.PseudoHeaderChecksum(pkt.ProtoICMPv6, uint16(len(c)))) {
		t.Fatalf("uplink's ICMPv6 % x", r)
	}
	if pkt.NDPOptionsOffset(c.Type()) > 0 && ip.HopLimit() != 255 {
		t.Fatalf("NDP with hop limit %d", ip.HopLimit())
	}
}

// checkDelivered6 checks a frame the uplink put on network n: the input
// packet to a guest of n, hop limit one lower; to the nat network only
// translated (from the uplink's address, so not its own bytes).
func checkDelivered6(t *testing.T, n *Port, r, in []byte) {
	t.Helper()
	eth := pkt.Ethernet(r)
	ip := pkt.IPv6(eth.Payload())
	if eth.Src() != n.MAC() || eth.Type() != pkt.TypeIPv6 || !ip.Valid() {
		t.Fatalf("delivered to %s: % x", n.cfg.Network, r)
	}
	inIP := pkt.IPv6(in[pkt.EthernetLen:])
	if n.v6.own(ip.Src()) >= 0 {
		// The gateway asking for a guest it does not know yet: for the
		// input's destination, or its translation.
		c := pkt.ICMPv6(ip.Payload())
		if c.Type() != pkt.ICMPv6NeighSolicit || !n.v6.inPrefix(pkt.NDPNeighSolicit(c).Target()) ||
			n.cfg.Mode == config.ModeRouted && pkt.NDPNeighSolicit(c).Target() != inIP.Dst() {
			t.Fatalf("%s's gateway sent % x", n.cfg.Network, r)
		}
		return
	}
	if !n.v6.inPrefix(ip.Dst()) {
		t.Fatalf("delivered to %s for %v: % x", n.cfg.Network, ip.Dst(), r)
	}
	if ip.HopLimit() != inIP.HopLimit()-1 || ip.Src() != inIP.Src() {
		t.Fatalf("delivered hop %d from %v; input hop %d from %v", ip.HopLimit(), ip.Src(), inIP.HopLimit(), inIP.Src())
	}
	if n.cfg.Mode == config.ModeRouted && !bytes.Equal(r[pkt.EthernetLen+8:pkt.EthernetLen+ip.Len()], in[pkt.EthernetLen+8:pkt.EthernetLen+ip.Len()]) {
		t.Fatalf("routed packet changed: % x from % x", r, in)
	}
	if n.cfg.Mode != config.ModeRouted && inIP.Dst() != up6 {
		t.Fatalf("a nat guest reached at %v", inIP.Dst())
	}
}

// FuzzUplinkAuto6 sends two arbitrary frames from the outside to an
// uplink with address6: auto that has learned autoAddr and its router,
// the client's timers run after each (step apart). Nothing may panic.
// What the uplink sends is IPv6 from its MAC: ICMPv6 with a checksum
// that verifies (NDP with hop limit 255) from the unspecified address (a
// DAD probe) or an address it holds, or DHCPv6 from its link-local
// address. What reaches the nat network came for the address the uplink
// held when the frame arrived. It learns no neighbour at a MAC that is
// neither the frame's source nor the router's.
func FuzzUplinkAuto6(f *testing.F) {
	data := []byte("0123456789abcdef")
	other := netip.MustParsePrefix("2001:db8:5::/64")
	ra2 := autoRA(1800)
	copy(ra2[len(ra2)-16:], other.Addr().AsSlice()) // the prefix option ends the RA
	resum(ra2)
	dhcp := udp6Frame(upMAC, routerMAC, router6LL, pkt.LinkLocalFromMAC(upMAC), 64, pkt.DHCPv6ServerPort, pkt.DHCPv6ClientPort, []byte{2, 1, 2, 3, 0, 1, 0, 0})
	f.Add(autoRA(1800), udp6Frame(upMAC, routerMAC, remote6, autoAddr, 50, 53, 5353, data), uint16(100))
	f.Add(ra2, frame6(pkt.MulticastMAC6(pkt.SolicitedNode(autoAddr)), otherMAC, remote6, pkt.SolicitedNode(autoAddr), 255, pkt.ProtoICMPv6, nsMsg(autoAddr, otherMAC)), uint16(1500))
	f.Add(autoRA(0), frame6(upMAC, routerMAC, remote6, autoAddr, 60, pkt.ProtoICMPv6, []byte{pkt.ICMPv6EchoRequest, 0, 0, 0, 0, 7, 0, 1}), uint16(0))
	f.Add(dhcp, frame6(upMAC, otherMAC, router6, autoAddr, 255, pkt.ProtoICMPv6, naMsg(router6, pkt.NDPNASolicited, otherMAC)), uint16(3000))
	f.Fuzz(func(t *testing.T, b1, b2 []byte, step uint16) {
		if len(b1) > vswitch.SmallDataLen || len(b2) > vswitch.SmallDataLen {
			return
		}
		p, u, clk := autoUplink6(t, netip.Addr{})
		tickUntil(t, u, clk, func(s autoconf6.State) bool { return s.LinkLocal.IsValid() })
		feed(u, autoRA(1800), clk.Now())
		tickUntil(t, u, clk, func(s autoconf6.State) bool { return s.Addr.IsValid() })
		exchange(t, p, udp6Frame(p.MAC(), guestMAC, guest6, remote6, 64, 5353, 53, data))
		sent(u)
		for _, b := range [][]byte{b1, b2} {
			held := u.Address6().Addr()
			feed(u, b, clk.Now())
			for _, out := range sent(u) {
				checkAutoEmitted6(t, u, out)
			}
			clk.Advance(time.Duration(step) * time.Millisecond)
			u.v6.auto.Tick(clk.Now())
			for _, out := range sent(u) {
				checkAutoEmitted6(t, u, out)
			}
			for _, out := range takeAll(p.q) {
				ip := pkt.IPv6(pkt.Ethernet(out).Payload())
				if !ip.Valid() || p.v6.own(ip.Src()) >= 0 {
					continue // the gateway soliciting a guest
				}
				if in := pkt.IPv6(b[pkt.EthernetLen:]); !p.v6.inPrefix(ip.Dst()) || in.Dst() != held {
					t.Fatalf("delivered for %v to %v, the uplink holding %v", in.Dst(), ip.Dst(), held)
				}
			}
			checkLearned6(t, u, b)
		}
	})
}

// checkAutoEmitted6 checks a frame an address6: auto uplink sent: its
// own or its client's.
func checkAutoEmitted6(t *testing.T, u *Uplink, r []byte) {
	t.Helper()
	eth := pkt.Ethernet(r)
	ip := pkt.IPv6(eth.Payload())
	if eth.Src() != u.mac || eth.Type() != pkt.TypeIPv6 || !ip.Valid() {
		t.Fatalf("uplink sent % x", r)
	}
	ll := pkt.LinkLocalFromMAC(u.mac)
	switch ip.NextHeader() {
	case pkt.ProtoUDP:
		if d := pkt.UDP(ip.Payload()); ip.Src() != ll || !d.Valid() || d.SrcPort() != pkt.DHCPv6ClientPort {
			t.Fatalf("uplink sent UDP % x", r)
		}
	case pkt.ProtoICMPv6:
		checkICMPv6Emitted(t, ip, r)
		if s := ip.Src(); !s.IsUnspecified() && s != ll && u.v6.own(s) < 0 {
			t.Fatalf("ICMPv6 from %v, not an address the uplink holds: % x", s, r)
		}
	default:
		t.Fatalf("uplink sent protocol %d: % x", ip.NextHeader(), r)
	}
}

// checkLearned6 checks that u learned no IPv6 neighbour from frame b at
// a MAC that is neither b's source nor the router's.
func checkLearned6(t *testing.T, u *Uplink, b []byte) {
	t.Helper()
	src := pkt.Ethernet(b)
	u.v6.neigh.m.Range(func(a netip.Addr, e *neighbour) bool {
		if e.mac != routerMAC && (len(b) < pkt.EthernetLen || e.mac != src.Src()) {
			t.Fatalf("learned %v at %v from a frame from %v", a, e.mac, src.Src())
		}
		return true
	})
}
