package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// A one-shot TCP server that prints the peer's address and echoes a line.
const peerServer = `import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); s.settimeout(30)
c,a=s.accept(); print(a[0], flush=True); c.sendall(c.recv(100)); c.close()`

const peerClient = `import socket,sys
c=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
c.sendall(b"ping"); print(c.recv(100).decode())`

// TestNAT: a guest on a nat network leases its address (with the gateway
// as router), pings and talks TCP to a host outside, which sees the
// uplink's address; show conntrack lists the flow; a connection from the
// outside to the uplink address that matches no flow reaches nobody.
func TestNAT(t *testing.T) {
	requireE2E(t, "ping", "python3", "udhcpc", "iperf3")
	out, upDev, outDev := outsideHost(t, "n", "10.240.0.1/24")
	guest, pg := newHost(t, "ng"), testnet.Name("n")
	guest2, pg2 := newHost(t, "nh"), testnet.Name("n")
	addr := freeAddr(t)
	vs := startVswitch(t, fmt.Sprintf(`metrics: %q
ports:
  - {name: %s, type: tap, netns: %s, mac: "52:54:00:f0:00:01"}
  - {name: %s, type: tap, netns: %s}
networks:
  - name: lab
    address: 192.168.240.1/24
    mode: nat
    uplink: wan
    dhcp:
      range: 192.168.240.10-192.168.240.20
      dns: [192.168.240.1]
      hosts: [{mac: "52:54:00:f0:00:01", ip: 192.168.240.100}]
    forwards: [{proto: tcp, port: 8080, to: "192.168.240.100:8082"}]
uplinks:
  - {name: wan, device: %s, address: 10.240.0.5/24, gateway: 10.240.0.1}
`, addr, pg, guest.Name, pg2, guest2.Name, upDev))
	ip := dhcpClient(t, "udhcpc", guest, pg)
	if ip != "192.168.240.100" {
		t.Fatalf("lease %s", ip)
	}
	// udhcpc's script here sets only the address; the router option is
	// checked by the DHCP tests, so add the route as the stock script would.
	guest.Run("ip", "route", "add", "default", "via", "192.168.240.1")
	if !guest.ping("10.240.0.1", 3) {
		t.Fatal("guest cannot ping the outside host through the NAT")
	}
	if seen := peerExchange(t, out, guest, "10.240.0.1", "8081", "10.240.0.1", "8081", "the TCP exchange through the NAT"); seen != "10.240.0.5" {
		t.Fatalf("the outside host saw %q, want the uplink address 10.240.0.5", seen)
	}
	var conns []struct {
		Proto, Inside, Outside, State string
	}
	if out := vs.mustCLI("show", "conntrack", "--json"); json.Unmarshal([]byte(out), &conns) != nil {
		t.Fatalf("show conntrack --json is not JSON:\n%s", out)
	}
	found := false
	for _, c := range conns {
		if c.Proto == "tcp" && strings.HasPrefix(c.Inside, ip+":") && strings.HasPrefix(c.Outside, "10.240.0.5:") {
			found = true
		}
	}
	if !found {
		t.Fatalf("show conntrack lacks the TCP flow:\n%s", vs.mustCLI("show", "conntrack"))
	}
	// A 3000-byte UDP datagram (two fragments each way) crosses intact.
	usrv := out.Start("python3", "-u", "-c", `import socket
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.240.0.1", 9000)); s.settimeout(30)
d,a=s.recvfrom(65535); print(len(d), a[0], flush=True); s.sendto(d, a)`)
	var got string
	testnet.WaitFor(t, 10*time.Second, "a fragmented UDP round trip", func() bool {
		o, err := guest.Output("python3", "-c", `import socket
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(bytes(range(256))*11+bytes(184), ("10.240.0.1", 9000)); print(len(s.recv(65535)))`)
		got = strings.TrimSpace(o)
		return err == nil
	})
	usrv.Wait()
	if got != "3000" || !strings.Contains(fmt.Sprint(usrv.Stdout), "3000 10.240.0.5") {
		t.Fatalf("fragmented UDP: guest got %q, server saw %q", got, fmt.Sprint(usrv.Stdout))
	}

	// TCP throughput through the NAT.
	gbps := iperfTCP(t, out, guest, "10.240.0.1", 3)
	t.Logf("iperf3 TCP guest (TAP) -> outside host through vswitch's NAT: %.2f Gbit/s (race: %v)", gbps, raceEnabled)

	// A port forward: the outside connects to 10.240.0.5:8080 and reaches
	// the guest's port 8082, seeing the real client address.
	if seen := peerExchange(t, guest, out, "0.0.0.0", "8082", "10.240.0.5", "8080", "the forwarded connection"); seen != "10.240.0.1" {
		t.Fatalf("the guest behind the forward saw %q, want the outside client 10.240.0.1", seen)
	}
	// Hairpin: another guest reaches the forward through the outside address.
	ip2 := dhcpClient(t, "udhcpc", guest2, pg2)
	guest2.Run("ip", "route", "add", "default", "via", "192.168.240.1")
	// docs/nat.md: a hairpinned connection comes back in from the uplink
	// address.
	if seen := peerExchange(t, guest, guest2, "0.0.0.0", "8082", "10.240.0.5", "8080", "the hairpin connection"); seen != "10.240.0.5" {
		t.Fatalf("hairpin from %s: the server saw %q, want the uplink address 10.240.0.5", ip2, seen)
	}

	// Unsolicited: the outside host connects to the uplink address. Every
	// SYN it sends (counted on its own device) is dropped as not_tracked,
	// and none reaches the guest.
	before := metric(t, scrape(t, addr), "vswitch_uplink_drops_total", `reason="not_tracked",uplink="wan"`)
	wg := guest.watch(pg, "tcp port 9999")
	wo := out.watch(outDev, "tcp dst port 9999 and tcp[tcpflags] == tcp-syn")
	if _, err := out.Output("python3", "-c", peerClient, "10.240.0.5", "9999"); err == nil {
		t.Fatal("an unsolicited connection to the uplink address succeeded")
	}
	wg.none(guest2, pg2, "unsolicited traffic reached the guest")
	wo.stop()
	syns := len(wo.lines())
	if syns == 0 {
		t.Fatal("the outside host sent no SYN to 10.240.0.5:9999")
	}
	text := scrape(t, addr)
	if v := metric(t, text, "vswitch_nat_translations_total", `direction="outbound",family="ipv4"`); v < 10 {
		t.Errorf("outbound translations %v", v)
	}
	if v := metric(t, text, "vswitch_uplink_drops_total", `reason="not_tracked",uplink="wan"`) - before; v != float64(syns) {
		t.Errorf("not_tracked drops grew by %v during the unsolicited connection, which sent %d SYNs", v, syns)
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool: %v\n%s", err, o)
	}
}

