package vswitch

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

var (
	a6own   = netip.MustParseAddr("fd00::5")
	a6other = netip.MustParseAddr("fd00::6")
	gw6     = netip.MustParseAddr("fd00::1")
	unspec6 = netip.IPv6Unspecified()
	allMAC6 = pkt.MAC{0x33, 0x33, 0, 0, 0, 1}
)

// ip6Frame builds Ethernet/IPv6 from src (to the all-nodes MAC unless
// dst is set) carrying payload as protocol next.
func guard6Frame(dst, src pkt.MAC, sip, dip netip.Addr, next uint8, payload []byte) []byte {
	if dst.IsZero() {
		dst = allMAC6
	}
	b := make([]byte, max(14+40+len(payload), 60))
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: dst, Src: src, Type: pkt.TypeIPv6})
	pkt.IPv6(b[14:]).Encode(&pkt.IPv6Fields{PayloadLen: uint16(len(payload)), NextHeader: next, HopLimit: 255, Src: sip, Dst: dip})
	copy(b[54:], payload)
	if next == pkt.ProtoICMPv6 && len(payload) >= pkt.ICMPv6Len {
		ip := pkt.IPv6(b[14:])
		pkt.ICMPv6(b[54 : 54+len(payload)]).SetChecksum(ip.PseudoHeaderChecksum(next, uint16(len(payload))))
	}
	return b
}

// icmp6 is an ICMPv6 message of type typ: target (for NS and NA) and
// then options.
func icmp6(typ uint8, target netip.Addr, opts ...byte) []byte {
	n := max(pkt.NDPOptionsOffset(typ), 8)
	m := make([]byte, n, n+len(opts))
	m[0] = typ
	if target.IsValid() {
		t := target.As16()
		copy(m[8:24], t[:])
	}
	return append(m, opts...)
}

// lla is a source (1) or target (2) link-layer address option.
func lla(typ uint8, m pkt.MAC) []byte { return append([]byte{typ, 1}, m[:]...) }

func echo6(src pkt.MAC, sip netip.Addr) []byte { return echo6to(pkt.MAC{}, src, sip) }

func echo6to(dst, src pkt.MAC, sip netip.Addr) []byte {
	return guard6Frame(dst, src, sip, gw6, pkt.ProtoICMPv6, icmp6(pkt.ICMPv6EchoRequest, netip.Addr{}))
}

func ns6(src pkt.MAC, sip, target netip.Addr, opts ...byte) []byte {
	return guard6Frame(pkt.MAC{}, src, sip, pkt.SolicitedNode(target), pkt.ProtoICMPv6, icmp6(pkt.ICMPv6NeighSolicit, target, opts...))
}

func na6(src pkt.MAC, sip, target netip.Addr, opts ...byte) []byte {
	return guard6Frame(pkt.MAC{}, src, sip, pkt.IPv6AllNodes, pkt.ProtoICMPv6, icmp6(pkt.ICMPv6NeighAdvert, target, opts...))
}

// frag6 wraps msg, an ICMPv6 message, in a fragment header at offset off.
func frag6(src pkt.MAC, sip netip.Addr, off uint16, msg []byte) []byte {
	fh := []byte{pkt.ProtoICMPv6, 0, byte(off << 3 >> 8), byte(off<<3) | 1, 0, 0, 0, 7}
	return guard6Frame(pkt.MAC{}, src, sip, gw6, pkt.ProtoFragment, append(fh, msg...))
}

// slaac is the address kernel SLAAC makes from m in prefix p (a /64).
func slaac(p string, m pkt.MAC) netip.Addr {
	a := netip.MustParseAddr(p).As16()
	ll := pkt.LinkLocalFromMAC(m).As16()
	copy(a[8:], ll[8:])
	return netip.AddrFrom16(a)
}

