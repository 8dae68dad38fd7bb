package gateway

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/config"
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
