package e2e

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// newHost6 is a namespace with IPv6 on, configured by the kernel from
// router advertisements: SLAAC (autoconf) and a default route from the
// RA, as a guest's distribution does. Its device is named after tag, as
// a guest's TAP is.
func newHost6(t testing.TB, tag string) *host {
	ns := testnet.NewNetns(t, tag)
	for _, k := range []string{"all", "default"} {
		ns.Run("sysctl", "-qw", "net.ipv6.conf."+k+".disable_ipv6=0")
		ns.Run("sysctl", "-qw", "net.ipv6.conf."+k+".accept_ra=2") // 2: also if forwarding were on
		ns.Run("sysctl", "-qw", "net.ipv6.conf."+k+".autoconf=1")
		ns.Run("sysctl", "-qw", "net.ipv6.conf."+k+".addr_gen_mode=0") // EUI-64, so the address is known
	}
	return &host{Netns: ns, tb: t, dev: testnet.Name(tag)}
}

// ipv6Lab starts two networks with address6 and guests a1, a2 on the
// first and b1 on the second, each with its link up and configured by
// SLAAC. It returns the gateway MACs by network name.
func ipv6Lab(t *testing.T, tag string, hosts map[string]*host) (*instance, map[string]pkt.MAC, string) {
	t.Helper()
	metrics := freeAddr(t)
	for _, n := range []string{"a1", "a2", "b1"} {
		hosts[n] = newHost6(t, tag+n)
		hosts[n].dev = testnet.Name(tag)
	}
	vs := startVswitch(t, fmt.Sprintf(`metrics: %q
ports:
  - {name: %s, type: tap, netns: %s}
  - {name: %s, type: tap, netns: %s}
  - {name: %s, type: tap, netns: %s, vlan: 2}
networks:
  - name: six
    address: 10.226.0.1/24
    address6: "fd00:122::1/64"
    dns: {hosts: [{name: db, ip: 10.226.0.30}]}
  - name: other
    vlan: 2
    address: 10.226.1.1/24
    address6: "fd00:123::1/64"
`, metrics, hosts["a1"].dev, hosts["a1"].Name, hosts["a2"].dev, hosts["a2"].Name, hosts["b1"].dev, hosts["b1"].Name))
	gw := map[string]pkt.MAC{}
	for _, e := range vs.fdb() {
		if strings.HasPrefix(e.Port, "gw-") {
			gw[strings.TrimPrefix(e.Port, "gw-")] = mustMAC(t, e.MAC)
		}
	}
	if len(gw) != 2 {
		t.Fatalf("gateway FDB entries %v", vs.fdb())
	}
	for _, h := range hosts {
		h.Run("ip", "link", "set", h.dev, "up")
	}
	return vs, gw, metrics
}

// slaac is the address SLAAC forms from prefix (a /64) and mac (EUI-64).
func slaac(prefix string, mac pkt.MAC) netip.Addr {
	p := netip.MustParsePrefix(prefix).Addr().As16()
	ll := pkt.LinkLocalFromMAC(mac).As16()
	copy(p[8:], ll[8:])
	return netip.AddrFrom16(p)
}

// waitSLAAC waits for h's address in prefix to finish DAD and checks the
// default route the RA installed, exactly.
func waitSLAAC(t *testing.T, h *host, prefix string, gwMAC pkt.MAC) netip.Addr {
	t.Helper()
	want := slaac(prefix, mustMAC(t, h.mac(h.dev)))
	testnet.WaitFor(t, 20*time.Second, h.Name+" SLAAC address "+want.String(), func() bool {
		out := h.Run("ip", "-6", "-o", "addr", "show", "dev", h.dev, "scope", "global")
		return strings.Contains(out, " "+want.String()+"/64 ") && !strings.Contains(out, "tentative")
	})
	gwLL := pkt.LinkLocalFromMAC(gwMAC)
	route := regexp.MustCompile(`^default via ` + regexp.QuoteMeta(gwLL.String()) + ` dev ` + regexp.QuoteMeta(h.dev) +
		` proto ra metric 1024 expires (\d+)sec hoplimit 64 pref medium$`)
	out := strings.TrimSpace(h.Run("ip", "-6", "route", "show", "default"))
	m := route.FindStringSubmatch(out)
	if life, err := strconv.Atoi(m1(m)); m == nil || err != nil || life > 1800 || life < 1700 {
		t.Fatalf("%s default route %q, want via %v (the gateway's link-local address), lifetime <= 1800 s", h.Name, out, gwLL)
	}
	return want
}

func m1(m []string) string {
	if len(m) < 2 {
		return ""
	}
	return m[1]
}

