package gateway

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/dhcp"
	"github.com/vswitch/vswitch/internal/pkt"
)

// Tests of the gateway against guests that lie about their addresses.

// Only a guest address of the network is routed out; any other source is
// dropped as bad_source before conntrack or the uplink see it, in nat
// and routed mode alike.
func TestRouteSource(t *testing.T) {
	sources := []struct {
		name string
		src  string
	}{
		{"a guest of another nat network", "10.50.0.7"},
		{"a guest of a routed network", "10.60.0.7"},
		{"the uplink's own address", upIP.String()},
		{"an outside address", remoteIP.String()},
		{"the gateway's own address", "10.30.0.1"},
		{"the network's address", "10.30.0.0"},
		{"the network's broadcast address", "10.30.0.255"},
		{"unspecified", "0.0.0.0"},
		{"loopback", "127.0.0.1"},
		{"multicast", "224.0.0.1"},
		{"limited broadcast", "255.255.255.255"},
	}
	for _, mode := range []string{"nat", "routed"} {
		for _, s := range sources {
			t.Run(mode+"/"+s.name, func(t *testing.T) {
				p, u := routeSetup(mode)
				src := netip.MustParseAddr(s.src)
				p.handle(udpFrame(StableMAC("t"), guestMAC, src, remoteIP, 64, 5353, 53, []byte("spoof")), t0)
				if up, local := sent(u), takeAll(p.q); len(up) != 0 || len(local) != 0 {
					t.Fatalf("sent %d out, %d back", len(up), len(local))
				}
				var d [NumDrops]uint64
				d[DropBadSource] = 1
				if p.Drops() != d || u.Drops() != [NumUplinkDrops]uint64{} {
					t.Fatalf("drops %v, uplink drops %v", p.Drops(), u.Drops())
				}
				if out, in := u.Translations(); out != 0 || in != 0 || u.NAT().Len() != 0 {
					t.Fatalf("translations %d/%d, %d flows", out, in, u.NAT().Len())
				}
			})
		}
		// The positive control: the guest's own address is routed.
		p, u := routeSetup(mode)
		p.handle(guestUDP(remoteIP, 64, 5353, 53, "honest"), t0)
		if up := sent(u); len(up) != 1 || p.Drops() != [NumDrops]uint64{} {
			t.Fatalf("%s: honest packet: %d out, drops %v", mode, len(up), p.Drops())
		}
	}
}

// The attack from issue 13: a guest of one nat network sends with the
// address of a guest of another as source. Not routed, no flow, so the
// outside's answer to the uplink reaches nobody.
func TestRouteSourceOtherNetwork(t *testing.T) {
	p, u := routeSetup("nat")
	var n2 *Port
	for _, r := range u.routes.Load().routes {
		if r.cfg.Network == "n2" {
			n2 = r
		}
	}
	victim := netip.MustParseAddr("10.50.0.7")
	n2.handle(arpFrame(pkt.Broadcast, guest2MAC, 1, guest2MAC, victim, pkt.MAC{}, netip.MustParseAddr("10.50.0.1")), t0)
	takeAll(n2.q)
	for range 5 {
		p.handle(udpFrame(p.MAC(), guestMAC, victim, remoteIP, 64, 5353, 53, []byte("spoof")), t0)
	}
	if up := sent(u); len(up) != 0 || p.Drops()[DropBadSource] != 5 {
		t.Fatalf("%d sent, drops %v", len(up), p.Drops())
	}
	if feed(u, udpFrame(upMAC, routerMAC, remoteIP, upIP, 50, 53, 5353, []byte("answer")), t0) {
		t.Fatal("the outside's answer was delivered")
	}
	if got := takeAll(n2.q); len(got) != 0 || u.Drops()[UplinkNotTracked] != 1 {
		t.Fatalf("victim network got %d, uplink drops %v", len(got), u.Drops())
	}
}

func TestGuestAddr(t *testing.T) {
	tests := []struct {
		gw  string
		yes []string
		no  []string
	}{
		{"10.30.0.1/24", []string{"10.30.0.2", "10.30.0.254"}, []string{"10.30.0.0", "10.30.0.1", "10.30.0.255", "10.30.1.2", "0.0.0.0"}},
		{"10.30.0.6/30", []string{"10.30.0.5"}, []string{"10.30.0.4", "10.30.0.6", "10.30.0.7", "10.30.0.8"}},
		{"10.30.0.0/31", []string{"10.30.0.1"}, []string{"10.30.0.0", "10.30.0.2"}}, // RFC 3021: both are hosts
		{"10.30.0.1/32", nil, []string{"10.30.0.1", "10.30.0.2"}},
	}
	for _, tt := range tests {
		p := New(Config{Network: "t", Address: netip.MustParsePrefix(tt.gw)})
		for _, a := range tt.yes {
			if !p.guestAddr(netip.MustParseAddr(a)) {
				t.Errorf("%s: %s refused", tt.gw, a)
			}
		}
		for _, a := range tt.no {
			if p.guestAddr(netip.MustParseAddr(a)) {
				t.Errorf("%s: %s taken for a guest", tt.gw, a)
			}
		}
	}
}

