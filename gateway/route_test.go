package gateway

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/nat"
)

var (
	guest2IP  = netip.MustParseAddr("10.30.0.6")
	guest2MAC = pkt.MAC{0x52, 0x54, 0, 0, 0, 6}
)

// routeSetup is a network of mode on an uplink with a static address
// whose router is resolved, plus a nat and a routed neighbour network.
func routeSetup(mode string) (*Port, *Uplink) {
	u, _ := newUplink(true)
	u.neigh.learn(routerIP, routerMAC, t0)
	m, ok := map[string]config.Mode{"isolated": config.ModeIsolated, "nat": config.ModeNAT, "routed": config.ModeRouted}[mode]
	if !ok {
		panic("mode " + mode)
	}
	p := New(Config{Network: "t", Address: gwAddr, Mode: m, Uplink: u})
	p.garp.Store(true)
	u.Attach(p)
	u.Attach(New(Config{Network: "n2", Address: netip.MustParsePrefix("10.50.0.1/24"), Mode: config.ModeNAT, Uplink: u}))
	u.Attach(New(Config{Network: "r2", Address: netip.MustParsePrefix("10.60.0.1/24"), Mode: config.ModeRouted, Uplink: u}))
	return p, u
}

func guestUDP(dst netip.Addr, ttl uint8, sport, dport uint16, data string) []byte {
	return udpFrame(StableMAC("t"), guestMAC, guestIP, dst, ttl, sport, dport, []byte(data))
}