// TestRouted: a routed network forwards without translation: the outside
// host (with a route to the guests' subnet) sees the guest's own address
// and may start connections to it.
func TestRouted(t *testing.T) {
	requireE2E(t, "ping", "python3")
	out, upDev, _ := outsideHost(t, "r", "10.241.0.1/24")
	out.Run("ip", "route", "add", "192.168.241.0/24", "via", "10.241.0.5")
	guest, pg := newHost(t, "rg"), testnet.Name("r")
	startVswitch(t, tapPorts([]string{pg}, guest)+uplinkedLab(241, "routed", upDev))
	guest.routedVia(pg, "192.168.241.10/24", "192.168.241.1")
	if !guest.ping("10.241.0.1", 3) {
		t.Fatal("guest cannot reach the outside on a routed network")
	}
	if seen := peerExchange(t, out, guest, "10.241.0.1", "8090", "10.241.0.1", "8090", "a routed TCP connection"); !strings.Contains(seen, "192.168.241.10") {
		t.Fatalf("the outside saw %q: a routed network must not translate", seen)
	}
	if !out.ping("192.168.241.10", 3) {
		t.Fatal("the outside cannot reach a guest on a routed network")
	}
}

// TestNATDownloadAndTracepath: a guest that leased by DHCP downloads
// 64 MiB over HTTP from a server beyond the outside router, and the
// SHA-256 matches; tracepath through the NAT shows each hop (the far
// router's time-exceeded errors are translated back to the guest).
func TestNATDownloadAndTracepath(t *testing.T) {
	requireE2E(t, "python3", "udhcpc", "curl", "sha256sum", "tracepath")
	// outside router "out" (10.243.0.1) and a far host (10.244.0.2) behind it.
	out, upDev, _ := outsideHost(t, "w", "10.243.0.1/24")
	far := newHost(t, "tf")
	a, b := testnet.Veth(t, "x", far.Netns)
	testnet.Run(t, "ip", "link", "set", a, "netns", out.Name)
	out.addr(a, "10.244.0.1/24")
	far.routedVia(b, "10.244.0.2/24", "10.244.0.1")
	out.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	guest, pg := newHost(t, "tg"), testnet.Name("t")
	startVswitch(t, tapPorts([]string{pg}, guest)+uplinkedLab(243, "nat", upDev, labDHCP(243)))
	dhcpClient(t, "udhcpc", guest, pg)
	guest.Run("ip", "route", "add", "default", "via", "192.168.243.1")

	dir := t.TempDir()
	want := randomBlob(t, dir+"/blob", 64)
	serveHTTP(far, "10.244.0.2", dir)
	downloadChecked(t, guest, "http://10.244.0.2:8000/blob", dir+"/got", want, 60*time.Second, "40", "the 64 MiB download")

	trace, _ := guest.Output("tracepath", "-n", "-m", "5", "10.244.0.2")
	for _, hop := range []string{"192.168.243.1", "10.243.0.1", "10.244.0.2"} {
		if !strings.Contains(trace, hop) {
			t.Fatalf("tracepath lacks hop %s:\n%s", hop, trace)
		}
	}
}

// TestNATUplinkDHCP: an uplink with `address: dhcp` leases its outside
// address from the outside network's DHCP server (busybox udhcpd), and a
// guest's traffic leaves with that address.
func TestNATUplinkDHCP(t *testing.T) {
	requireE2E(t, "ping", "python3", "busybox")
	out, upDev, outDev := outsideHost(t, "q", "10.246.0.1/24")
	out.serveDHCP(outDev, 246, "option router 10.246.0.1")
	guest, pg := newHost(t, "dg"), testnet.Name("q")
	startVswitch(t, tapPorts([]string{pg}, guest)+labNetwork(246, "nat")+dhcpUplink(upDev))
	guest.routedVia(pg, "192.168.246.10/24", "192.168.246.1")
	testnet.WaitFor(t, 30*time.Second, "the uplink's DHCP lease and a ping through it", func() bool {
		return guest.ping("10.246.0.1", 1)
	})
	text := peerExchange(t, out, guest, "10.246.0.1", "8083", "10.246.0.1", "8083", "a TCP connection out")
	seen, err := netip.ParseAddr(text)
	if err != nil || seen.Less(netip.MustParseAddr("10.246.0.50")) || netip.MustParseAddr("10.246.0.60").Less(seen) {
		t.Fatalf("the outside saw %q, want an address leased from 10.246.0.50-60", text)
	}
}