// A guest sending IP packets with a neighbour's address as source (to
// the outside, or to the gateway itself) does not take the neighbour's
// traffic: the cache keeps the MAC it learned by ARP, and the outside's
// answers go to the neighbour. An IP packet teaches nothing new either.
func TestNeighbourNotLearnedFromIP(t *testing.T) {
	p, u := routeSetup("nat")
	p.handle(arpFrame(pkt.Broadcast, guestMAC, 1, guestMAC, guestIP, pkt.MAC{}, gwIP), t0)
	takeAll(p.q)
	p.handle(guestUDP(remoteIP, 64, 5353, 53, "honest"), t0)
	sent(u)
	later := t0.Add(10 * time.Second)
	spoofs := [][]byte{
		udpFrame(p.MAC(), guest2MAC, guestIP, remoteIP, 64, 5353, 53, []byte("spoof")),
		append(ethHdr(p.MAC(), guest2MAC, pkt.TypeIPv4), ip4(guestIP, gwIP, 64, pkt.ProtoICMP, 1, 0, icmpMsg(8, 0, []byte{0, 1, 0, 1}))...),
		udpFrame(p.MAC(), guest2MAC, guest2IP, remoteIP, 64, 5353, 53, []byte("unknown")),
	}
	for _, f := range spoofs {
		p.handle(f, later)
	}
	if up := sent(u); len(up) != 2 {
		t.Fatalf("%d routed, want 2 (sources inside the network are routed)", len(up))
	}
	if local := takeAll(p.q); len(local) != 1 || pkt.Ethernet(local[0]).Dst() != guest2MAC {
		t.Fatalf("echo replies % x", local) // the gateway answers the frame's sender
	}
	if mac, ok := p.neigh.lookup(guestIP); !ok || mac != guestMAC || p.Neighbours() != 1 {
		t.Fatalf("cache: %v %v, %d entries", mac, ok, p.Neighbours())
	}
	if !feed(u, udpFrame(upMAC, routerMAC, remoteIP, upIP, 50, 53, 5353, []byte("answer")), later) {
		t.Fatal("answer not delivered")
	}
	if got := takeAll(p.q); len(got) != 1 || pkt.Ethernet(got[0]).Dst() != guestMAC {
		t.Fatalf("answer went to % x", got)
	}
	if p.Drops() != [NumDrops]uint64{} {
		t.Fatalf("drops %v", p.Drops())
	}
}

// Traffic from a cached neighbour with its cached MAC refreshes the
// entry without a lock; from another MAC it neither refreshes nor
// changes it.
func TestNeighbourConfirm(t *testing.T) {
	a, b, c := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	n := newNeighbours(2)
	n.learn(a, guestMAC, t0)
	n.learn(b, guestMAC, t0.Add(500*time.Millisecond))
	if n.confirm(a, guest2MAC, t0.Add(time.Second)) || n.confirm(c, guestMAC, t0.Add(time.Second)) {
		t.Fatal("confirmed another MAC or an unknown address")
	}
	if !n.confirm(a, guestMAC, t0.Add(time.Second)) {
		t.Fatal("not confirmed")
	}
	n.learn(c, guestMAC, t0.Add(2*time.Second))
	if _, ok := n.lookup(b); ok {
		t.Fatal("the oldest entry kept, the confirmed one evicted")
	}
	if mac, ok := n.lookup(a); !ok || mac != guestMAC || n.len() != 2 {
		t.Fatalf("a: %v %v, %d entries", mac, ok, n.len())
	}
}

// dhcpMsg is the DHCP message of serverMsg's frame, with xid 1.
func dhcpMsg(op uint8, chaddr pkt.MAC, typ uint8, yiaddr netip.Addr, opts ...byte) []byte {
	return bootp(op, 1, 0, bootpAddrs{yi: yiaddr}, chaddr, typ, opts)
}

