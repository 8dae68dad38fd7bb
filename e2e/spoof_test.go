package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// Guests that lie about their IPv4 source address (issue 13, item 1).

// udpServer and udpClient open the sockets of the UDP scripts: a server
// bound to ADDR PORT; a client bound to local port SPORT, with a 2 s
// timeout.
const (
	udpServer = `import socket,sys
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], int(sys.argv[2])))
`
	udpClient = `import socket,sys
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", int(sys.argv[3]))); s.settimeout(2)
`
)

// udpEcho answers every datagram on ADDR PORT with itself, forever.
const udpEcho = udpServer + `while True:
    d,a=s.recvfrom(2048); s.sendto(d,a)`

// udpAsk sends TEXT from local port SPORT to ADDR PORT and prints the
// answer.
const udpAsk = udpClient + `s.sendto(sys.argv[4].encode(), (sys.argv[1], int(sys.argv[2]))); print(s.recv(100).decode())`

// udpFrame4 is an Ethernet frame with a UDP datagram from
// src:sport to dst:dport, built by hand so its source can be anyone's.
func udpFrame4(t *testing.T, dstMAC, srcMAC, src, dst string, sport, dport uint16, data string) []byte {
	t.Helper()
	dm, err1 := net.ParseMAC(dstMAC)
	sm, err2 := net.ParseMAC(srcMAC)
	s, err3 := netip.ParseAddr(src)
	d, err4 := netip.ParseAddr(dst)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		t.Fatalf("udpFrame4: %v %v %v %v", err1, err2, err3, err4)
	}
	return rawUDPPorts(pkt.MAC(dm), pkt.MAC(sm), s, d, sport, dport, data)
}

// udpAskUntil repeats udpAsk from h until text comes back and returns
// how many datagrams it took.
func udpAskUntil(t *testing.T, h *host, addr string, port, sport int, text string) int {
	t.Helper()
	tries := 0
	testnet.WaitFor(t, 15*time.Second, fmt.Sprintf("%q echoed from %s", text, addr), func() bool {
		tries++
		o, err := h.Output("python3", "-c", udpAsk, addr, fmt.Sprint(port), fmt.Sprint(sport), text)
		return err == nil && strings.TrimSpace(o) == text
	})
	return tries
}

// finish stops w and returns the frames it printed, failing the test if
// tcpdump lost any.
func (w *watch) finish() []string {
	w.h.t().Helper()
	w.stop()
	if m := tcpdumpDropped.FindStringSubmatch(w.errOut.String()); m == nil || m[1] != "0" {
		w.h.t().Errorf("tcpdump on %s in %s: the capture is not complete:\n%s", w.dev, w.h.Name, w.errOut.String())
	}
	return w.lines()
}

// outsideHost is a host on the outside LAN: a namespace whose veth has
// cidr, the other end (upDev, in the root namespace) for an uplink.
func outsideHost(t *testing.T, tag, cidr string) (out *host, upDev, outDev string) {
	out = newHost(t, tag+"o")
	upDev, outDev = testnet.Veth(t, tag, out.Netns)
	out.addr(outDev, cidr)
	return out, upDev, outDev
}

// routedVia configures dev with cidr and a default route via gw.
func (h *host) routedVia(dev, cidr, gw string) {
	h.addr(dev, cidr)
	h.Run("ip", "route", "add", "default", "via", gw)
}

// badSource reads network's gateway bad_source drops from a scrape.
func badSource(t *testing.T, addr, network string) float64 {
	t.Helper()
	return metric(t, scrape(t, addr), "vswitch_gateway_drops_total", fmt.Sprintf(`network=%q,reason="bad_source"`, network))
}

