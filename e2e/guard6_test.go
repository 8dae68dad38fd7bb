package e2e

import (
	"fmt"
	"maps"
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// raw6 builds Ethernet/IPv6 carrying the ICMPv6 message msg, with its
// checksum.
func raw6(dst, src pkt.MAC, sip, dip netip.Addr, msg []byte) []byte {
	return frame6(dst, src, sip, dip, 255, pkt.ProtoICMPv6, msg)
}

// frame6 builds Ethernet/IPv6 (hop limit hop) carrying l4, an ICMPv6
// message or a UDP datagram (proto), and sets its checksum.
func frame6(dst, src pkt.MAC, sip, dip netip.Addr, hop, proto uint8, l4 []byte) []byte {
	const off = pkt.EthernetLen + pkt.IPv6Len
	b := make([]byte, max(off+len(l4), 60))
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: dst, Src: src, Type: pkt.TypeIPv6})
	ip := pkt.IPv6(b[pkt.EthernetLen:])
	ip.Encode(&pkt.IPv6Fields{PayloadLen: uint16(len(l4)), NextHeader: proto, HopLimit: hop, Src: sip, Dst: dip})
	m := b[off : off+len(l4)]
	copy(m, l4)
	pseudo := ip.PseudoHeaderChecksum(proto, uint16(len(l4)))
	if proto == pkt.ProtoUDP {
		pkt.UDP(m).SetChecksum(pseudo)
	} else {
		pkt.ICMPv6(m).SetChecksum(pseudo)
	}
	return b
}

// echoMsg is an ICMPv6 echo request carrying payload.
func echoMsg(payload string) []byte {
	m := make([]byte, 8, 8+len(payload))
	pkt.ICMPv6(m).EncodeHeader(pkt.ICMPv6EchoRequest, 0, 7<<16|1)
	return append(m, payload...)
}

// ndMsg is an NS or NA for target, with a link-layer address option
// naming lla unless it is zero.
func ndMsg(typ uint8, flags uint8, target netip.Addr, lla pkt.MAC) []byte {
	m := make([]byte, 24, 32)
	m[0], m[4] = typ, flags
	t := target.As16()
	copy(m[8:], t[:])
	if !lla.IsZero() {
		opt := uint8(pkt.NDPOptTargetLLA)
		if typ == pkt.ICMPv6NeighSolicit {
			opt = pkt.NDPOptSourceLLA
		}
		m = append(append(m, opt, 1), lla[:]...)
	}
	return m
}