// TestIPv6SLAAC: guests with the kernel's SLAAC get an address in their
// network's prefix and a default route via the gateway's link-local
// address, ping the gateway, each other, and a guest on a second network
// through the gateway, every echo answered.
func TestIPv6SLAAC(t *testing.T) {
	requireE2E(t, "ping", "dig")
	h := map[string]*host{}
	vs, gw, _ := ipv6Lab(t, "s6", h)
	a1 := waitSLAAC(t, h["a1"], "fd00:122::/64", gw["six"])
	a2 := waitSLAAC(t, h["a2"], "fd00:122::/64", gw["six"])
	b1 := waitSLAAC(t, h["b1"], "fd00:123::/64", gw["other"])
	const n = 5
	for _, c := range []struct {
		from, to string
	}{
		{"a1", "fd00:122::1"}, // the gateway's global address
		{"b1", "fd00:123::1"}, // the other gateway: it learns b1 from b1's solicitation
		{"a1", a2.String()},   // a neighbour on the same network
		{"a1", b1.String()},   // a guest of the other network, routed
		{"b1", a1.String()},   // and back
	} {
		if got := h[c.from].pingCount(c.to, n); got != n {
			t.Fatalf("ping -6 %s from %s: %d of %d answered", c.to, c.from, got, n)
		}
	}
	// ICMPv6 errors from the gateway, as ping prints them.
	for _, c := range []struct{ args, want string }{
		{"-t 1 " + b1.String(), "From fd00:122::1 icmp_seq=1 Time exceeded: Hop limit"},
		{"2001:db8::1", "From fd00:122::1 icmp_seq=1 Destination unreachable: No route"},
	} {
		out, _ := h["a1"].Output("ping", append([]string{"-c", "1", "-W", "2"}, strings.Fields(c.args)...)...)
		if !strings.Contains(out, c.want) {
			t.Fatalf("ping %s: want %q in\n%s", c.args, c.want, out)
		}
	}
	// DNS at the address the RAs name (RDNSS), over IPv6.
	if status, ans := dig(t, h["a1"], "fd00:122::1", "db", "A"); status != "NOERROR" || len(ans) != 1 || ans[0] != "A 10.226.0.30" {
		t.Fatalf("dig @fd00:122::1 db: %s %v", status, ans)
	}
	// Link-local: the gateway answers on its fe80:: address too.
	gwLL := pkt.LinkLocalFromMAC(gw["six"]).String() + "%" + h["a1"].dev
	if got := h["a1"].pingCount(gwLL, n); got != n {
		t.Fatalf("ping -6 %s: %d of %d answered", gwLL, got, n)
	}
	for _, name := range []string{"a1", "a2", "b1"} {
		checkDrops(t, vs.ports()[h[name].dev].Drops, map[string]uint64{}, h[name].dev)
	}
}

// rogueRA builds a router advertisement from a guest offering itself as
// the default router with a prefix of its own.
func rogueRA(src pkt.MAC) []byte {
	n := pkt.NDPRouterAdvertLen + pkt.NDPLLAOptLen + pkt.NDPPrefixOptLen
	b := make([]byte, 14+40+n)
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: pkt.MulticastMAC6(pkt.IPv6AllNodes), Src: src, Type: pkt.TypeIPv6})
	ip := pkt.IPv6(b[14:])
	ip.Encode(&pkt.IPv6Fields{PayloadLen: uint16(n), NextHeader: pkt.ProtoICMPv6, HopLimit: 255, Src: pkt.LinkLocalFromMAC(src), Dst: pkt.IPv6AllNodes})
	msg := b[54:]
	pkt.NDPRouterAdvert(msg).Encode(&pkt.NDPRouterAdvertFields{CurHopLimit: 64, RouterLifetime: 9000})
	w := pkt.NDPOptionWriter{B: msg, N: pkt.NDPRouterAdvertLen}
	w.AddLinkLayerAddr(pkt.NDPOptSourceLLA, src)
	w.AddPrefixInfo(netip.MustParsePrefix("2001:db8:bad::/64"), pkt.NDPPrefixOnLink|pkt.NDPPrefixAuto, 86400, 86400)
	pkt.ICMPv6(msg).SetChecksum(ip.PseudoHeaderChecksum(pkt.ProtoICMPv6, uint16(n)))
	return b
}