// TestSpoofOtherNetwork: guest A (nat network a) sends UDP to an outside
// host with guest B's address (nat network b) as its source. Conntrack
// keys on the source, so were it routed, the outside's echoes would be
// delivered into network b. Each datagram is dropped as bad_source; the
// outside host sees none; B's tcpdump sees nothing from the outside but
// the answers to its own exchange, which runs after the attack along the
// same path (the sentinel); A's honest exchange through the NAT works,
// and B's DHCP from 0.0.0.0 is answered.
func TestSpoofOtherNetwork(t *testing.T) {
	requireE2E(t, "ping", "python3", "tcpdump", "udhcpc")
	out, upDev, outDev := outsideHost(t, "s", "10.247.0.1/24")
	a, b := newHost(t, "sa"), newHost(t, "sb")
	pa, pb := testnet.Name("s"), testnet.Name("s")
	addr := freeAddr(t)
	vs := startVswitch(t, fmt.Sprintf(`metrics: %q
ports:
  - {name: %s, type: tap, netns: %s, vlan: 10}
  - {name: %s, type: tap, netns: %s, vlan: 20}
networks:
  - {name: a, vlan: 10, address: 192.168.247.1/24, mode: nat, uplink: wan}
  - {name: b, vlan: 20, address: 192.168.248.1/24, mode: nat, uplink: wan, dhcp: {range: 192.168.248.10-192.168.248.10}}
uplinks:
  - {name: wan, device: %s, address: 10.247.0.5/24, gateway: 10.247.0.1}
`, addr, pa, a.Name, pb, b.Name, upDev))
	a.routedVia(pa, "192.168.247.10/24", "192.168.247.1")
	// B leases its address: DHCP from 0.0.0.0 is not a spoofed source.
	if ip := dhcpClient(t, "udhcpc", b, pb); ip != "192.168.248.10" {
		t.Fatalf("guest B leased %q, want 192.168.248.10", ip)
	}
	b.Run("ip", "route", "add", "default", "via", "192.168.248.1")
	// Both guests reach the outside (their gateways know them by ARP, the
	// uplink knows its router): the path a leak would take is open.
	if !a.ping("10.247.0.1", 2) || !b.ping("10.247.0.1", 2) {
		t.Fatal("a guest cannot ping the outside host through the NAT")
	}
	out.Start("python3", "-c", udpEcho, "10.247.0.1", "9000")
	udpAskUntil(t, a, "10.247.0.1", 9000, 40002, "echo-up") // the echo server is up
	wb := b.watch(pb, "src host 10.247.0.1")
	wo := out.watch(outDev, "udp and dst port 9000")

	const n = 5
	raw := testnet.OpenRaw(t, a.Netns, pa)
	spoof := udpFrame4(t, vs.gatewayMAC("a").String(), a.mac(pa), "192.168.248.10", "10.247.0.1", 40000, 9000, "spoof")
	for range n {
		raw.Send(spoof)
	}
	// The positive control, then B's own exchange: the sentinel. Both
	// take the spoofed datagrams' path after them.
	triesA := udpAskUntil(t, a, "10.247.0.1", 9000, 40001, "honest-a")
	triesB := udpAskUntil(t, b, "10.247.0.1", 9000, 41000, "sentinel-b")
	wb.wait("192.168.248.10.41000", 10*time.Second)
	wo.wait("10.247.0.5.41000", 10*time.Second)
	for _, l := range wb.finish() {
		if !strings.Contains(l, "10.247.0.1.9000 > 192.168.248.10.41000:") {
			t.Errorf("guest B got from the outside what it did not ask for:\n%s", l)
		}
	}
	seen := wo.finish()
	for _, l := range seen {
		if !strings.Contains(l, "10.247.0.5.4") || !strings.Contains(l, "> 10.247.0.1.9000:") {
			t.Errorf("the outside host saw a datagram not from the uplink's address:\n%s", l)
		}
	}
	if len(seen) != triesA+triesB {
		t.Errorf("the outside host saw %d datagrams, want the %d honest ones:\n%s", len(seen), triesA+triesB, strings.Join(seen, "\n"))
	}
	if v := badSource(t, addr, "a"); v != n {
		t.Errorf("bad_source on network a: %v, want exactly %d", v, n)
	}
	if v := badSource(t, addr, "b"); v != 0 {
		t.Errorf("bad_source on network b: %v, want 0", v)
	}
}