// TestGuard6SLAAC: a guest on a `guard: dhcp` port gets its IPv4 lease
// (which binds its MAC) and its IPv6 address by the kernel's SLAAC, and
// pings the gateway over IPv6 at its global and link-local addresses
// (the positive control). It then crafts, on an AF_PACKET socket, echo
// requests from its neighbour's SLAAC address and from a privacy-style
// address in the prefix (spoofed_ip), an NA claiming the neighbour's
// address for its own MAC and a DAD probe for it from :: (spoofed_nd).
// Each is dropped with exactly its count, none reaches the neighbour,
// and an echo from the guest's own address sent after them (the
// sentinel) does.
func TestGuard6SLAAC(t *testing.T) {
	requireE2E(t, "ping", "udhcpc")
	vs, g, v, pg, pv := guardedPair6(t, "6g", "6v", `  - name: lab6
    address: 10.227.0.1/24
    address6: "fd00:124::1/64"
    dhcp: {range: 10.227.0.10-10.227.0.20}
`)
	gwMAC := vs.gatewayMAC("lab6")
	g.dev = pg
	v.Run("ip", "link", "set", pv, "up")
	// IPv6 comes up after the lease only to keep the test short: up with
	// the link, SLAAC took 16 s here, guarded or not (no drop counted);
	// after it, 2 s. The unit tests cover what passes before a lease.
	g.Run("sysctl", "-qw", "net.ipv6.conf."+pg+".disable_ipv6=1")
	if ip := dhcpClient(t, "udhcpc", g, pg); ip != "10.227.0.10" {
		t.Fatalf("udhcpc on the guarded port got %q, want 10.227.0.10", ip)
	}
	g.Run("sysctl", "-qw", "net.ipv6.conf."+pg+".disable_ipv6=0")
	own := waitSLAAC(t, g, "fd00:124::/64", gwMAC)
	const n = 5
	if got := g.pingCount("fd00:124::1", n); got != n {
		t.Fatalf("the guarded guest pings the gateway over IPv6: %d of %d", got, n)
	}
	gwLL := pkt.LinkLocalFromMAC(gwMAC).String() + "%" + pg
	if got := g.pingCount(gwLL, n); got != n {
		t.Fatalf("the guarded guest pings %s: %d of %d", gwLL, got, n)
	}

	gmac, vmac := mustMAC(t, g.mac(pg)), mustMAC(t, v.mac(pv))
	vAddr := slaac("fd00:124::/64", vmac)
	privacy := netip.MustParseAddr("fd00:124::1234:5678:9abc:def0")
	raw := testnet.OpenRaw(t, g.Netns, pg)
	sniff := testnet.OpenRaw(t, v.Netns, pv)
	before := vs.ports()[pg].Drops
	const n1, n2, n3, n4 = 10, 7, 12, 9
	for range n1 {
		raw.Send(raw6(vmac, gmac, vAddr, vAddr, echoMsg("spoof: the neighbour's address")))
	}
	for range n2 {
		raw.Send(raw6(vmac, gmac, privacy, vAddr, echoMsg("spoof: a privacy address")))
	}
	for range n3 { // "the neighbour's address is at my MAC"
		raw.Send(raw6(pkt.MulticastMAC6(pkt.IPv6AllNodes), gmac, own, pkt.IPv6AllNodes, ndMsg(pkt.ICMPv6NeighAdvert, pkt.NDPNAOverride, vAddr, gmac)))
	}
	for range n4 { // a DAD probe that would make the neighbour give its address up
		raw.Send(raw6(pkt.MulticastMAC6(pkt.SolicitedNode(vAddr)), gmac, netip.IPv6Unspecified(), pkt.SolicitedNode(vAddr), ndMsg(pkt.ICMPv6NeighSolicit, 0, vAddr, pkt.MAC{})))
	}
	raw.Send(raw6(vmac, gmac, own, vAddr, echoMsg("sentinel 6")))
	awaitSentinel(t, sniff, "sentinel 6", func(d []byte) bool {
		if len(d) < 14+40+24 || pkt.Ethernet(d).Type() != pkt.TypeIPv6 {
			return false
		}
		ip := pkt.IPv6(d[14:])
		target := netip.AddrFrom16([16]byte(d[14+40+8 : 14+40+24]))
		nd := ip.NextHeader() == pkt.ProtoICMPv6 && (d[54] == pkt.ICMPv6NeighAdvert || d[54] == pkt.ICMPv6NeighSolicit && ip.Src().IsUnspecified())
		return pkt.Ethernet(d).Src() == gmac && nd && target == vAddr
	})
	checkDropsSince(t, vs, pg, before, map[string]uint64{"spoofed_ip": n1 + n2, "spoofed_nd": n3 + n4})
	if got := g.pingCount("fd00:124::1", 2); got != 2 {
		t.Fatalf("the guarded guest pings the gateway after the attack: %d of 2", got)
	}
}