// reply6 is the gateway's (mac 9) DHCPv6 Reply to m binding addr for
// valid seconds.
func reply6(m pkt.MAC, addr netip.Addr, valid uint32) []byte {
	d := []byte{pkt.DHCPv6Reply, 1, 2, 3}
	ia := make([]byte, 12, 12+28)
	a := addr.As16()
	ia = append(ia, 0, pkt.DHCPv6OptIAAddr, 0, 24)
	ia = append(ia, a[:]...)
	ia = binary.BigEndian.AppendUint32(ia, valid/2)
	ia = binary.BigEndian.AppendUint32(ia, valid)
	d = append(d, 0, pkt.DHCPv6OptIANA, 0, byte(len(ia)))
	d = append(d, ia...)
	u := make([]byte, 8+len(d))
	copy(u[8:], d)
	ll := pkt.LinkLocalFromMAC(m)
	binary.BigEndian.PutUint16(u[0:], pkt.DHCPv6ServerPort)
	binary.BigEndian.PutUint16(u[2:], pkt.DHCPv6ClientPort)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	return guard6Frame(m, mac(9), netip.MustParseAddr("fe80::1"), ll, pkt.ProtoUDP, u)
}

// solicit6 is a DHCPv6 client's Solicit from m's link-local address.
func solicit6(m pkt.MAC) []byte {
	u := make([]byte, 8+4)
	binary.BigEndian.PutUint16(u[0:], pkt.DHCPv6ClientPort)
	binary.BigEndian.PutUint16(u[2:], pkt.DHCPv6ServerPort)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	u[8] = pkt.DHCPv6Solicit
	return guard6Frame(pkt.MAC{}, m, pkt.LinkLocalFromMAC(m), pkt.IPv6AllDHCP, pkt.ProtoUDP, u)
}

// A static guard with IPv6 addresses: listed and own link-local sources,
// :: for DAD, RS and MLD; NDP for its own addresses and MAC only.
func TestStaticGuard6(t *testing.T) {
	g := PortConfig{Name: "g", VLAN: VLANConfig{PVID: 1}, Guard: &GuardConfig{MACs: []pkt.MAC{mac(1)}, IPs: []netip.Addr{ip5, a6own}}}
	v6 := PortConfig{Name: "v6", VLAN: VLANConfig{PVID: 1}, Guard: &GuardConfig{IPs: []netip.Addr{a6other}}}
	// o is a multicast router port, so an MLD report that passes the guard
	// has somewhere to go (reports go to router ports only).
	o := access("o", 1)
	o.MulticastRouter = MulticastRouterAlways
	r := newGuardRig(t, g, v6, o)
	r.s.mdb.addPort(r.ports["o"], 0) // the rig bypasses AddPort, which does this
	ll1, ll2 := pkt.LinkLocalFromMAC(mac(1)), pkt.LinkLocalFromMAC(mac(2))
	bad := echo6(mac(1), a6own)
	bad[14] = 0x40 // version 4 in an IPv6 EtherType
	zeroLen := na6(mac(1), a6own, a6own, 2, 0, 0, 0, 0, 0, 0, 0)
	cut := na6(mac(1), a6own, a6own)
	binary.BigEndian.PutUint16(cut[18:], 16) // an NA 16 bytes long
	r.run(time.Now().Unix(), []guardCase{
		{"listed source", "g", echo6(mac(1), a6own), ok},
		{"another source", "g", echo6(mac(1), a6other), DropSpoofedIP},
		{"another MAC", "g", echo6(mac(2), a6own), DropSpoofedMAC},
		{"own link-local", "g", echo6(mac(1), ll1), ok},
		{"another MAC's link-local", "g", echo6(mac(1), ll2), DropSpoofedIP},
		{"a made-up link-local", "g", echo6(mac(1), netip.MustParseAddr("fe80::1")), DropSpoofedIP},
		{"echo from ::", "g", echo6(mac(1), unspec6), DropSpoofedIP},
		{"bad IPv6 header", "g", bad, DropSpoofedIP},
		{"DAD of its address", "g", ns6(mac(1), unspec6, a6own), ok},
		{"DAD of its link-local", "g", ns6(mac(1), unspec6, ll1), ok},
		{"DAD of another's address", "g", ns6(mac(1), unspec6, a6other), DropSpoofedND},
		{"DAD from another MAC", "g", ns6(mac(2), unspec6, a6own), DropSpoofedMAC},
		{"NS with its MAC", "g", ns6(mac(1), a6own, gw6, lla(1, mac(1))...), ok},
		{"NS with another MAC", "g", ns6(mac(1), a6own, gw6, lla(1, mac(2))...), DropSpoofedND},
		{"NA for its address", "g", na6(mac(1), a6own, a6own, lla(2, mac(1))...), ok},
		{"NA for its link-local", "g", na6(mac(1), ll1, ll1), ok},
		{"NA for a foreign target", "g", na6(mac(1), a6own, a6other, lla(2, mac(1))...), DropSpoofedND},
		{"NA for the gateway", "g", na6(mac(1), a6own, gw6), DropSpoofedND},
		{"NA with another MAC", "g", na6(mac(1), a6own, a6own, lla(2, mac(2))...), DropSpoofedND},
		{"NA with a zero-length option", "g", zeroLen, DropSpoofedND},
		{"NA cut short", "g", cut, DropSpoofedND},
		{"fragmented NA", "g", frag6(mac(1), a6own, 0, icmp6(pkt.ICMPv6NeighAdvert, a6own)), DropSpoofedND},
		{"fragmented echo", "g", frag6(mac(1), a6own, 0, icmp6(pkt.ICMPv6EchoRequest, netip.Addr{})), ok},
		{"a later fragment", "g", frag6(mac(1), a6own, 8, icmp6(pkt.ICMPv6NeighAdvert, a6other)), ok},
		{"RS from ::", "g", guard6Frame(pkt.MAC{}, mac(1), unspec6, pkt.IPv6AllRouters, pkt.ProtoICMPv6, icmp6(pkt.ICMPv6RouterSolicit, netip.Addr{})), ok},
		{"RS with another MAC", "g", guard6Frame(pkt.MAC{}, mac(1), ll1, pkt.IPv6AllRouters, pkt.ProtoICMPv6, icmp6(pkt.ICMPv6RouterSolicit, netip.Addr{}, lla(1, mac(2))...)), DropSpoofedND},
		{"MLD report from ::", "g", guard6Frame(pkt.MAC{}, mac(1), unspec6, netip.MustParseAddr("ff02::16"), pkt.ProtoICMPv6, icmp6(pkt.ICMPv6MLDv2Report, netip.Addr{})), ok},
		// Only IPv6 listed: no IPv4 address is the port's.
		{"v6-only guard: its address", "v6", echo6(mac(5), a6other), ok},
		{"v6-only guard: IPv4", "v6", udp4(pkt.Broadcast, mac(5), ip5, gw1, 1, 2, nil), DropSpoofedIP},
		{"v6-only guard: ARP", "v6", arp4(mac(5), mac(5), ip5, gw1), DropSpoofedARP},
	})
	if DropSpoofedND.String() != "spoofed_nd" {
		t.Fatal(DropSpoofedND.String())
	}
}