// TestSpoofRouted: on a routed network (no translation) guest X sends
// UDP to the outside LAN with sources that are not its network's: the
// uplink's own address, another outside host's, another subnet's, the
// gateway's and the network's broadcast address. tcpdump on the outside
// host sees none of them, only X's honest datagram sent after them (the
// sentinel). Then X sends IP packets with its neighbour G's address as
// source: the gateway keeps G's MAC (it learns from ARP, not IP), so the
// outside host's pings to G are all still answered, and G's to it.
// Last, the outside host sends to G with X's address as source: dropped
// at the uplink, so G never takes it for its neighbour's.
func TestSpoofRouted(t *testing.T) {
	requireE2E(t, "ping", "tcpdump")
	out, upDev, outDev := outsideHost(t, "r", "10.249.0.1/24")
	out.Run("ip", "route", "add", "192.168.249.0/24", "via", "10.249.0.5")
	g, x := newHost(t, "rg"), newHost(t, "rx")
	pg, px := testnet.Name("r"), testnet.Name("r")
	addr := freeAddr(t)
	vs := startVswitch(t, fmt.Sprintf("metrics: %q\n", addr)+tapPorts([]string{pg, px}, g, x)+uplinkedLab(249, "routed", upDev))
	g.routedVia(pg, "192.168.249.10/24", "192.168.249.1")
	x.addr(px, "192.168.249.66/24")
	if !g.ping("10.249.0.1", 3) || !out.ping("192.168.249.10", 3) {
		t.Fatal("the guest and the outside host cannot reach each other on a routed network")
	}
	gw, xmac := vs.gatewayMAC("lab").String(), x.mac(px)
	raw := testnet.OpenRaw(t, x.Netns, px)

	wo := out.watch(outDev, "udp and dst port 9000")
	foreign := []string{"10.249.0.5", "10.249.0.9", "192.168.250.10", "192.168.249.1", "192.168.249.255"}
	for _, src := range foreign {
		raw.Send(udpFrame4(t, gw, xmac, src, "10.249.0.1", 40000, 9000, "spoof"))
	}
	raw.Send(udpFrame4(t, gw, xmac, "192.168.249.66", "10.249.0.1", 40000, 9000, "honest"))
	wo.wait("192.168.249.66.40000 > 10.249.0.1.9000", 10*time.Second)
	if seen := wo.finish(); len(seen) != 1 {
		t.Errorf("the outside LAN saw %d datagrams, want only the honest one:\n%s", len(seen), strings.Join(seen, "\n"))
	}

	// X's plain IP packets with G's address do not move G's neighbour
	// entry: the outside's pings (which G does not answer through X) are
	// all answered, and G's own.
	for range 5 {
		raw.Send(udpFrame4(t, gw, xmac, "192.168.249.10", "10.249.0.1", 40000, 9001, "steal"))
	}
	if got := out.pingCount("192.168.249.10", 5); got != 5 {
		t.Errorf("the outside's pings to G after X spoofed G's address: %d of 5 answered", got)
	}
	if got := g.pingCount("10.249.0.1", 3); got != 3 {
		t.Errorf("G's pings to the outside: %d of 3 answered", got)
	}
	if v := badSource(t, addr, "lab"); v != float64(len(foreign)) {
		t.Errorf("bad_source %v, want exactly %d", v, len(foreign))
	}

	// The other way: the outside host sends to G with X's address as
	// source (G would take it for its neighbour's). The uplink drops it
	// (rp_filter); the outside's honest datagram after it arrives.
	m := regexp.MustCompile(`lladdr (\S+)`).FindStringSubmatch(out.Run("ip", "neigh", "show", "10.249.0.5", "dev", outDev))
	if m == nil {
		t.Fatal("the outside host has no ARP entry for the uplink")
	}
	wg := g.watch(pg, "udp and dst port 9002")
	oraw := testnet.OpenRaw(t, out.Netns, outDev)
	oraw.Send(udpFrame4(t, m[1], out.mac(outDev), "192.168.249.66", "192.168.249.10", 40000, 9002, "spoof"))
	oraw.Send(udpFrame4(t, m[1], out.mac(outDev), "10.249.0.1", "192.168.249.10", 40000, 9002, "honest"))
	wg.wait("10.249.0.1.40000 > 192.168.249.10.9002", 10*time.Second)
	if seen := wg.finish(); len(seen) != 1 {
		t.Errorf("G got %d datagrams from the outside, want only the honest one:\n%s", len(seen), strings.Join(seen, "\n"))
	}
	if v := metric(t, scrape(t, addr), "vswitch_uplink_drops_total", `reason="bad_source",uplink="wan"`); v != 1 {
		t.Errorf("uplink bad_source %v, want exactly 1", v)
	}
}
