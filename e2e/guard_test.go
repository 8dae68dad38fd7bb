package e2e

import (
	"bytes"
	"fmt"
	"maps"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// rawUDP builds an Ethernet/IPv4/UDP frame from port 40000 to 9999.
func rawUDP(dst, src pkt.MAC, sip, dip netip.Addr, payload string) []byte {
	return rawUDPPorts(dst, src, sip, dip, 40000, 9999, payload)
}

// rawDiscover builds a DHCPDISCOVER from 0.0.0.0 for chaddr, sent from src.
func rawDiscover(src, chaddr pkt.MAC) []byte {
	b := make([]byte, pkt.DHCPOptionsOff, 300)
	pkt.DHCP(b).Encode(&pkt.DHCPFields{Op: pkt.BOOTRequest, CHAddr: chaddr[:]})
	b = append(b, pkt.OptMessageType, 1, pkt.DHCPDiscover, pkt.OptEnd)
	return rawUDPPorts(pkt.Broadcast, src, netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255}), 68, 67, string(b))
}

func rawUDPPorts(dst, src pkt.MAC, sip, dip netip.Addr, sport, dport uint16, payload string) []byte {
	b := make([]byte, max(pkt.UDP4FrameHdrLen+len(payload), 60))
	copy(b[pkt.UDP4FrameHdrLen:], payload)
	pkt.EncodeUDP4Frame(b, dst, src, pkt.IPv4Fields{TTL: 64, Src: sip, Dst: dip}, sport, dport, len(payload))
	return b
}

// rawARP builds an ARP reply from src claiming sip is at smac.
func rawARP(dst, src, smac pkt.MAC, sip, tip netip.Addr) []byte {
	b := make([]byte, 60)
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: dst, Src: src, Type: pkt.TypeARP})
	pkt.ARP(b[14:42]).Encode(&pkt.ARPFields{Op: pkt.ARPReply, SenderMAC: smac, SenderIP: sip, TargetMAC: dst, TargetIP: tip})
	return b
}