// guard: dhcp and IPv6: SLAAC addresses of a bound MAC in the gateway's
// /64, link-local, and addresses the gateway's DHCPv6 Replies gave.
func TestDHCPGuard6(t *testing.T) {
	dg := func(name string) PortConfig {
		return PortConfig{Name: name, VLAN: VLANConfig{PVID: 1}, Guard: &GuardConfig{DHCP: true}}
	}
	r := newGuardRig(t, dg("d"), dg("h"), access("gw", 1))
	if err := r.s.AddLocal("gw", 1, mac(9)); err != nil {
		t.Fatal(err)
	}
	for _, a := range []netip.Addr{gw6, netip.MustParseAddr("fe80::1")} {
		if err := r.s.AddLocalAddr6(1, a); err != nil {
			t.Fatal(err)
		}
	}
	s1, s2 := slaac("fd00::", mac(1)), slaac("fd00::", mac(2))
	leased := netip.MustParseAddr("fd00::100")
	t0 := time.Now().Unix()
	r.run(t0, []guardCase{
		{"no lease: SLAAC", "d", echo6(mac(1), s1), DropSpoofedMAC},
		{"no lease: DAD of its link-local", "d", ns6(mac(1), unspec6, pkt.LinkLocalFromMAC(mac(1))), ok},
		{"no lease: DAD of its SLAAC address", "d", ns6(mac(1), unspec6, s1), ok},
		{"no lease: DAD of an address not its own", "d", ns6(mac(1), unspec6, s2), DropSpoofedND},
		{"no lease: DHCPv6 Solicit from its link-local", "d", solicit6(mac(1)), ok},
		{"no lease: RS from its link-local", "d", guard6Frame(pkt.MAC{}, mac(1), pkt.LinkLocalFromMAC(mac(1)), pkt.IPv6AllRouters, pkt.ProtoICMPv6, icmp6(pkt.ICMPv6RouterSolicit, netip.Addr{}, lla(1, mac(1))...)), ok},
		{"no lease: NA for its link-local", "d", na6(mac(1), pkt.LinkLocalFromMAC(mac(1)), pkt.LinkLocalFromMAC(mac(1))), ok},
		{"no lease: echo from its link-local", "d", echo6(mac(1), pkt.LinkLocalFromMAC(mac(1))), DropSpoofedMAC},
		{"no lease: Solicit from another MAC's link-local", "d", guard6Frame(pkt.MAC{}, mac(1), pkt.LinkLocalFromMAC(mac(2)), pkt.IPv6AllDHCP, pkt.ProtoUDP, solicit6(mac(2))[54:]), DropSpoofedMAC},
		{"IPv4 ACK", "gw", ack(mac(1), ip5, 3600), ok},
		{"h's DISCOVER", "h", dhcpFromClient(mac(2), pkt.DHCPDiscover), ok},
		{"IPv4 ACK to h", "gw", ack(mac(2), ip6, 3600), ok},
		{"SLAAC", "d", echo6(mac(1), s1), ok},
		{"link-local", "d", echo6(mac(1), pkt.LinkLocalFromMAC(mac(1))), ok},
		{"SLAAC in another /64", "d", echo6(mac(1), slaac("fd01::", mac(1))), DropSpoofedIP},
		{"another MAC's SLAAC address", "d", echo6(mac(1), s2), DropSpoofedIP},
		{"a privacy address", "d", echo6(mac(1), netip.MustParseAddr("fd00::1234:5678:9abc:def0")), DropSpoofedIP},
		{"MAC bytes without ff:fe (fe:fe)", "d", echo6(mac(1), netip.MustParseAddr("fd00::5054:fe:fe00:1")), DropSpoofedIP},
		{"MAC bytes without ff:fe (ff:ee)", "d", echo6(mac(1), netip.MustParseAddr("fd00::5054:ff:ee00:1")), DropSpoofedIP},
		{"NA for its SLAAC address", "d", na6(mac(1), s1, s1, lla(2, mac(1))...), ok},
		{"NA for h's", "d", na6(mac(1), s1, s2), DropSpoofedND},
		{"not leased yet", "d", echo6(mac(1), leased), DropSpoofedIP},
		{"the gateway's DHCPv6 Reply", "gw", reply6(mac(1), leased, 60), ok},
		{"leased", "d", echo6(mac(1), leased), ok},
		{"NA for the lease", "d", na6(mac(1), leased, leased), ok},
		{"h may not use it", "h", echo6(mac(2), leased), DropSpoofedIP},
		{"nor advertise it", "h", na6(mac(2), s2, leased), DropSpoofedND},
		{"a guest's forged Reply", "h", reply6(mac(2), leased, 60), DropSpoofedMAC},
		{"theft: d's MAC's Solicit from h", "h", solicit6(mac(1)), DropSpoofedMAC},
	})
	if b := r.s.GuardBindings("d"); len(b) != 2 || b[1].IP != leased || b[1].MAC != mac(1) || b[1].Expiry != t0+60 {
		t.Fatalf("bindings %+v", b)
	}
	r.run(t0+60, []guardCase{
		{"expired", "d", echo6(mac(1), leased), DropSpoofedIP},
		{"SLAAC still", "d", echo6(mac(1), s1), ok},
		{"renewed", "gw", reply6(mac(1), leased, 60), ok},
		{"leased again", "d", echo6(mac(1), leased), ok},
		{"the address goes to h", "gw", reply6(mac(2), leased, 60), ok},
		{"h uses it", "h", echo6(mac(2), leased), ok},
		{"d no more", "d", echo6(mac(1), leased), DropSpoofedIP},
		{"released (lifetime 0)", "gw", reply6(mac(2), leased, 0), ok},
		{"h no more", "h", echo6(mac(2), leased), DropSpoofedIP},
	})
	// An IPv6-only guest: its DHCPv6 lease binds its MAC.
	r.run(t0, []guardCase{
		{"v6-only: DAD", "h", ns6(mac(3), unspec6, pkt.LinkLocalFromMAC(mac(3))), ok},
		{"v6-only: Reply", "gw", reply6(mac(3), netip.MustParseAddr("fd00::103"), 60), ok},
		{"v6-only: leased", "h", echo6(mac(3), netip.MustParseAddr("fd00::103")), ok},
		{"v6-only: SLAAC of the bound MAC", "h", echo6(mac(3), slaac("fd00::", mac(3))), ok},
	})
}

