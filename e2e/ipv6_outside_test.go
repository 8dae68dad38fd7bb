package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// A one-shot TCP server over IPv6 that prints the peer's address and
// echoes a line; peerClient (nat_test.go) connects over either family.
const peerServer6 = `import socket,sys
s=socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); s.settimeout(30)
c,a=s.accept(); print(a[0], flush=True); c.sendall(c.recv(100)); c.close()`

// TestIPv6Outside: an uplink with address6 and gateway6 on a veth to an
// "outside" namespace (MTU 1400 on that link). The outside pings the
// uplink's IPv6 address. A guest of a nat network (SLAAC) pings the
// outside host and downloads a file over HTTP with curl -6 through NAT66,
// byte-exact, the server seeing only the uplink's address; a connection
// from the outside to the uplink's port 8080 reaches the guest's port
// 8082 by a port forward, the guest seeing the outside's address;
// unsolicited connections reach nobody, each SYN counted; the outside
// downloads a file from the guest through the forward, the guest's TSO6
// super-frames crossing NAT66 whole, with exact NAT66 counts by family
// for three pings. A guest
// of a routed network is seen by the outside with its own address, and is
// reached by it. A guest's ping larger than the uplink's MTU is answered
// with Packet Too Big naming exactly 1400, and one of exactly 1400 bytes
// goes through.
func TestIPv6Outside(t *testing.T) {
	requireE2E(t, "ping", "python3", "curl", "sha256sum", "ethtool", "tcpdump")
	out := newHost6(t, "6o")
	upDev, outDev := testnet.Veth(t, "6u", out.Netns)
	testnet.Run(t, "sysctl", "-qw", "net.ipv6.conf."+upDev+".disable_ipv6=1") // vswitch holds it; the host stays off
	testnet.Run(t, "ip", "link", "set", upDev, "mtu", "1400")
	out.Run("ip", "link", "set", outDev, "mtu", "1400")
	out.Run("sysctl", "-qw", "net.ipv6.conf."+outDev+".accept_ra=0")
	out.addr(outDev, "10.246.0.1/24")
	out.Run("ip", "-6", "addr", "add", "2001:db8:246::1/64", "dev", outDev, "nodad")
	out.Run("ip", "-6", "route", "add", "fd00:247::/64", "via", "2001:db8:246::2")

	guest, routed := newHost6(t, "6g"), newHost6(t, "6r")
	gMAC, rMAC := mustMAC(t, "52:54:00:f6:00:01"), mustMAC(t, "52:54:00:f6:00:02")
	gAddr, rAddr := slaac("fd00:246::/64", gMAC), slaac("fd00:247::/64", rMAC)
	metrics := freeAddr(t)
	vs := startVswitch(t, fmt.Sprintf(`metrics: %q
ports:
  - {name: %s, type: tap, netns: %s, mac: %q}
  - {name: %s, type: tap, netns: %s, mac: %q, vlan: 2}
networks:
  - name: nat6
    address: 192.168.246.1/24
    address6: "fd00:246::1/64"
    mode: nat
    uplink: wan
    forwards: [{proto: tcp, port: 8080, to: "[%s]:8082"}]
  - name: rt6
    vlan: 2
    address: 192.168.247.1/24
    address6: "fd00:247::1/64"
    mode: routed
    uplink: wan
uplinks:
  - {name: wan, device: %s, address: 10.246.0.5/24, gateway: 10.246.0.1, address6: "2001:db8:246::2/64", gateway6: "2001:db8:246::1"}
`, metrics, guest.dev, guest.Name, gMAC, routed.dev, routed.Name, rMAC, gAddr, upDev))
	gw := map[string]pkt.MAC{}
	for _, e := range vs.fdb() {
		if name, ok := strings.CutPrefix(e.Port, "gw-"); ok {
			gw[name] = mustMAC(t, e.MAC)
		}
	}
	for _, h := range []*host{guest, routed} {
		h.Run("ip", "link", "set", h.dev, "up")
	}
	if a := waitSLAAC(t, guest, "fd00:246::/64", gw["nat6"]); a != gAddr {
		t.Fatalf("guest address %v, want %v", a, gAddr)
	}
	waitSLAAC(t, routed, "fd00:247::/64", gw["rt6"])

	// The uplink's address answers once its DAD has passed.
	testnet.WaitFor(t, 10*time.Second, "the uplink's IPv6 address to answer ping", func() bool {
		_, err := out.Output("ping", "-6", "-c", "1", "-W", "1", "2001:db8:246::2")
		return err == nil
	})
	if !out.ping("2001:db8:246::2", 3) {
		t.Fatal("the outside host's pings to the uplink's IPv6 address went unanswered")
	}
	// The first reply may find the guest not yet in the gateway's
	// neighbour cache (dropped as neigh_miss, the guest solicited).
	testnet.WaitFor(t, 10*time.Second, "a ping through NAT66", func() bool {
		_, err := guest.Output("ping", "-6", "-c", "1", "-W", "1", "2001:db8:246::1")
		return err == nil
	})
	before := scrape(t, metrics)
	if !guest.ping("2001:db8:246::1", 3) {
		t.Fatalf("the guest's pings through NAT66 went unanswered\n%s\n%s\n%s", nonzeroDrops(scrape(t, metrics)), guest.Run("ip", "-6", "route"), guest.Run("ip", "-6", "neigh"))
	}
	// Three echoes and their replies, counted as IPv6 translations alone.
	after := scrape(t, metrics)
	for _, l := range []string{`direction="outbound",family="ipv6"`, `direction="inbound",family="ipv6"`, `direction="outbound",family="ipv4"`, `direction="inbound",family="ipv4"`} {
		d := metric(t, after, "vswitch_nat_translations_total", l) - metric(t, before, "vswitch_nat_translations_total", l)
		if want := map[bool]float64{true: 3, false: 0}[strings.Contains(l, "ipv6")]; d != want {
			t.Fatalf("vswitch_nat_translations_total{%s} grew by %v during 3 pings, want %v", l, d, want)
		}
	}
	ct := func(text, family string) float64 {
		return metric(t, text, "vswitch_conntrack_entries", `family="`+family+`"`)
	}
	if d4, d6 := ct(after, "ipv4")-ct(before, "ipv4"), ct(after, "ipv6")-ct(before, "ipv6"); d4 != 0 || d6 != 1 {
		t.Fatalf("the pings added %v IPv4 and %v IPv6 flows, want 0 and 1 (one echo identifier)", d4, d6)
	}

	// HTTP through NAT66, byte-exact; the server logs every client.
	dir := t.TempDir()
	want := randomBlob(t, filepath.Join(dir, "blob"), 8)
	srv := startProcess(t, "http.server", out.Command(context.Background(), "python3", "-u", "-m", "http.server", "--bind", "2001:db8:246::1", "--directory", dir, "8000"))
	downloadChecked(t, guest, "http://[2001:db8:246::1]:8000/blob", filepath.Join(t.TempDir(), "got"), want, 20*time.Second, "10", "curl -6 through NAT66")
	var gets int
	for _, l := range strings.Split(strings.TrimSpace(srv.String()), "\n") {
		if !strings.Contains(l, `"GET `) {
			continue
		}
		if gets++; !strings.HasPrefix(l, "2001:db8:246::2 - - ") || !strings.Contains(l, `"GET /blob HTTP/1.1" 200`) {
			t.Fatalf("the server saw %q, want only the uplink's address 2001:db8:246::2 getting /blob", l)
		}
	}
	if gets == 0 {
		t.Fatalf("the server logged no GET:\n%s", srv.String())
	}

	// A port forward to the guest, reached at the uplink's IPv6 address.
	if seen := peerExchange(t, guest, out, "::", "8082", "2001:db8:246::2", "8080", "the forwarded IPv6 connection"); seen != "2001:db8:246::1" {
		t.Fatalf("the guest behind the forward saw %q, want the outside host 2001:db8:246::1", seen)
	}
	// Unsolicited from the outside: TCP to the guest's own address (routed
	// there by the outside) and to a port of the uplink's address that
	// nothing forwards. Every SYN the outside sends is dropped as
	// not_tracked and none reaches the guest, whose capture ends with the
	// forward's connection, which still works (the sentinel and positive
	// control).
	out.Run("ip", "-6", "route", "add", "fd00:246::/64", "via", "2001:db8:246::2")
	notTracked := func() float64 {
		return metric(t, scrape(t, metrics), "vswitch_uplink_drops_total", `reason="not_tracked",uplink="wan"`)
	}
	nt := notTracked()
	wg := guest.watch(guest.dev, "tcp port 9999 or tcp port 8082")
	wo := out.watch(outDev, "ip6 and tcp dst port 9999")
	for _, u := range []string{"http://[" + gAddr.String() + "]:9999/", "http://[2001:db8:246::2]:9999/"} {
		if _, err := out.Output("curl", "-s", "--max-time", "1", u); err == nil {
			t.Fatalf("an unsolicited connection to %s succeeded", u)
		}
	}
	if seen := peerExchange(t, guest, out, "::", "8082", "2001:db8:246::2", "8080", "the forward after the unsolicited"); seen != "2001:db8:246::1" {
		t.Fatalf("the guest behind the forward saw %q", seen)
	}
	testnet.WaitFor(t, 10*time.Second, "the forward's connection in the guest's capture", func() bool {
		return strings.Contains(strings.Join(wg.lines(), "\n"), ".8082")
	})
	wg.stop()
	wo.stop()
	for _, l := range wg.lines() {
		if strings.Contains(l, ".9999") {
			t.Fatalf("unsolicited traffic reached the guest: %s", l)
		}
	}
	if syns, d := len(wo.lines()), notTracked()-nt; syns < 2 || d != float64(syns) {
		t.Fatalf("not_tracked grew by %v while the outside sent %d SYNs", d, syns)
	}

	// TSO6 through NAT66: the outside downloads the blob from the guest
	// through the forward. The guest's super-frames cross whole: far
	// fewer translations than the transfer's segments (a per-segment NAT
	// counts one per 1328 bytes: MSS 1340 on the 1400-byte link, less
	// timestamps), GSO translations among them.
	requireTAPOffloads(t, guest, guest.dev)
	startProcess(t, "guest http.server", guest.Command(context.Background(), "python3", "-m", "http.server", "--bind", "::", "--directory", dir, "8082"))
	before = scrape(t, metrics)
	downloadChecked(t, out, "http://[2001:db8:246::2]:8080/blob", filepath.Join(t.TempDir(), "up"), want, 30*time.Second, "20", "the download through the IPv6 forward")
	after = scrape(t, metrics)
	delta := func(name, labels string) float64 {
		return metric(t, after, name, labels) - metric(t, before, name, labels)
	}
	const segments = 8 << 20 / 1328
	if n, gso := delta("vswitch_nat_translations_total", `direction="outbound",family="ipv6"`), delta("vswitch_nat_gso_translations_total", `direction="outbound"`); gso == 0 || gso > n || n > segments/8 {
		t.Fatalf("%v outbound NAT66 translations (%v GSO) for %d segments: the guest's TSO6 super-frames were not translated whole", n, gso, segments)
	}

	// Routed: the outside sees the guest's own address, and reaches it.
	if seen := peerExchange(t, out, routed, "2001:db8:246::1", "8081", "2001:db8:246::1", "8081", "the routed IPv6 connection"); seen != rAddr.String() {
		t.Fatalf("the outside host saw %q, want the routed guest's own address %v", seen, rAddr)
	}
	if !out.ping(rAddr.String(), 3) {
		t.Fatal("the outside host's pings to the routed guest went unanswered")
	}

	// Packet Too Big: 1400 bytes of ICMPv6 payload make a 1448-byte packet.
	o, _ := guest.Output("ping", "-6", "-c", "1", "-W", "2", "-M", "do", "-s", "1400", "2001:db8:246::1")
	if !strings.Contains(o, "From fd00:246::1 icmp_seq=1 Packet too big: mtu=1400") {
		t.Fatalf("ping of 1448 bytes over a 1400-byte uplink:\n%s", o)
	}
	if v := metric(t, scrape(t, metrics), "vswitch_gateway_drops_total", `network="nat6",reason="packet_too_big"`); v != 1 {
		t.Fatalf("packet_too_big drops %v, want 1", v)
	}
	if o, err := guest.Output("ping", "-6", "-c", "1", "-W", "2", "-M", "do", "-s", "1352", "2001:db8:246::1"); err != nil || !strings.Contains(o, "1 received") {
		t.Fatalf("a ping of exactly 1400 bytes did not get through:\n%s", o)
	}
}