func TestRoute(t *testing.T) {
	type want struct {
		up     []byte           // the one frame the uplink sends, or nil
		local  []byte           // the one frame back onto the network, or nil
		drop   DropReason       // the gateway's drop, or noDrop
		upDrop UplinkDropReason // the uplink's drop, or noUplinkDrop
	}
	icmpTE := func(orig []byte) []byte {
		quote := orig[14 : 14+28]
		icmp := append([]byte{11, 0, 0, 0, 0, 0, 0, 0}, quote...)
		s := refSum(icmp)
		icmp[2], icmp[3] = byte(s>>8), byte(s)
		return append(ethHdr(guestMAC, StableMAC("t"), pkt.TypeIPv4), ip4(gwAddr.Addr(), guestIP, 64, pkt.ProtoICMP, 1, 0, icmp)...)
	}
	fragment := append(ethHdr(StableMAC("t"), guestMAC, pkt.TypeIPv4), ip4(guestIP, remoteIP, 64, pkt.ProtoUDP, 5, 10, []byte("later-fragment"))...)
	unreach := append(ethHdr(StableMAC("t"), guestMAC, pkt.TypeIPv4), ip4(guestIP, remoteIP, 64, pkt.ProtoICMP, 5, 0, []byte{3, 3, 0xfc, 0xfc, 0, 0, 0, 0})...)
	shortUDP := append(ethHdr(StableMAC("t"), guestMAC, pkt.TypeIPv4), ip4(guestIP, remoteIP, 64, pkt.ProtoUDP, 5, 0, []byte{1, 2, 3})...)
	big := guestUDP(remoteIP, 64, 5353, 53, string(make([]byte, 4000)))
	tests := []struct {
		name  string
		mode  string
		frame []byte
		want  want
	}{
		{"nat", "nat", guestUDP(remoteIP, 64, 5353, 53, "query"), want{
			up:   udpFrame(routerMAC, upMAC, upIP, remoteIP, 63, 5353, 53, []byte("query")),
			drop: noDrop, upDrop: noUplinkDrop}},
		{"routed", "routed", guestUDP(remoteIP, 64, 5353, 53, "query"), want{
			up:   udpFrame(routerMAC, upMAC, guestIP, remoteIP, 63, 5353, 53, []byte("query")),
			drop: noDrop, upDrop: noUplinkDrop}},
		{"routed, larger than a small frame", "routed", big, want{
			up:   udpFrame(routerMAC, upMAC, guestIP, remoteIP, 63, 5353, 53, make([]byte, 4000)),
			drop: noDrop, upDrop: noUplinkDrop}},
		{"isolated", "isolated", guestUDP(remoteIP, 64, 5353, 53, "query"), want{drop: DropNotForUs, upDrop: noUplinkDrop}},
		{"to another nat network", "nat", guestUDP(netip.MustParseAddr("10.50.0.7"), 64, 5353, 53, "q"), want{drop: DropNotForUs, upDrop: noUplinkDrop}},
		{"to a routed network", "nat", guestUDP(netip.MustParseAddr("10.60.0.7"), 64, 5353, 53, "q"), want{drop: DropNotForUs, upDrop: noUplinkDrop}},
		{"routed to a routed network", "routed", guestUDP(netip.MustParseAddr("10.60.0.7"), 64, 5353, 53, "q"), want{drop: DropNotForUs, upDrop: noUplinkDrop}},
		{"routed to a nat network", "routed", guestUDP(netip.MustParseAddr("10.50.0.7"), 64, 5353, 53, "q"), want{drop: DropNotForUs, upDrop: noUplinkDrop}},
		{"another guest of the network", "nat", guestUDP(netip.MustParseAddr("10.30.0.99"), 64, 5353, 53, "q"), want{drop: DropNotForUs, upDrop: noUplinkDrop}},
		{"directed broadcast", "nat", guestUDP(netip.MustParseAddr("10.30.0.255"), 64, 5353, 53, "q"), want{drop: noDrop, upDrop: noUplinkDrop}},
		{"limited broadcast", "nat", guestUDP(netip.MustParseAddr("255.255.255.255"), 64, 5353, 53, "q"), want{drop: noDrop, upDrop: noUplinkDrop}},
		{"multicast", "nat", guestUDP(netip.MustParseAddr("224.0.0.251"), 64, 5353, 5353, "q"), want{drop: noDrop, upDrop: noUplinkDrop}},
		{"TTL 1", "nat", guestUDP(remoteIP, 1, 5353, 53, "query"), want{
			local: icmpTE(guestUDP(remoteIP, 1, 5353, 53, "query")), drop: DropTTLExceeded, upDrop: noUplinkDrop}},
		{"TTL 0, routed", "routed", guestUDP(remoteIP, 0, 5353, 53, "query"), want{
			local: icmpTE(guestUDP(remoteIP, 0, 5353, 53, "query")), drop: DropTTLExceeded, upDrop: noUplinkDrop}},
		{"later fragment", "nat", fragment, want{drop: noDrop, upDrop: UplinkFragment}},
		{"ICMP error outbound", "nat", unreach, want{drop: noDrop, upDrop: UplinkNotTracked}},
		{"truncated UDP", "nat", shortUDP, want{drop: noDrop, upDrop: UplinkMalformed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, u := routeSetup(tt.mode)
			p.handle(tt.frame, t0)
			up, local := sent(u), takeAll(p.q)
			if tt.want.up == nil && len(up) != 0 || tt.want.up != nil && (len(up) != 1 || string(up[0]) != string(tt.want.up)) {
				t.Fatalf("uplink sent %d:\n% x\nwant\n% x", len(up), up, tt.want.up)
			}
			if tt.want.local == nil && len(local) != 0 || tt.want.local != nil && (len(local) != 1 || string(local[0]) != string(tt.want.local)) {
				t.Fatalf("network got %d:\n% x\nwant\n% x", len(local), local, tt.want.local)
			}
			if tt.want.up != nil {
				checkIPv4(t, up[0])
			}
			if tt.want.local != nil {
				checkIPv4(t, local[0])
			}
			var d [NumDrops]uint64
			if tt.want.drop != noDrop {
				d[tt.want.drop] = 1
			}
			var ud [NumUplinkDrops]uint64
			if tt.want.upDrop != noUplinkDrop {
				ud[tt.want.upDrop] = 1
			}
			if p.Drops() != d || u.Drops() != ud {
				t.Fatalf("drops %v, uplink drops %v", p.Drops(), u.Drops())
			}
			wantOut := uint64(0)
			if tt.mode == "nat" && tt.want.up != nil {
				wantOut = 1
			}
			if out, in := u.Translations(); out != wantOut || in != 0 {
				t.Fatalf("translations out %d in %d", out, in)
			}
			if p.Neighbours() != 0 {
				t.Fatal("a routed packet taught the neighbour cache")
			}
		})
	}
}

func TestRouteNoAddressAndTableFull(t *testing.T) {
	u, _ := newUplink(false)
	p := New(Config{Network: "t", Address: gwAddr, Mode: config.ModeNAT, Uplink: u})
	u.Attach(p)
	p.handle(guestUDP(remoteIP, 64, 5353, 53, "q"), t0)
	if u.Drops()[UplinkNoAddress] != 1 || len(sent(u)) != 0 || p.Neighbours() != 0 {
		t.Fatalf("without an address: drops %v", u.Drops())
	}

	// A full table evicts the guest's unanswered flow; its source limit
	// refuses the next one.
	p, u = routeSetup("nat")
	u.cfg.NAT = nat.New(nat.Config{MaxEntries: 1, MaxPerSource: 1})
	p.handle(guestUDP(remoteIP, 64, 5353, 53, "q"), t0)
	p.handle(guestUDP(remoteIP, 64, 5354, 53, "q"), t0)
	if d := u.Drops(); d[UplinkSourceLimit] != 1 || len(sent(u)) != 1 {
		t.Fatalf("source limit: drops %v", d)
	}
}

