package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
	"github.com/vswitch/vswitch/internal/testvm"
)

// TestUserUplink: vswitch runs inside a namespace of the test (the
// "host") with a nat network whose uplink is `type: user`. A guest leases
// by DHCP and its TCP and UDP flows leave as vswitch's own sockets in the
// host namespace: a curl download checks out (SHA-256), the server sees
// the host's own address (vswitch's socket, not the guest), a UDP echo
// comes back, a closed port is refused at once (the guest gets a RST), and
// the metrics count the refusal.
func TestUserUplink(t *testing.T) {
	requireE2E(t, "python3", "udhcpc", "curl", "ping")
	hostNS, guest := newHost(t, "uh"), newHost(t, "ug")
	// The host's service address, on the host namespace's loopback.
	hostNS.Run("ip", "addr", "add", "10.243.0.1/32", "dev", "lo")
	dir := t.TempDir()
	sum := randomBlob(t, filepath.Join(dir, "blob"), 8)
	serveHTTP(hostNS, "10.243.0.1", dir)
	hostNS.Start("python3", "-c", udpEcho, "10.243.0.1", "9999")
	vs, addr := startUserLab(t, hostNS, "192.168.243", `    forwards: [{proto: tcp, port: 8080, to: "192.168.243.10:8082"}]
`, "", guest)

	downloadChecked(t, guest, "http://10.243.0.1:8000/blob", filepath.Join(t.TempDir(), "got"), sum, 20*time.Second, "10", "the download through the user uplink")
	if seen := peerExchange(t, hostNS, guest, "10.243.0.1", "8081", "10.243.0.1", "8081", "the TCP exchange through the user uplink"); seen != "10.243.0.1" {
		t.Fatalf("the server saw %q, want vswitch's own socket at 10.243.0.1", seen)
	}
	udpAskUntil(t, guest, "10.243.0.1", 9999, 40000, "up") // the echo server is up
	for i := range 3 {                                     // then each new flow answers its first datagram
		if n := udpAskUntil(t, guest, "10.243.0.1", 9999, 40001+i, fmt.Sprintf("m%d", i)); n != 1 {
			t.Fatalf("UDP flow %d took %d datagrams, want 1", i, n)
		}
	}

	// A port forward keeps the client's address: a client in a third
	// namespace, reaching the host namespace over a veth, is who the
	// guest's server sees.
	client := newHost(t, "uc")
	ha, ca := testnet.Veth(t, "uc", client.Netns)
	testnet.Run(t, "ip", "link", "set", ha, "netns", hostNS.Name)
	hostNS.addr(ha, "10.245.0.1/24")
	client.addr(ca, "10.245.0.2/24")
	if seen := peerExchange(t, guest, client, "192.168.243.10", "8082", "10.245.0.1", "8080", "the port forward"); seen != "10.245.0.2" {
		t.Fatalf("the guest's server saw %q, want the client's own 10.245.0.2", seen)
	}

	// Ping through an unprivileged ICMP socket where ping_group_range
	// allows one (for root, gid 0, here); where it does not, the guest is
	// told "prohibited" for each echo, and that is counted.
	hostNS.Run("sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647")
	if !guest.ping("10.243.0.1", 3) {
		t.Fatal("no ping through the user uplink")
	}
	userUplinkPort(t, vs, hostNS, guest, addr)
	hostNS.Run("sysctl", "-qw", "net.ipv4.ping_group_range=1 0")
	if out, err := guest.Output("ping", "-c", "2", "-i", "0.2", "-W", "1", "10.243.0.1"); err == nil || !strings.Contains(out, "Packet filtered") {
		t.Fatalf("ping with no ICMP socket: %v\n%s", err, out)
	}
	// A closed port: the host refuses, so the guest gets a RST, not a
	// timeout (curl exit 7: could not connect), and the refusal is counted.
	// The metrics listen inside the host namespace, where vswitch runs;
	// the retries above may have been refused while servers started.
	dialFailed := func() float64 {
		return metric(t, hostNS.Run("curl", "-sf", "http://"+addr+"/metrics"), "vswitch_uplink_drops_total", `reason="user_dial_failed",uplink="host"`)
	}
	before := dialFailed()
	start := time.Now()
	if _, err := guest.Output("curl", "-sf", "--max-time", "5", "http://10.243.0.1:1/"); err == nil || !strings.Contains(err.Error(), "exit status 7") {
		t.Fatalf("curl to a closed port: %v, want exit status 7", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("refusal took %v: no RST", d)
	}
	if v := dialFailed(); v != before+1 {
		t.Fatalf("user_dial_failed %v, want %v", v, before+1)
	}
	// A loopback client cannot be a guest's peer: refused, counted.
	if _, err := hostNS.Output("curl", "-sf", "--max-time", "5", "http://127.0.0.1:8080/"); err == nil {
		t.Fatal("a loopback client got through the forward")
	}
	if v := metric(t, hostNS.Run("curl", "-sf", "http://"+addr+"/metrics"), "vswitch_uplink_drops_total", `reason="user_forward_source",uplink="host"`); v != 1 {
		t.Fatalf("user_forward_source %v, want 1", v)
	}
	if v := metric(t, hostNS.Run("curl", "-sf", "http://"+addr+"/metrics"), "vswitch_uplink_drops_total", `reason="user_ping_denied",uplink="host"`); v != 2 {
		t.Fatalf("user_ping_denied %v, want 2", v)
	}
	if v := metric(t, hostNS.Run("curl", "-sf", "http://"+addr+"/metrics"), "vswitch_uplink_drops_total", `reason="user_forbidden_dst",uplink="host"`); v != 0 {
		t.Fatalf("user_forbidden_dst %v, want 0", v)
	}
	if err := vs.stop(); err != nil {
		t.Fatalf("vswitch exit: %v\n%s", err, vs.log)
	}
}

// userUplinkPort: the user uplink is a routed switch port named after it,
// as an AF_PACKET uplink is (TestUplinkPort): N pings through it are N
// frames of 98 bytes each way in show ports and the metrics, and a
// capture on it reads the echoes both ways. The guest's pings to
// 10.243.0.1 must be answered; vswitch and its metrics run in hostNS.
func userUplinkPort(t *testing.T, vs *instance, hostNS, guest *host, metrics string) {
	t.Helper()
	before, ok := vs.ports()["host"]
	if !ok {
		t.Fatalf("show ports lacks the user uplink:\n%s", vs.mustCLI("show", "ports"))
	}
	const n, echo = 20, 98
	if got := guest.pingEvery("10.243.0.1", n, "0.02"); got != n {
		t.Fatalf("%d of %d pings answered", got, n)
	}
	after := vs.ports()["host"]
	if d := [4]uint64{after.RxPackets - before.RxPackets, after.RxBytes - before.RxBytes, after.TxPackets - before.TxPackets, after.TxBytes - before.TxBytes}; d != [4]uint64{n, n * echo, n, n * echo} {
		t.Fatalf("the user uplink's port moved rx %d/%d B, tx %d/%d B for %d pings; want %d/%d each way", d[0], d[1], d[2], d[3], n, n, n*echo)
	}
	if len(after.Drops) != 0 || after.Driver["queue_full"] != 0 {
		t.Fatalf("user uplink port drops %v, driver %v", after.Drops, after.Driver)
	}
	var kind []struct{ Name, Type, Mode string }
	vs.showJSON("ports", &kind)
	if !slices.Contains(kind, struct{ Name, Type, Mode string }{"host", "uplink", "routed"}) {
		t.Fatalf("show ports: %+v, want {host uplink routed}", kind)
	}
	text := hostNS.Run("curl", "-sf", "http://"+metrics+"/metrics") // it listens in hostNS, with vswitch
	if got := metric(t, text, "vswitch_port_tx_packets_total", `port="host"`); got != float64(after.TxPackets) {
		t.Fatalf("vswitch_port_tx_packets_total{port=\"host\"} %v, want %d", got, after.TxPackets)
	}
	if got := metric(t, text, "vswitch_port_info", `port="host",type="uplink"`); got != 1 {
		t.Fatalf("vswitch_port_info of the user uplink: %v", got)
	}
	vs.captureEchoes(guest, "host", 6, "192.168.243.10", "10.243.0.1")
}

// startUserLab runs vswitch in hostNS (the host, for vswitch's sockets)
// with a TAP port in each guest on network lab, NET.0/24, mode nat
// through the user uplink host; netKeys and uplinkKeys are more keys of
// the network (YAML lines) and of the uplink (flow mapping entries). Each
// guest leases an address by DHCP (the first NET.10, the next NET.11, in
// order) and routes through the gateway. It returns vswitch and its
// metrics address (in hostNS).
func startUserLab(t *testing.T, hostNS *host, net, netKeys, uplinkKeys string, guests ...*host) (*instance, string) {
	t.Helper()
	addr := freeAddr(t)
	ports, names := "", make([]string, len(guests))
	for i, g := range guests {
		names[i] = testnet.Name("p")
		ports += fmt.Sprintf("  - {name: %s, type: tap, netns: %s}\n", names[i], g.Name)
	}
	vs := startVswitchWrapped(t, fmt.Sprintf(`metrics: %q
ports:
%snetworks:
  - name: lab
    address: %[3]s.1/24
    mode: nat
    uplink: host
    dhcp: {range: %[3]s.10-%[3]s.20}
%[4]suplinks:
  - {name: host, type: user%[5]s}
`, addr, ports, net, netKeys, uplinkKeys), func(string) []string { return []string{"ip", "netns", "exec", hostNS.Name} })
	for i, g := range guests {
		if ip, want := dhcpClient(t, "udhcpc", g, names[i]), fmt.Sprintf("%s.%d", net, 10+i); ip != want {
			t.Fatalf("guest %d leased %s, want %s", i, ip, want)
		}
		g.Run("ip", "route", "add", "default", "via", net+".1")
	}
	return vs, addr
}

// TestUserUplinkRootless: vswitch and QEMU run as nobody with no
// capability; vswitch runs inside the test's host namespace, so the
// guest's flows leave as nobody's sockets there. The guest leases by DHCP
// (its router option is its default route) and runs iperf3 against a
// server on the host namespace's own address, through the user uplink.
func TestUserUplinkRootless(t *testing.T) {
	requireE2E(t, "setpriv", "qemu-system-x86_64", "iperf3")
	dir, bin, kernel, initrd := rootlessFiles(t)
	hostNS := newHost(t, "ur")
	hostNS.Run("ip", "addr", "add", "10.243.0.1/32", "dev", "lo")
	hostNS.Start("iperf3", "-s", "-B", "10.243.0.1")
	_, vmSock, vs, vlog := startNobody(t, dir, bin, `networks:
  - name: lab
    address: 10.244.0.1/24
    mode: nat
    uplink: host
    dhcp: {range: 10.244.0.10-10.244.0.20}
uplinks:
  - {name: host, type: user}
`, []string{"ip", "netns", "exec", hostNS.Name})
	vm := testvm.StartWith(t, testvm.Image{Kernel: kernel, Initrd: initrd}, testvm.Options{MAC: "52:54:00:ee:02:01",
		Netdev: "stream,id=n0,server=off,addr.type=unix,addr.path=" + vmSock, Iperf: "10.243.0.1"},
		append([]string{"setpriv"}, asNobody...))
	if ip := mustWait(t, vm, "VST-IP "); ip != "VST-IP 10.244.0.10" {
		t.Fatalf("guest: %s", ip)
	}
	r := mustWait(t, vm, "VST-IPERF ")
	t.Logf("iperf3 under TCG, guest to the host namespace through the user uplink, as nobody: %s Mbit/s", strings.Fields(r)[2])
	if strings.HasSuffix(r, "fail") {
		t.Fatalf("iperf3 through the user uplink failed:\n%s\nvswitch:\n%s", vm.Output(), vlog)
	}
	// ip netns exec and setpriv exec into vswitch: the PID is vswitch's.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", vs.Process.Pid))
	if err != nil || !regexp.MustCompile(`(?m)^Uid:\s+65534\s`).Match(status) || !regexp.MustCompile(`(?m)^CapEff:\s+0+$`).Match(status) {
		t.Fatalf("vswitch is not nobody without capabilities (%v):\n%s", err, status)
	}
}