// echo6 builds an ICMPv6 echo request to all nodes with the given id
// (the sentinel: tcpdump prints the id).
func echo6(src pkt.MAC, id uint16) []byte {
	b := make([]byte, 14+40+16)
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: pkt.MulticastMAC6(pkt.IPv6AllNodes), Src: src, Type: pkt.TypeIPv6})
	ip := pkt.IPv6(b[14:])
	ip.Encode(&pkt.IPv6Fields{PayloadLen: 16, NextHeader: pkt.ProtoICMPv6, HopLimit: 64, Src: pkt.LinkLocalFromMAC(src), Dst: pkt.IPv6AllNodes})
	c := pkt.ICMPv6(b[54:])
	c.EncodeHeader(pkt.ICMPv6EchoRequest, 0, uint32(id)<<16|1)
	c.SetChecksum(ip.PseudoHeaderChecksum(pkt.ProtoICMPv6, 16))
	return b
}

// TestIPv6RogueRA: a guest sends router advertisements (crafted on an
// AF_PACKET socket) offering itself as router, plainly and hidden behind
// a destination-options header. None reaches the other guest (tcpdump
// there sees the sentinel the attacker sends after them, and no RA but
// the gateway's), each is counted exactly as ra_guard, and the other
// guest keeps its default route via the gateway. Then the attacker
// configures the gateway's address: its DAD fails against the gateway.
func TestIPv6RogueRA(t *testing.T) {
	requireE2E(t, "ping", "tcpdump")
	h := map[string]*host{}
	vs, gw, metrics := ipv6Lab(t, "r6", h)
	waitSLAAC(t, h["a2"], "fd00:122::/64", gw["six"])
	victim, attacker := h["a2"], h["a1"]
	dump := startProcess(t, "tcpdump", victim.Command(t.Context(), "tcpdump", "-l", "-n", "-e", "-i", victim.dev, "icmp6"))
	testnet.WaitFor(t, 10*time.Second, "tcpdump listening", func() bool { return strings.Contains(dump.String(), "listening on") })
	amac := mustMAC(t, attacker.mac(attacker.dev))
	raw := testnet.OpenRaw(t, attacker.Netns, attacker.dev)
	const n = 20
	hidden := rogueRA(amac)
	{ // the same RA behind a destination-options header (PadN)
		ext := []byte{pkt.ProtoICMPv6, 0, 1, 4, 0, 0, 0, 0}
		hidden = append(append(append([]byte(nil), hidden[:54]...), ext...), hidden[54:]...)
		ip := pkt.IPv6(hidden[14:])
		ip.SetPayloadLen(uint16(ip.PayloadLen() + 8))
		hidden[14+6] = pkt.ProtoDestOpts
	}
	for i := range n {
		if i%2 == 0 {
			raw.Send(rogueRA(amac))
		} else {
			raw.Send(hidden)
		}
	}
	raw.Send(echo6(amac, 4242))
	testnet.WaitFor(t, 10*time.Second, "the sentinel at the victim", func() bool {
		return strings.Contains(dump.String(), "echo request, id 4242")
	})
	gwMAC := gw["six"].String()
	for _, line := range strings.Split(dump.String(), "\n") {
		if strings.Contains(line, "router advertisement") && !strings.Contains(line, " "+gwMAC+" > ") {
			t.Fatalf("a rogue RA reached the victim: %s", line)
		}
		if strings.Contains(line, "echo request, id 4242") {
			break
		}
	}
	checkDrops(t, vs.ports()[attacker.dev].Drops, map[string]uint64{"ra_guard": n}, attacker.dev)
	// The victim's routes are the gateway's only.
	if out := victim.Run("ip", "-6", "route"); strings.Contains(out, "2001:db8:bad") || strings.Count(out, "default") != 1 {
		t.Fatalf("victim's routes:\n%s", out)
	}
	waitSLAAC(t, victim, "fd00:122::/64", gw["six"])
	if got := victim.pingCount("fd00:122::1", 3); got != 3 {
		t.Fatalf("victim pings the gateway: %d of 3", got)
	}

	// The attacker takes the gateway's address: its kernel's DAD probe is
	// answered, so it gives the address up, and the gateway counts it.
	attacker.Run("ip", "addr", "add", "fd00:122::1/64", "dev", attacker.dev)
	testnet.WaitFor(t, 10*time.Second, "the attacker's DAD failing", func() bool {
		return strings.Contains(attacker.Run("ip", "-6", "addr", "show", "dev", attacker.dev), "dadfailed")
	})
	if v := metric(t, scrape(t, metrics), "vswitch_gateway_drops_total", `network="six",reason="addr_conflict"`); v != 1 {
		t.Fatalf("addr_conflict %v, want 1", v)
	}
	if got := victim.pingCount("fd00:122::1", 3); got != 3 {
		t.Fatalf("victim pings the gateway after the attempt: %d of 3", got)
	}
}
