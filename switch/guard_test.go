package vswitch

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

var (
	ip5 = netip.MustParseAddr("10.0.0.5")
	ip6 = netip.MustParseAddr("10.0.0.6")
	ip0 = netip.IPv4Unspecified()
	gw1 = netip.MustParseAddr("10.0.0.1")
)

// udp4 builds an Ethernet/IPv4/UDP frame with the given payload.
func udp4(dst, src pkt.MAC, sip, dip netip.Addr, sport, dport uint16, payload []byte) []byte {
	n := pkt.EthernetLen + pkt.IPv4MinLen + pkt.UDPLen + len(payload)
	b := make([]byte, max(n, 60))
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: dst, Src: src, Type: pkt.TypeIPv4})
	pkt.IPv4(b[14:]).Encode(&pkt.IPv4Fields{TotalLen: uint16(n - 14), TTL: 64, Protocol: pkt.ProtoUDP, Src: sip, Dst: dip})
	copy(b[42:], payload)
	pkt.EncodeUDP(b[34:], sip, dip, sport, dport, len(payload))
	return b
}

// arp4 builds an ARP request with the given Ethernet source and sender.
func arp4(src, smac pkt.MAC, sip, tip netip.Addr) []byte {
	b := make([]byte, 60)
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: pkt.Broadcast, Src: src, Type: pkt.TypeARP})
	pkt.ARP(b[14:42]).Encode(&pkt.ARPFields{Op: pkt.ARPRequest, SenderMAC: smac, SenderIP: sip, TargetIP: tip})
	return b
}

// ofType builds a frame of EtherType typ.
func ofType(src pkt.MAC, typ uint16) []byte {
	b := frame(pkt.Broadcast, src)
	pkt.Ethernet(b).SetType(typ)
	return b
}

// dhcpMsg builds a BOOTP message of the given op and DHCP type for chaddr.
func dhcpMsg(op, typ uint8, chaddr pkt.MAC, yiaddr netip.Addr, lease uint32) []byte {
	b := make([]byte, pkt.DHCPOptionsOff, 300)
	b[0], b[1], b[2] = op, 1, 6
	y := yiaddr.As4()
	copy(b[16:20], y[:])
	copy(b[28:34], chaddr[:])
	binary.BigEndian.PutUint32(b[236:], pkt.DHCPCookie)
	b = append(b, pkt.OptMessageType, 1, typ)
	if lease != 0 {
		b = append(b, pkt.OptLeaseTime, 4)
		b = binary.BigEndian.AppendUint32(b, lease)
	}
	return append(b, pkt.OptEnd)
}

// dhcpFromClient is a DHCP client's message from 0.0.0.0.
func dhcpFromClient(src pkt.MAC, typ uint8) []byte {
	return udp4(pkt.Broadcast, src, ip0, netip.AddrFrom4([4]byte{255, 255, 255, 255}), 68, 67,
		dhcpMsg(pkt.BOOTRequest, typ, src, ip0, 0))
}

// ack is the gateway's (mac 9) ACK of ip to chaddr for lease seconds.
func ack(chaddr pkt.MAC, ip netip.Addr, lease uint32) []byte {
	return udp4(chaddr, mac(9), gw1, ip, 67, 68, dhcpMsg(pkt.BOOTReply, pkt.DHCPAck, chaddr, ip, lease))
}

// guardRig drives ingress by hand (no goroutines) so tests pick the clock.
type guardRig struct {
	t     testing.TB
	s     *Switch
	ports map[string]*swPort
}

func newGuardRig(t testing.TB, pcs ...PortConfig) *guardRig {
	s, ps := benchSwitch(t, pcs...)
	r := &guardRig{t: t, s: s, ports: map[string]*swPort{}}
	for _, p := range ps {
		r.ports[p.name] = p
	}
	return r
}