// Replies that bind nothing: not a Reply, to a MAC on no guarded port, cut
// short, link-local or multicast addresses, from a port that is not the
// gateway's.
func TestDHCPGuard6SnoopIgnores(t *testing.T) {
	r := newGuardRig(t, PortConfig{Name: "d", VLAN: VLANConfig{PVID: 1}, Guard: &GuardConfig{DHCP: true}}, access("gw", 1), access("o", 1))
	r.ports["gw"].local.Store(true)
	now := time.Now().Unix()
	r.run(now, []guardCase{{"learn mac(1) on d", "d", dhcpFromClient(mac(1), pkt.DHCPDiscover), ok}})
	leased := netip.MustParseAddr("fd00::100")
	adv := reply6(mac(1), leased, 60)
	adv[14+40+8] = pkt.DHCPv6Advertise
	full := reply6(mac(1), leased, 60)
	cases := []guardCase{
		{"advertise", "gw", adv, ok},
		{"to another MAC", "gw", reply6(mac(5), leased, 60), ok},
		{"link-local", "gw", reply6(mac(1), netip.MustParseAddr("fe80::5"), 60), ok},
		{"multicast", "gw", reply6(mac(1), netip.MustParseAddr("ff02::5"), 60), ok},
		{"from another port", "o", full, ok},
	}
	for n := 14; n < 14+40+8+4+4+12+4+24; n++ { // every truncation of the headers and IA
		b := append([]byte(nil), full[:n]...)
		cases = append(cases, guardCase{"truncated", "gw", b, ok})
	}
	r.run(now, cases)
	if b := r.s.GuardBindings("d"); len(b) != 0 {
		t.Fatalf("bound %+v", b)
	}
	if err := r.s.RestoreGuardBinding("d", mac(1), leased, now+60, now); err != nil {
		t.Fatal(err)
	}
	if b := r.s.GuardBindings("d"); len(b) != 1 || b[0].IP != leased {
		t.Fatalf("restored %+v", b)
	}
}