// TestGuard6DHCPv6: an IPv6-only guest (no DHCPv4) on a `guard: dhcp`
// port gets its address from ISC dhclient -6: before a lease its MAC may
// send DHCPv6 and NDP from its link-local address, and the gateway's
// Reply binds the leased address. It pings the gateway from that address
// (the positive control); echoes it crafts from the next address of the
// range are dropped as spoofed_ip, exactly counted, and none reaches its
// neighbour, which gets the sentinel sent after them.
func TestGuard6DHCPv6(t *testing.T) {
	requireE2E(t, "ping", "dhclient")
	vs, g, v, pg, pv := guardedPair6(t, "6d", "6w", `  - name: lab6d
    address: 10.228.0.1/24
    address6: "fd00:125::1/64"
    dhcp6: {range: "fd00:125::100-fd00:125::1ff"}
`)
	g.dev, v.dev = pg, pv
	upLinkLocal(t, g, v)
	dhclient6(t, g, pg, false)
	const leased = "fd00:125::100"
	if got := addr6(t, g, pg); got != leased {
		t.Fatalf("dhclient -6 on the guarded port got %s, want %s", got, leased)
	}
	const n = 5
	if got := g.pingCount("fd00:125::1", n); got != n {
		t.Fatalf("the guarded guest pings the gateway from its lease: %d of %d", got, n)
	}
	gmac, vmac := mustMAC(t, g.mac(pg)), mustMAC(t, v.mac(pv))
	vLL := pkt.LinkLocalFromMAC(vmac)
	raw := testnet.OpenRaw(t, g.Netns, pg)
	sniff := testnet.OpenRaw(t, v.Netns, pv)
	// attack sends n1 echoes from the next lease, then the sentinel from
	// the guest's own: each of the n1 is dropped as spoofed_ip, none
	// reaches the neighbour, the sentinel does.
	const n1 = 15
	attack := func(spoof, sentinel string) {
		t.Helper()
		before := vs.ports()[pg].Drops
		for range n1 {
			raw.Send(raw6(vmac, gmac, netip.MustParseAddr("fd00:125::101"), vLL, echoMsg(spoof)))
		}
		raw.Send(raw6(vmac, gmac, netip.MustParseAddr(leased), vLL, echoMsg(sentinel)))
		awaitSentinel(t, sniff, sentinel, func([]byte) bool { return false })
		checkDropsSince(t, vs, pg, before, map[string]uint64{"spoofed_ip": n1})
	}
	attack("spoof: the next lease", "sentinel 6d")

	// kill -9 and start again: the binding comes back from the lease
	// store (the port's host MAC is its stable one), so the guest's
	// pings from its lease pass without a new DHCPv6 exchange, and the
	// spoofed source is still dropped.
	vs = killRestart(t, vs)
	if got := g.pingCount("fd00:125::1", n); got != n {
		t.Fatalf("after kill -9 and a restart, the guarded guest's pings from its lease: %d of %d", got, n)
	}
	attack("spoof: after the restart", "sentinel 6r")
}

// guardedPair6 starts vswitch with a guest g on a `guard: dhcp` TAP port
// pg and its neighbour v on a plain one pv; network is the YAML list
// below `networks:`.
func guardedPair6(t *testing.T, gTag, vTag, network string) (vs *instance, g, v *host, pg, pv string) {
	t.Helper()
	g, v = newHost6(t, gTag), newHost6(t, vTag)
	pg, pv = testnet.Name("g6"), testnet.Name("g6")
	vs = startVswitch(t, fmt.Sprintf(`ports:
  - {name: %s, type: tap, netns: %s, guard: dhcp}
  - {name: %s, type: tap, netns: %s}
networks:
`, pg, g.Name, pv, v.Name)+network)
	return vs, g, v, pg, pv
}

// checkDropsSince compares port's drop counters, less before, with want
// exactly.
func checkDropsSince(t *testing.T, vs *instance, port string, before, want map[string]uint64) {
	t.Helper()
	got := map[string]uint64{}
	for r, c := range vs.ports()[port].Drops {
		if d := c - before[r]; d != 0 {
			got[r] = d
		}
	}
	if !maps.Equal(got, want) {
		t.Fatalf("%s drops during the attack %v, want exactly %v", port, got, want)
	}
}