// TestNATDropReasons: each verdict the NAT refuses a packet with is
// counted under its own reason.
func TestNATDropReasons(t *testing.T) {
	for v, want := range map[nat.Verdict]UplinkDropReason{
		nat.TableFull: UplinkConntrackFull, nat.SourceLimit: UplinkSourceLimit,
		nat.Fragment: UplinkFragment, nat.Malformed: UplinkMalformed, nat.NotTracked: UplinkNotTracked,
	} {
		u, _ := newUplink(false)
		u.natDrop(v)
		d := u.Drops()
		for r := range d {
			if n := d[r]; n != map[bool]uint64{true: 1}[UplinkDropReason(r) == want] {
				t.Fatalf("%v: %v counted %d", v, UplinkDropReason(r), n)
			}
		}
	}
}

// Inbound: a reply to a guest's flow comes back translated, TTL down by
// one; an unknown guest is asked for by ARP (10 a second) and the packet
// dropped; a full reply queue drops it.
func TestInboundDeliver(t *testing.T) {
	p, u := routeSetup("nat")
	p.handle(arpFrame(p.MAC(), guestMAC, 2, guestMAC, guestIP, p.MAC(), gwAddr.Addr()), t0)
	p.handle(guestUDP(remoteIP, 64, 5353, 53, "query"), t0)
	sent(u)
	if !feed(u, udpFrame(upMAC, routerMAC, remoteIP, upIP, 50, 53, 5353, []byte("answer")), t0) {
		t.Fatal("reply not delivered")
	}
	got := takeAll(p.q)
	if want := udpFrame(guestMAC, p.MAC(), remoteIP, guestIP, 49, 53, 5353, []byte("answer")); len(got) != 1 || string(got[0]) != string(want) {
		t.Fatalf("delivered % x\nwant\n% x", got, want)
	}
	if out, in := u.Translations(); out != 1 || in != 1 {
		t.Fatalf("translations %d %d", out, in)
	}

	// Routed network, guest unknown.
	var r *Port
	for _, n := range u.routes.Load().routes {
		if n.cfg.Network == "r2" {
			r = n
		}
	}
	g := netip.MustParseAddr("10.60.0.7")
	for range 12 {
		if feed(u, udpFrame(upMAC, routerMAC, remoteIP, g, 50, 53, 5353, []byte("x")), t0) {
			t.Fatal("delivered to an unknown guest")
		}
	}
	got = takeAll(r.q)
	if len(got) != 10 {
		t.Fatalf("%d ARP requests, want 10", len(got))
	}
	for _, b := range got {
		if want := arpFrame(pkt.Broadcast, r.MAC(), 1, r.MAC(), netip.MustParseAddr("10.60.0.1"), pkt.MAC{}, g); string(b) != string(want) {
			t.Fatalf("ARP request % x", b)
		}
	}
	if d, ud := r.Drops(), u.Drops(); d[DropNeighMiss] != 12 || ud != [NumUplinkDrops]uint64{} {
		t.Fatalf("drops %v, uplink drops %v", d, ud)
	}
	if feed(u, udpFrame(upMAC, routerMAC, remoteIP, g, 50, 53, 5353, []byte("x")), t0.Add(1e9)); len(takeAll(r.q)) != 1 {
		t.Fatal("no ARP request in the next second")
	}
	r.handle(arpFrame(r.MAC(), guest2MAC, 2, guest2MAC, g, r.MAC(), netip.MustParseAddr("10.60.0.1")), t0)
	if !feed(u, udpFrame(upMAC, routerMAC, remoteIP, g, 50, 53, 5353, []byte("x")), t0) {
		t.Fatal("not delivered once known")
	}
	if got = takeAll(r.q); len(got) != 1 || string(got[0]) != string(udpFrame(guest2MAC, r.MAC(), remoteIP, g, 49, 53, 5353, []byte("x"))) {
		t.Fatalf("delivered % x", got)
	}

	for r.q.Put(frameOf(nil)) {
	}
	if feed(u, udpFrame(upMAC, routerMAC, remoteIP, g, 50, 53, 5353, []byte("x")), t0) {
		t.Fatal("delivered to a full queue")
	}
	if r.Drops()[DropQueueFull] != 1 {
		t.Fatalf("drops %v", r.Drops())
	}
	takeAll(r.q)
}