// BenchmarkForwardGuarded6 is BenchmarkForwardGuarded for IPv6: a bound
// guest's SLAAC source and a DHCPv6 lease at the end of its bindings.
func BenchmarkForwardGuarded6(b *testing.B) {
	s, ports := benchSwitch(b, PortConfig{Name: "a", VLAN: VLANConfig{PVID: 1}, Guard: &GuardConfig{DHCP: true}}, access("b", 1))
	if err := s.AddLocalAddr6(1, gw6); err != nil {
		b.Fatal(err)
	}
	now := time.Now().Unix()
	s.fdb.learn(ports[0], 1, mac(1), now)
	s.fdb.learn(ports[1], 1, mac(2), now)
	ports[0].guard.bind(binding{mac: mac(1), ip: ip5.As4(), expiry: now + 3600}, now)
	s.bind6(ports[0], mac(1), netip.MustParseAddr("fd00::100").As16(), now+3600, now)
	for _, c := range []struct {
		name string
		src  netip.Addr
	}{{"slaac", slaac("fd00::", mac(1))}, {"dhcp6", netip.MustParseAddr("fd00::100")}} {
		b.Run(c.name, func(b *testing.B) {
			f := echo6(mac(1), c.src)
			pkt.Ethernet(f).SetDst(mac(2))
			benchForward(b, s, ports, 0, f)
		})
	}
}