func mustMAC(t *testing.T, s string) pkt.MAC {
	m, err := pkt.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGuardDHCP: a guest on a port with `guard: dhcp` sends raw frames
// claiming an address before it has a lease, then, once udhcpc got it one,
// its neighbour's address, a MAC not its own, ARP replies that say the
// gateway's address is its MAC, and a protocol neither IPv4, ARP nor
// IPv6. Each is dropped with its reason, exactly counted, and none
// reaches the neighbour, while the guest's own
// lease works: it pings the gateway, and a frame from its leased address
// (the sentinel, sent after all the spoofed ones) reaches the neighbour.
// Another DHCP-guarded port cannot use the leased guest's MAC, not even
// for DHCP. A port with a static guard is held to its listed addresses the
// same way.
func TestGuardDHCP(t *testing.T) {
	requireE2E(t, "ping", "udhcpc")
	g, v, s, th := newHost(t, "gg"), newHost(t, "gv"), newHost(t, "gs"), newHost(t, "gt")
	pg, pv, ps, pt := testnet.Name("g"), testnet.Name("g"), testnet.Name("g"), testnet.Name("g")
	const staticMAC, staticIP = "52:54:00:25:00:30", "10.225.0.30"
	vs := startVswitch(t, fmt.Sprintf(`ports:
  - {name: %s, type: tap, netns: %s, guard: dhcp}
  - {name: %s, type: tap, netns: %s}
  - {name: %s, type: tap, netns: %s, mac: %q, guard: {macs: [%q], ips: [%s]}}
  - {name: %s, type: tap, netns: %s, guard: dhcp}
networks:
  - name: lab
    address: 10.225.0.1/24
    dhcp: {range: 10.225.0.10-10.225.0.20}
`, pg, g.Name, pv, v.Name, ps, s.Name, staticMAC, staticMAC, staticIP, pt, th.Name))
	v.addr(pv, "10.225.0.5/24")
	s.addr(ps, staticIP+"/24")
	if !v.ping("10.225.0.1", 2) { // the neighbour is learned
		t.Fatal("the neighbour cannot ping the gateway")
	}
	g.Run("ip", "link", "set", pg, "up")
	own, vmac := mustMAC(t, g.mac(pg)), mustMAC(t, v.mac(pv))
	gwIP, vIP, leased := netip.MustParseAddr("10.225.0.1"), netip.MustParseAddr("10.225.0.5"), netip.MustParseAddr("10.225.0.10")
	other := mustMAC(t, "02:00:00:25:00:99")
	raw := testnet.OpenRaw(t, g.Netns, pg)
	sniff := testnet.OpenRaw(t, v.Netns, pv)

	const n0, n1, n2, n3, n4 = 10, 20, 30, 40, 5
	// Before a lease: the address it is about to get.
	for range n0 {
		raw.Send(rawUDP(vmac, own, leased, vIP, "spoof: no lease yet"))
	}
	if ip := dhcpClient(t, "udhcpc", g, pg); ip != "10.225.0.10" {
		t.Fatalf("udhcpc on the guarded port got %q, want 10.225.0.10", ip)
	}
	if !g.ping("10.225.0.1", 3) {
		t.Fatal("the guarded guest cannot ping the gateway with its lease")
	}
	for range n1 {
		raw.Send(rawUDP(vmac, own, vIP, vIP, "spoof: the neighbour's address"))
	}
	for range n2 {
		raw.Send(rawUDP(vmac, other, leased, vIP, "spoof: another MAC"))
	}
	for range n3 {
		raw.Send(rawARP(vmac, own, own, gwIP, vIP)) // "10.225.0.1 is at my MAC"
	}
	notIP := rawUDP(vmac, own, leased, vIP, "spoof: not IP")
	pkt.Ethernet(notIP).SetType(0x88b5) // IEEE 802 local experimental; IPv6 is guard6_test.go's
	for range n4 {
		raw.Send(notIP)
	}
	raw.Send(rawUDP(vmac, own, leased, vIP, "sentinel 1"))
	awaitSentinel(t, sniff, "sentinel 1", spoofedV4(other, own, gwIP))
	want := map[string]uint64{"spoofed_mac": n0 + n2, "spoofed_ip": n1, "spoofed_arp": n3, "guard_ethertype": n4}
	checkDrops(t, vs.ports()[pg].Drops, want, pg)

	// Another DHCP-guarded port asks for a lease with the leased guest's
	// MAC (a lease-less frame that would move it in the FDB and have its
	// ACK bound there): refused; its own DISCOVER is not.
	th.Run("ip", "link", "set", pt, "up")
	rt := testnet.OpenRaw(t, th.Netns, pt)
	const n5 = 7
	for range n5 {
		rt.Send(rawDiscover(own, own))
	}
	tmac := mustMAC(t, th.mac(pt))
	rt.Send(rawDiscover(tmac, tmac))
	testnet.WaitFor(t, 5*time.Second, "the stranger's DISCOVER learned", func() bool {
		for _, e := range vs.fdb() {
			if e.MAC == tmac.String() {
				return e.Port == pt
			}
		}
		return false
	})
	checkDrops(t, vs.ports()[pt].Drops, map[string]uint64{"spoofed_mac": n5}, pt)
	for _, e := range vs.fdb() {
		if e.MAC == own.String() && e.Port != pg {
			t.Fatalf("the leased guest's MAC moved to %s", e.Port)
		}
	}
	if !g.ping("10.225.0.1", 2) {
		t.Fatal("the guarded guest lost its lease's traffic")
	}

	// The static guard: its own address works; another address, another
	// MAC and a lying ARP do not.
	if !s.ping("10.225.0.1", 2) {
		t.Fatal("the statically guarded guest cannot ping the gateway")
	}
	rs := testnet.OpenRaw(t, s.Netns, ps)
	smac, sIP := mustMAC(t, staticMAC), netip.MustParseAddr(staticIP)
	rs.Send(rawUDP(vmac, smac, vIP, vIP, "spoof: static, the neighbour's address"))
	rs.Send(rawUDP(vmac, other, sIP, vIP, "spoof: static, another MAC"))
	rs.Send(rawARP(vmac, smac, smac, gwIP, vIP))
	rs.Send(rawUDP(vmac, smac, sIP, vIP, "sentinel 2"))
	awaitSentinel(t, sniff, "sentinel 2", spoofedV4(other, smac, gwIP))
	checkDrops(t, vs.ports()[ps].Drops, map[string]uint64{"spoofed_mac": 1, "spoofed_ip": 1, "spoofed_arp": 1}, ps)
	checkDrops(t, vs.ports()[pv].Drops, map[string]uint64{}, pv)
}

// awaitSentinel reads frames at the neighbour until the one carrying
// sentinel; none before it may carry "spoof" or be one spoofed says is.
func awaitSentinel(t *testing.T, sniff *testnet.Raw, sentinel string, spoofed func([]byte) bool) {
	t.Helper()
	for {
		f, ok := sniff.Recv(5 * time.Second)
		if !ok {
			t.Fatalf("%q never reached the neighbour", sentinel)
		}
		d := f.Data
		if bytes.Contains(d, []byte("spoof")) || spoofed(d) {
			t.Fatalf("a spoofed frame reached the neighbour: % x", d[:min(len(d), 80)])
		}
		if bytes.Contains(d, []byte(sentinel)) {
			return
		}
	}
}

// spoofedV4 says a frame is spoofed when its source MAC is other, or it
// is an ARP in which attacker claims the gateway's address gw.
func spoofedV4(other, attacker pkt.MAC, gw netip.Addr) func([]byte) bool {
	return func(d []byte) bool {
		return len(d) >= 12 && bytes.Equal(d[6:12], other[:]) ||
			len(d) >= 42 && pkt.Ethernet(d).Type() == pkt.TypeARP && pkt.ARP(d[14:]).SenderIP() == gw && pkt.ARP(d[14:]).SenderMAC() == attacker
	}
}

// checkDrops compares a port's non-zero drop counters with want exactly.
func checkDrops(t *testing.T, drops, want map[string]uint64, port string) {
	t.Helper()
	got := map[string]uint64{}
	for r, n := range drops {
		if n != 0 {
			got[r] = n
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("%s drops %v, want exactly %v", port, got, want)
	}
}