// Hairpin: a guest reaching a port forward through the outside address
// comes straight back in to the forward's guest.
func TestHairpin(t *testing.T) {
	p, u := routeSetup("nat")
	u.cfg.NAT.AddForward(pkt.ProtoUDP, 8080, netip.AddrPortFrom(guest2IP, 80))
	p.handle(arpFrame(p.MAC(), guest2MAC, 2, guest2MAC, guest2IP, p.MAC(), gwAddr.Addr()), t0)
	takeAll(p.q)
	p.handle(guestUDP(upIP, 64, 5353, 8080, "hairpin"), t0)
	if up := sent(u); len(up) != 0 {
		t.Fatalf("hairpin went out: % x", up)
	}
	got := takeAll(p.q)
	want := udpFrame(guest2MAC, p.MAC(), upIP, guest2IP, 62, 5353, 80, []byte("hairpin"))
	if len(got) != 1 || string(got[0]) != string(want) {
		t.Fatalf("hairpin delivered %d:\n% x\nwant\n% x", len(got), got, want)
	}
	if out, in := u.Translations(); out != 1 || in != 1 {
		t.Fatalf("translations %d %d", out, in)
	}

	// The forward's guest unknown: asked for, the packet dropped (freed).
	p2, u2 := routeSetup("nat")
	u2.cfg.NAT.AddForward(pkt.ProtoUDP, 8080, netip.AddrPortFrom(guest2IP, 80))
	p2.handle(guestUDP(upIP, 64, 5353, 8080, "hairpin"), t0)
	got = takeAll(p2.q)
	if len(got) != 1 || string(got[0]) != string(arpFrame(pkt.Broadcast, p2.MAC(), 1, p2.MAC(), gwAddr.Addr(), pkt.MAC{}, guest2IP)) {
		t.Fatalf("got % x", got)
	}
	if d, ud := p2.Drops(), u2.Drops(); d[DropNeighMiss] != 1 || ud != [NumUplinkDrops]uint64{} {
		t.Fatalf("drops %v, uplink drops %v", d, ud)
	}
}

// The longest prefix wins, whatever order networks attach in.
func TestRouteTableLongestPrefix(t *testing.T) {
	wide := New(Config{Network: "w", Address: netip.MustParsePrefix("10.70.0.1/16"), Mode: config.ModeRouted})
	narrow := New(Config{Network: "n", Address: netip.MustParsePrefix("10.70.5.1/24"), Mode: config.ModeNAT})
	for _, order := range [][]*Port{{wide, narrow}, {narrow, wide}} {
		rt := &routeTable{}
		for _, p := range order {
			rt = rt.with(p)
		}
		if got := rt.lookup(netip.MustParseAddr("10.70.5.9")); got != narrow {
			t.Errorf("10.70.5.9 -> %v", got)
		}
		if got := rt.lookup(netip.MustParseAddr("10.70.6.9")); got != wide {
			t.Errorf("10.70.6.9 -> %v", got)
		}
		if got := rt.lookup(netip.MustParseAddr("10.71.0.1")); got != nil {
			t.Errorf("10.71.0.1 -> %v", got)
		}
	}
	if (&routeTable{}).lookup(netip.MustParseAddr("10.70.5.9")) != nil {
		t.Error("empty table routed")
	}
}

// subnet agrees with netip on random prefixes and addresses; host leaves
// out the first and last address below /31 only.
func TestSubnet(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		bits := r.IntN(33)
		pfx := netip.PrefixFrom(addrFrom32(r.Uint32()), bits)
		a := addrFrom32(r.Uint32())
		if r.IntN(2) == 0 { // an address inside, at an edge now and then
			m := pfx.Masked()
			a = addrFrom32(addr32(m.Addr()) | r.Uint32()&^newSubnet(pfx).mask)
			if r.IntN(4) == 0 {
				a = m.Addr()
			}
		}
		s, v := newSubnet(pfx), addr32(a)
		if s.contains(v) != pfx.Contains(a) {
			t.Fatalf("%v contains %v: %v", pfx, a, s.contains(v))
		}
		edge := a == pfx.Masked().Addr() || a == addrFrom32(s.last)
		if want := pfx.Contains(a) && (bits >= 31 || !edge); s.host(v) != want {
			t.Fatalf("%v host %v: %v", pfx, a, s.host(v))
		}
	}
}