// send runs b from port in through ingress at now and returns the drop
// reason counted on in (NumDropReasons if none) and how many frames the
// other ports got.
func (r *guardRig) send(in string, b []byte, now int64) (DropReason, int) {
	p := r.ports[in]
	before := p.status().Drops
	f := NewFrame()
	f.SetData(b)
	frames := []*Frame{f}
	r.s.ingress(p, frames, now)
	frames[0].Release()
	got := 0
	out := make([]*Frame, BatchSize)
	for _, q := range r.ports {
		for k := q.q.Take(out); k > 0; k = q.q.Take(out) {
			for _, f := range out[:k] {
				f.Release()
			}
			got += k
		}
	}
	reason := NumDropReasons
	for i, n := range p.status().Drops {
		if d := n - before[i]; d == 1 && reason == NumDropReasons {
			reason = DropReason(i)
		} else if d != 0 {
			r.t.Fatalf("%d drops of %s from one frame", d, DropReason(i))
		}
	}
	return reason, got
}

type guardCase struct {
	name  string
	port  string
	frame []byte
	want  DropReason // NumDropReasons: forwarded
}

func (r *guardRig) run(now int64, cases []guardCase) {
	r.t.Helper()
	for _, c := range cases {
		got, n := r.send(c.port, c.frame, now)
		if got != c.want {
			r.t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
		if c.want == NumDropReasons && n == 0 {
			r.t.Errorf("%s: passed the guard but went nowhere", c.name)
		}
		if c.want != NumDropReasons && n != 0 {
			r.t.Errorf("%s: dropped but %d frames went out", c.name, n)
		}
	}
}

const ok = NumDropReasons

func TestStaticGuard(t *testing.T) {
	g := PortConfig{Name: "g", VLAN: VLANConfig{PVID: 1}, Guard: &GuardConfig{MACs: []pkt.MAC{mac(1)}, IPs: []netip.Addr{ip5}}}
	m := PortConfig{Name: "m", VLAN: VLANConfig{PVID: 1}, Guard: &GuardConfig{MACs: []pkt.MAC{mac(3)}}}
	r := newGuardRig(t, g, m, access("o", 1))
	bad := udp4(pkt.Broadcast, mac(1), ip5, gw1, 1, 2, nil)
	binary.BigEndian.PutUint16(bad[16:], 1500) // a total length past the frame
	r.run(time.Now().Unix(), []guardCase{
		{"own MAC and address", "g", udp4(pkt.Broadcast, mac(1), ip5, gw1, 1000, 53, nil), ok},
		{"another MAC", "g", udp4(pkt.Broadcast, mac(2), ip5, gw1, 1000, 53, nil), DropSpoofedMAC},
		{"another address", "g", udp4(pkt.Broadcast, mac(1), ip6, gw1, 1000, 53, nil), DropSpoofedIP},
		{"DHCP from 0.0.0.0", "g", dhcpFromClient(mac(1), pkt.DHCPDiscover), ok},
		{"DHCP from 0.0.0.0, another MAC", "g", dhcpFromClient(mac(2), pkt.DHCPDiscover), DropSpoofedMAC},
		{"other UDP from 0.0.0.0", "g", udp4(pkt.Broadcast, mac(1), ip0, gw1, 68, 53, nil), DropSpoofedIP},
		{"bad IPv4 header", "g", bad, DropSpoofedIP},
		{"ARP of its own", "g", arp4(mac(1), mac(1), ip5, gw1), ok},
		{"ARP probe", "g", arp4(mac(1), mac(1), ip0, ip5), ok},
		{"ARP for another address", "g", arp4(mac(1), mac(1), ip6, gw1), DropSpoofedARP},
		{"ARP sender MAC not the source", "g", arp4(mac(1), mac(2), ip5, gw1), DropSpoofedARP},
		{"ARP from another MAC", "g", arp4(mac(2), mac(2), ip5, gw1), DropSpoofedMAC},
		{"ARP cut short", "g", ofType(mac(1), pkt.TypeARP), DropSpoofedARP},
		{"IPv6", "g", ofType(mac(1), pkt.TypeIPv6), DropGuardEtherType},
		{"IPv6 from another MAC", "g", ofType(mac(2), pkt.TypeIPv6), DropSpoofedMAC},
		{"RARP announce", "g", ofType(mac(1), typeRARP), ok},
		{"RARP from another MAC", "g", ofType(mac(2), typeRARP), DropSpoofedMAC},
		// MACs only: port security, any protocol and address.
		{"MAC guard: any address", "m", udp4(pkt.Broadcast, mac(3), ip6, gw1, 1, 2, nil), ok},
		{"MAC guard: IPv6", "m", ofType(mac(3), pkt.TypeIPv6), ok},
		{"MAC guard: any ARP", "m", arp4(mac(3), mac(3), ip5, gw1), ok},
		{"MAC guard: another MAC", "m", ofType(mac(4), pkt.TypeIPv6), DropSpoofedMAC},
		{"unguarded port", "o", udp4(pkt.Broadcast, mac(7), ip5, gw1, 1, 2, nil), ok},
	})
	for _, n := range []DropReason{DropSpoofedMAC, DropSpoofedIP, DropSpoofedARP, DropGuardEtherType} {
		if n.String() == "unknown" {
			t.Fatal(n)
		}
	}
}

// A DHCP-guarded port: before a lease only DHCP from 0.0.0.0 and ARP
// probes; the gateway's ACK binds (MAC, address) until the lease ends; no
// other port may use a bound MAC; a reassigned address moves.
func TestDHCPGuard(t *testing.T) {
	dg := func(name string) PortConfig {
		return PortConfig{Name: name, VLAN: VLANConfig{PVID: 1}, Guard: &GuardConfig{DHCP: true}}
	}
	r := newGuardRig(t, dg("g"), dg("h"), access("gw", 1))
	if err := r.s.AddLocal("gw", 1, mac(9)); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Unix()
	r.run(t0, []guardCase{
		{"no lease: IPv4", "g", udp4(mac(9), mac(1), ip5, gw1, 1, 2, nil), DropSpoofedMAC},
		{"no lease: ARP", "g", arp4(mac(1), mac(1), ip5, gw1), DropSpoofedMAC},
		{"no lease: DISCOVER", "g", dhcpFromClient(mac(1), pkt.DHCPDiscover), ok},
		{"no lease: ARP probe", "g", arp4(mac(1), mac(1), ip0, ip5), ok},
		{"no lease: not IPv6 inside", "g", ofType(mac(1), pkt.TypeIPv6), DropSpoofedIP}, // guard6_test.go has the rest
		{"the gateway's ACK", "gw", ack(mac(1), ip5, 60), ok},
	})
	if b := r.s.GuardBindings("g"); len(b) != 1 || b[0].MAC != mac(1) || b[0].IP != ip5 {
		t.Fatalf("bindings %+v", b)
	}
	r.run(t0+59, []guardCase{
		{"bound: IPv4", "g", udp4(mac(9), mac(1), ip5, gw1, 1, 2, nil), ok},
		{"bound: ARP", "g", arp4(mac(1), mac(1), ip5, gw1), ok},
		{"bound: another address", "g", udp4(mac(9), mac(1), ip6, gw1, 1, 2, nil), DropSpoofedIP},
		{"bound: ARP for another address", "g", arp4(mac(1), mac(1), ip6, gw1), DropSpoofedARP},
		{"bound: another MAC", "g", udp4(mac(9), mac(2), ip5, gw1, 1, 2, nil), DropSpoofedMAC},
		{"bound: not IPv6 inside", "g", ofType(mac(1), pkt.TypeIPv6), DropSpoofedIP},
		{"theft: the bound MAC's DISCOVER from h", "h", dhcpFromClient(mac(1), pkt.DHCPDiscover), DropSpoofedMAC},
		{"theft: the bound MAC's probe from h", "h", arp4(mac(1), mac(1), ip0, ip5), DropSpoofedMAC},
		{"h's own DISCOVER", "h", dhcpFromClient(mac(2), pkt.DHCPDiscover), ok},
		{"a guest's forged ACK", "h", ack(mac(2), ip6, 60), DropSpoofedMAC},
	})
	if b := r.s.GuardBindings("h"); len(b) != 0 {
		t.Fatalf("h bound %+v from its own ACK", b)
	}
	// g idles until its FDB entries age out; its lease still holds.
	r.s.fdb.age(t0 + 59 + 301)
	r.run(t0+59, []guardCase{
		{"theft after g's entry aged out", "h", dhcpFromClient(mac(1), pkt.DHCPDiscover), DropSpoofedMAC},
		{"h's own DISCOVER again", "h", dhcpFromClient(mac(2), pkt.DHCPDiscover), ok},
	})
	r.run(t0+60, []guardCase{
		{"expired: IPv4", "g", udp4(mac(9), mac(1), ip5, gw1, 1, 2, nil), DropSpoofedMAC},
		{"expired: DISCOVER again", "g", dhcpFromClient(mac(1), pkt.DHCPDiscover), ok},
		{"re-ACK", "gw", ack(mac(1), ip5, 60), ok},
		{"bound again", "g", udp4(mac(9), mac(1), ip5, gw1, 1, 2, nil), ok},
		// ip5 goes to h's mac(2) (g released it early): g loses it.
		{"ACK of the address to h", "gw", ack(mac(2), ip5, 60), ok},
		{"h uses it", "h", udp4(mac(9), mac(2), ip5, gw1, 1, 2, nil), ok},
		{"g may not", "g", udp4(mac(9), mac(1), ip5, gw1, 1, 2, nil), DropSpoofedMAC},
	})
	// Two leases of one MAC end apart.
	short, long := netip.MustParseAddr("10.0.2.1"), netip.MustParseAddr("10.0.2.2")
	r.run(t0+60, []guardCase{{"short lease", "gw", ack(mac(1), short, 10), ok}, {"long lease", "gw", ack(mac(1), long, 1000), ok}})
	r.run(t0+70, []guardCase{
		{"the long lease", "g", udp4(mac(9), mac(1), long, gw1, 1, 2, nil), ok},
		{"the short one ended", "g", udp4(mac(9), mac(1), short, gw1, 1, 2, nil), DropSpoofedIP},
	})
	// At most MaxGuardBindings: the one that expires first makes room.
	var cases []guardCase
	for i := range MaxGuardBindings + 1 {
		a := netip.AddrFrom4([4]byte{10, 0, 1, byte(i)})
		cases = append(cases, guardCase{"ACK", "gw", ack(mac(2), a, uint32(100+i)), ok})
	}
	r.run(t0+60, cases)
	b := r.s.GuardBindings("h")
	if len(b) != MaxGuardBindings {
		t.Fatalf("%d bindings, want %d", len(b), MaxGuardBindings)
	}
	for _, x := range b {
		if x.IP == ip5 {
			t.Fatalf("the binding that expired first stayed: %+v", b)
		}
	}
}

// Garbage ACKs from the gateway bind nothing and panic nothing.
func TestDHCPGuardSnoopIgnores(t *testing.T) {
	r := newGuardRig(t, PortConfig{Name: "g", VLAN: VLANConfig{PVID: 1}, Guard: &GuardConfig{DHCP: true}}, access("gw", 1), access("o", 1))
	r.ports["gw"].local.Store(true)
	now := time.Now().Unix()
	r.run(now, []guardCase{{"learn mac(1) on g", "g", dhcpFromClient(mac(1), pkt.DHCPDiscover), ok}})
	offer := udp4(mac(1), mac(9), gw1, ip5, 67, 68, dhcpMsg(pkt.BOOTReply, pkt.DHCPOffer, mac(1), ip5, 60))
	noLease := ack(mac(1), ip5, 0)
	inform := ack(mac(1), ip0, 60)
	wrongPort := udp4(mac(1), mac(9), gw1, ip5, 67, 69, dhcpMsg(pkt.BOOTReply, pkt.DHCPAck, mac(1), ip5, 60))
	request := udp4(mac(1), mac(9), gw1, ip5, 67, 68, dhcpMsg(pkt.BOOTRequest, pkt.DHCPAck, mac(1), ip5, 60))
	unknown := ack(mac(5), ip5, 60) // chaddr on no guarded port
	full := ack(mac(1), ip5, 60)
	var cases []guardCase
	for _, b := range [][]byte{offer, noLease, inform, wrongPort, request, unknown} {
		cases = append(cases, guardCase{"ignored", "gw", b, ok})
	}
	for n := 14; n < len(full); n++ { // every truncation
		cases = append(cases, guardCase{"truncated", "gw", full[:n], ok})
	}
	cases = append(cases, guardCase{"a good ACK from a port that is not the gateway's", "o", full, ok})
	r.run(now, cases)
	if b := r.s.GuardBindings("g"); len(b) != 0 {
		t.Fatalf("bound %+v", b)
	}
}

// BenchmarkForwardGuarded is BenchmarkForwardUnicast from a DHCP-guarded
// port holding a lease: the guard's cost per frame.
func BenchmarkForwardGuarded(b *testing.B) {
	s, ports := benchSwitch(b, PortConfig{Name: "a", VLAN: VLANConfig{PVID: 1}, Guard: &GuardConfig{DHCP: true}}, access("b", 1))
	now := time.Now().Unix()
	s.fdb.learn(ports[0], 1, mac(1), now)
	s.fdb.learn(ports[1], 1, mac(2), now)
	ports[0].guard.bind(binding{mac: mac(1), ip: ip5.As4(), expiry: now + 3600}, now)
	benchForward(b, s, ports, 0, udp4(mac(2), mac(1), ip5, gw1, 1000, 53, nil))
}

// The gateway's reader binds while the guest's reader checks, as in the
// running switch: the race detector sees no unsynchronised access, and
// once bound, the guest's frames pass every time.
func TestDHCPGuardConcurrent(t *testing.T) {
	s, ports := benchSwitch(t, PortConfig{Name: "g", VLAN: VLANConfig{PVID: 1}, Guard: &GuardConfig{DHCP: true}}, access("gw", 1))
	if err := s.AddLocal("gw", 1, mac(9)); err != nil {
		t.Fatal(err)
	}
	g, gw := ports[0], ports[1]
	now := time.Now().Unix()
	s.fdb.learn(g, 1, mac(1), now)
	run := func(p *swPort, b []byte) {
		f := NewFrame()
		f.SetData(b)
		fs := []*Frame{f}
		s.ingress(p, fs, now)
		fs[0].Release()
		out := make([]*Frame, BatchSize)
		for _, q := range ports {
			if q == p {
				continue // each queue has one reader: the other goroutine's port's
			}
			for k := q.q.Take(out); k > 0; k = q.q.Take(out) {
				for _, f := range out[:k] {
					f.Release()
				}
			}
		}
	}
	run(gw, ack(mac(1), ip5, 3600))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			run(gw, ack(mac(1), netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}), 10+uint32(i)))
			run(gw, ack(mac(1), ip5, 3600))
		}
	}()
	for range 2000 {
		run(g, udp4(mac(9), mac(1), ip5, gw1, 1, 2, nil))
	}
	<-done
	if d := g.status().Drops; d != ([NumDropReasons]uint64{}) {
		t.Fatalf("the bound guest's frames were dropped: %v", d)
	}
}

// A guard the switch cannot apply is refused when the port is added.
func TestGuardConfigRefused(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	for _, g := range []*GuardConfig{
		{},
		{DHCP: true, MACs: []pkt.MAC{mac(1)}},
		{IPs: []netip.Addr{netip.MustParseAddr("::ffff:10.0.0.1")}},
		{IPs: []netip.Addr{netip.MustParseAddr("ff02::1")}},
		{IPs: []netip.Addr{netip.IPv6Unspecified()}},
		{IPs: []netip.Addr{{}}},
	} {
		if err := s.AddPort(PortConfig{Name: "g", Guard: g}, newMemPort()); err == nil {
			t.Fatalf("guard %+v accepted", g)
		}
	}
	if len(s.Ports()) != 0 {
		t.Fatal("a refused port was added")
	}
}