// nonzeroDrops are the drop and NAT counters of a scrape that are not 0,
// to show with a failure.
func nonzeroDrops(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if (strings.Contains(l, "drops_total") || strings.Contains(l, "nat_")) && !strings.HasPrefix(l, "#") && !strings.HasSuffix(l, " 0") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestIPv6OutsideRouterFromRA: an uplink with address6 and no gateway6
// drops a guest's packets for an address off the outside link (no_route,
// one per echo) until the outside's router advertises itself; then, with
// the RA's source (a link-local address) as next hop and its link-layer
// option as MAC, the guest's pings through NAT66 are answered.
func TestIPv6OutsideRouterFromRA(t *testing.T) {
	requireE2E(t, "ping")
	out := newHost6(t, "7o")
	upDev, outDev := testnet.Veth(t, "7u", out.Netns)
	testnet.Run(t, "sysctl", "-qw", "net.ipv6.conf."+upDev+".disable_ipv6=1")
	out.Run("sysctl", "-qw", "net.ipv6.conf."+outDev+".accept_ra=0")
	out.addr(outDev, "10.248.0.1/24")
	out.Run("ip", "-6", "addr", "add", "2001:db8:248::1/64", "dev", outDev, "nodad")
	out.Run("ip", "-6", "addr", "add", "2001:db8:999::1/128", "dev", "lo") // off the outside link
	guest := newHost6(t, "7g")
	metrics := freeAddr(t)
	vs := startVswitch(t, fmt.Sprintf("metrics: %q\n", metrics)+tapPorts([]string{guest.dev}, guest)+fmt.Sprintf(`networks:
  - {name: nat7, address: 192.168.248.1/24, address6: "fd00:248::1/64", mode: nat, uplink: wan}
uplinks:
  - {name: wan, device: %s, address: 10.248.0.5/24, gateway: 10.248.0.1, address6: "2001:db8:248::2/64"}
`, upDev))
	var gwMAC pkt.MAC
	for _, e := range vs.fdb() {
		if e.Port == "gw-nat7" {
			gwMAC = mustMAC(t, e.MAC)
		}
	}
	guest.Run("ip", "link", "set", guest.dev, "up")
	waitSLAAC(t, guest, "fd00:248::/64", gwMAC)
	// On the outside link itself the uplink needs no router.
	testnet.WaitFor(t, 10*time.Second, "a ping through NAT66 on the outside link", func() bool {
		_, err := guest.Output("ping", "-6", "-c", "1", "-W", "1", "2001:db8:248::1")
		return err == nil
	})
	requireNoRoute(t, guest, metrics, "2001:db8:999::1", 2)
	// The outside's router advertisement: router lifetime 1800 s, its MAC
	// in the source link-layer option.
	outMAC := mustMAC(t, out.mac(outDev))
	ra := make([]byte, pkt.NDPRouterAdvertLen+pkt.NDPLLAOptLen)
	pkt.NDPRouterAdvert(ra).Encode(&pkt.NDPRouterAdvertFields{CurHopLimit: 64, RouterLifetime: 1800})
	w := pkt.NDPOptionWriter{B: ra, N: pkt.NDPRouterAdvertLen}
	w.AddLinkLayerAddr(pkt.NDPOptSourceLLA, outMAC)
	testnet.OpenRaw(t, out.Netns, outDev).Send(raw6(pkt.MulticastMAC6(pkt.IPv6AllNodes), outMAC, pkt.LinkLocalFromMAC(outMAC), pkt.IPv6AllNodes, ra))
	testnet.WaitFor(t, 10*time.Second, "a ping through NAT66 via the advertised router", func() bool {
		_, err := guest.Output("ping", "-6", "-c", "1", "-W", "1", "2001:db8:999::1")
		return err == nil
	})
	if !guest.ping("2001:db8:999::1", 3) {
		t.Fatal("pings via the advertised router went unanswered")
	}
}