// The server's ACK teaches the cache the lease's address and MAC; an
// OFFER, a NAK, an INFORM's ACK (no address), or an ACK for an address
// or MAC no guest may have, do not.
func TestNeighbourFromDHCP(t *testing.T) {
	bcast := netip.MustParseAddr("255.255.255.255")
	offered := netip.MustParseAddr("10.30.0.10")
	p := newPort()
	if out := answer(p, guestDHCP(pkt.DHCPDiscover, 1, 0, netip.Addr{}, bcast), t0); len(out) != 1 || p.Neighbours() != 0 {
		t.Fatalf("OFFER: %d replies, %d neighbours", len(out), p.Neighbours())
	}
	out := answer(p, guestDHCP(pkt.DHCPRequest, 2, 0, netip.Addr{}, bcast, 50, 4, 10, 30, 0, 10, 54, 4, 10, 30, 0, 1), t0)
	if len(out) != 1 {
		t.Fatalf("REQUEST: %d replies", len(out))
	}
	if mac, ok := p.neigh.lookup(offered); !ok || mac != guestMAC || p.Neighbours() != 1 {
		t.Fatalf("after the ACK: %v %v, %d neighbours", mac, ok, p.Neighbours())
	}

	tests := []struct {
		name    string
		msg     []byte
		learned bool
	}{
		{"ACK", dhcpMsg(pkt.BOOTReply, guest2MAC, pkt.DHCPAck, guest2IP), true},
		{"OFFER", dhcpMsg(pkt.BOOTReply, guest2MAC, pkt.DHCPOffer, guest2IP), false},
		{"NAK", dhcpMsg(pkt.BOOTReply, guest2MAC, pkt.DHCPNak, guest2IP), false},
		{"ACK to an INFORM", dhcpMsg(pkt.BOOTReply, guest2MAC, pkt.DHCPAck, netip.IPv4Unspecified()), false},
		{"ACK outside the network", dhcpMsg(pkt.BOOTReply, guest2MAC, pkt.DHCPAck, remoteIP), false},
		{"ACK for the gateway's address", dhcpMsg(pkt.BOOTReply, guest2MAC, pkt.DHCPAck, gwIP), false},
		{"ACK for a broadcast MAC", dhcpMsg(pkt.BOOTReply, pkt.Broadcast, pkt.DHCPAck, guest2IP), false},
		{"ACK for a zero MAC", dhcpMsg(pkt.BOOTReply, pkt.MAC{}, pkt.DHCPAck, guest2IP), false},
		{"a request", dhcpMsg(pkt.BOOTRequest, guest2MAC, pkt.DHCPAck, guest2IP), false},
		{"truncated", dhcpMsg(pkt.BOOTReply, guest2MAC, pkt.DHCPAck, guest2IP)[:239], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPort()
			p.DeliverDHCP(dhcp.Reply{Msg: tt.msg, DstMAC: guest2MAC, DstIP: guest2IP})
			if len(takeAll(p.q)) != 1 {
				t.Fatal("not delivered")
			}
			mac, ok := p.neigh.lookup(guest2IP)
			if n := p.Neighbours(); n != map[bool]int{false: 0, true: 1}[tt.learned] || tt.learned && (!ok || mac != guest2MAC) {
				t.Fatalf("%d neighbours, %v %v", n, mac, ok)
			}
		})
	}
}

// From the outside, a packet whose source is an attached network's
// address (or a martian) is dropped as bad_source before routing or
// conntrack: a guest would take it for its neighbour's, a port forward
// included. Any other source is delivered.
func TestUplinkSource(t *testing.T) {
	tests := []struct {
		src     string
		dst     netip.Addr
		deliver bool
	}{
		{remoteIP.String(), guestIP, true},
		{routerIP.String(), guestIP, true},
		{"10.30.0.6", guestIP, false},   // the guest's own network
		{"10.50.0.7", guestIP, false},   // a nat network
		{"10.60.0.7", guestIP, false},   // a routed network
		{"10.30.0.6", upIP, false},      // to a port forward
		{"192.0.2.0", guestIP, false},   // the outside subnet's address
		{"192.0.2.255", guestIP, false}, // and broadcast
		{"0.0.0.0", guestIP, false},
		{"0.1.2.3", guestIP, false},
		{"127.0.0.1", guestIP, false},
		{"169.254.1.1", guestIP, false},
		{"224.0.0.1", guestIP, false},
		{"240.0.0.1", guestIP, false},
		{"255.255.255.255", guestIP, false},
	}
	for _, tt := range tests {
		t.Run(tt.src+">"+tt.dst.String(), func(t *testing.T) {
			p, u := routeSetup("routed")
			u.cfg.NAT.AddForward(pkt.ProtoUDP, 8080, netip.AddrPortFrom(guestIP, 80))
			p.handle(arpFrame(pkt.Broadcast, guestMAC, 1, guestMAC, guestIP, pkt.MAC{}, gwIP), t0)
			takeAll(p.q)
			got := feed(u, udpFrame(upMAC, routerMAC, netip.MustParseAddr(tt.src), tt.dst, 50, 53, 8080, []byte("x")), t0)
			delivered := takeAll(p.q)
			var ud [NumUplinkDrops]uint64
			if !tt.deliver {
				ud[UplinkBadSource] = 1
			}
			if got != tt.deliver || len(delivered) != map[bool]int{false: 0, true: 1}[tt.deliver] || u.Drops() != ud {
				t.Fatalf("delivered %v (%d frames), uplink drops %v", got, len(delivered), u.Drops())
			}
			if _, in := u.Translations(); in != 0 || u.NAT().Len() != 0 {
				t.Fatalf("translated %d, %d flows", in, u.NAT().Len())
			}
		})
	}
}
