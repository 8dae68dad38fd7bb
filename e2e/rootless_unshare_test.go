package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// TestUserUplinkUnshareTAP: vswitch runs as nobody inside `unshare
// -Urn`, a user and network namespace of its own where it is root, so it
// opens TAP ports there (CAP_NET_ADMIN over that namespace is enough for
// TUN/TAP) and reaches out through a user uplink: rootless, as
// slirp4netns or pasta run beside a rootless container, but one switch
// for every guest. vswitch's namespace is the host side: its servers run
// there (started by the test, as root, through nsenter). A guest
// namespace on the TAP leases its address by DHCP and, with vswitch
// holding no capability outside its own user namespace:
//   - downloads 64 MiB, SHA-256 checked, from a server on an address of
//     the host side;
//   - is reached through a TCP and a UDP port forward by a client in a
//     third namespace, whose real address and port its servers see;
//   - gets its UDP echoes from the host's loopback (host_loopback,
//     10.0.2.2), each new flow answering its first datagram;
//   - resolves an exact name through the network's DNS forwarder (dnsmasq
//     on the host's loopback);
//   - is told "prohibited" for each echo while ping_group_range leaves
//     out nobody's gid, and pings through vswitch's ICMP socket once it
//     takes that gid in;
//   - opens and closes 1000 connections, after which vswitch's
//     descriptors and goroutines are back to what they were, with no
//     drop counted meanwhile.
//
// The guest is a namespace of the test: once vswitch has made the TAP,
// the test (root) moves its kernel side there; vswitch keeps its end,
// the open /dev/net/tun descriptor. Where /dev/net/tun is not mode 0666
// (this machine's is 0600, a container's static /dev; distributions'
// udev rules make it 0666), root inside a user namespace cannot open it:
// the device belongs to a uid that is not mapped there, so CAP_DAC_OVERRIDE
// does not apply. The test binds a 0666 node of the same device over it in
// a mount namespace of vswitch's alone, leaving the machine's as it is.
func TestUserUplinkUnshareTAP(t *testing.T) {
	requireE2E(t, "setpriv", "unshare", "nsenter", "mknod", "udhcpc", "curl", "python3", "dig", "dnsmasq", "ping")
	dir, bin := nobodyDir(t)
	www := filepath.Join(dir, "www")
	os.Mkdir(www, 0o755)
	sum := randomBlob(t, filepath.Join(www, "blob"), 64)
	dev := filepath.Join(dir, "dev")
	os.Mkdir(dev, 0o755)
	tap := testnet.Name("ut")
	cfg := filepath.Join(dir, "vswitch.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`control: %s
state_dir: %s
metrics: 127.0.0.1:9477
ports:
  - {name: %s, type: tap}
networks:
  - name: lab
    address: 10.249.0.1/24
    mode: nat
    uplink: host
    dhcp: {range: 10.249.0.10-10.249.0.20}
    dns: {forwarders: [127.0.0.1]}
    forwards: [{proto: tcp, port: 8080, to: "10.249.0.10:8082"}, {proto: udp, port: 5353, to: "10.249.0.10:5300"}]
uplinks:
  - {name: host, type: user, host_loopback: 10.0.2.2}
`, filepath.Join(dir, "ctl.sock"), filepath.Join(dir, "state"), tap)), 0o644)
	inner := fmt.Sprintf("ip link set lo up && exec %s run -c %s", bin, cfg)
	outer := fmt.Sprintf("mount -t tmpfs -o mode=755 tmpfs %[1]s && mknod -m 666 %[1]s/tun c 10 200 && mount --bind %[1]s/tun /dev/net/tun && exec setpriv %[2]s unshare -Urn sh -c %[3]q",
		dev, strings.Join(asNobody, " "), inner)
	// unshare, sh, setpriv and unshare again all exec: the PID is vswitch's.
	cmd := exec.Command("unshare", "-m", "sh", "-c", outer)
	log := startProcess(t, "vswitch", cmd)
	vsNS := pidNetns{t, cmd.Process.Pid}
	testnet.WaitFor(t, 20*time.Second, "vswitch running with its TAP", func() bool {
		if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", vsNS.pid)); strings.Contains(string(st), ") Z ") {
			t.Fatalf("vswitch exited:\n%s", log) // e.g. open /dev/net/tun: permission denied
		}
		out, _ := vsNS.cmd("ip", "link", "show", tap).CombinedOutput()
		return strings.Contains(string(out), tap) && strings.Contains(log.String(), "vswitch running")
	})
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", vsNS.pid))
	if err != nil || !regexp.MustCompile(`(?m)^Uid:\s+65534\s`).Match(status) || !regexp.MustCompile(`(?m)^Gid:\s+65534\s`).Match(status) {
		t.Fatalf("vswitch is not nobody (%v):\n%s", err, status)
	}
	if own, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", vsNS.pid)); own == "" || own == mustReadlink(t, "/proc/self/ns/user") {
		t.Fatalf("vswitch is not in a user namespace of its own (%q)", own)
	}
	// Its root there is nobody, alone: its capabilities reach no further.
	for _, m := range []string{"uid_map", "gid_map"} {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", vsNS.pid, m)); err != nil || strings.Join(strings.Fields(string(b)), " ") != "0 65534 1" {
			t.Fatalf("vswitch's %s: %v %q, want 0 65534 1", m, err, b)
		}
	}

	// The host side: a service address on vswitch's loopback (reached
	// the ordinary way) and servers on 127.0.0.1 (through host_loopback).
	vsNS.run("ip", "addr", "add", "10.248.0.1/32", "dev", "lo")
	vsNS.start("http", "python3", "-m", "http.server", "--bind", "10.248.0.1", "--directory", www, "8000")
	vsNS.start("accept-close", "python3", "-c", acceptClose, "10.248.0.1", "9000")
	vsNS.start("udp-echo", "python3", "-c", udpEcho, "127.0.0.1", "9999")
	vsNS.start("dnsmasq", "dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--user=root", "--pid-file=",
		"--listen-address=127.0.0.1", "--bind-interfaces", "--address=/fwd.example/198.51.100.7")
	// The forwards' client: a third namespace on a veth into vswitch's.
	client := newHost(t, "uc")
	va, ca := testnet.Veth(t, "uc", client.Netns)
	testnet.Run(t, "ip", "link", "set", va, "netns", fmt.Sprint(vsNS.pid))
	vsNS.run("ip", "addr", "add", "10.247.0.1/24", "dev", va)
	vsNS.run("ip", "link", "set", va, "up")
	client.addr(ca, "10.247.0.2/24")

	guest := newHost(t, "un")
	vsNS.run("ip", "link", "set", tap, "netns", guest.Name)
	if ip := dhcpClient(t, "udhcpc", guest, tap); ip != "10.249.0.10" {
		t.Fatalf("guest leased %s, want 10.249.0.10", ip)
	}
	guest.Run("ip", "route", "add", "default", "via", "10.249.0.1")
	start := time.Now()
	downloadChecked(t, guest, "http://10.248.0.1:8000/blob", filepath.Join(t.TempDir(), "got"), sum, 30*time.Second, "25", "the 64 MiB download")
	t.Logf("64 MiB downloaded in %v", time.Since(start).Round(time.Millisecond))

	if seen := peerExchange(t, guest, client, "10.249.0.10", "8082", "10.247.0.1", "8080", "the TCP forward"); seen != "10.247.0.2" {
		t.Fatalf("the guest's server behind the TCP forward saw %q, want the client's own 10.247.0.2", seen)
	}
	guest.Start("python3", "-c", udpEchoFrom, "10.249.0.10", "5300")
	testnet.WaitFor(t, 15*time.Second, "the guest's UDP server through the forward", func() bool {
		_, err := client.Output("python3", "-c", udpAskBig, "10.247.0.1", "5353", "40000", "up", "1")
		return err == nil
	})
	if got, err := client.Output("python3", "-c", udpAskBig, "10.247.0.1", "5353", "40001", "a", "1"); err != nil || got != "10.247.0.2:40001|a\n" {
		t.Fatalf("the UDP forward: %v %q, want the client's own 10.247.0.2:40001 and its datagram", err, got)
	}

	udpAskUntil(t, guest, "10.0.2.2", 9999, 40000, "up") // the echo server is up
	for i := range 3 {                                   // then each new flow answers its first datagram
		if n := udpAskUntil(t, guest, "10.0.2.2", 9999, 40001+i, fmt.Sprintf("m%d", i)); n != 1 {
			t.Fatalf("UDP flow %d took %d datagrams, want 1", i, n)
		}
	}
	if st, ans := dig(t, guest, "10.249.0.1", "fwd.example"); st != "NOERROR" || fmt.Sprint(ans) != "[A 198.51.100.7]" {
		t.Fatalf("dig through the forwarder: %s %v, want NOERROR [A 198.51.100.7]", st, ans)
	}

	// A new network namespace's ping_group_range is "1 0": no one may
	// open an ICMP socket, so each echo is answered "prohibited".
	if r := vsNS.run("sysctl", "-n", "net.ipv4.ping_group_range"); strings.Join(strings.Fields(r), " ") != "1 0" {
		t.Fatalf("ping_group_range in vswitch's namespace: %q, want 1 0", r)
	}
	if out, err := guest.Output("ping", "-c", "2", "-i", "0.2", "-W", "1", "10.248.0.1"); err == nil || !strings.Contains(out, "2 packets transmitted, 0 received, +2 errors") || strings.Count(out, "Packet filtered") != 2 {
		t.Fatalf("ping with no ICMP socket: %v, want two \"Packet filtered\"\n%s", err, out)
	}
	if v := metric(t, vsNS.metrics(), "vswitch_uplink_drops_total", `reason="user_ping_denied",uplink="host"`); v != 2 {
		t.Fatalf("user_ping_denied %v, want 2", v)
	}
	// nobody's gid alone (written from the initial user namespace, where
	// it is 65534) lets vswitch ping.
	vsNS.run("sysctl", "-qw", "net.ipv4.ping_group_range=65534 65534")
	if n := guest.pingEvery("10.248.0.1", 3, "0.05"); n != 3 {
		t.Fatalf("%d of 3 pings answered through vswitch's ICMP socket", n)
	}

	cycleConns(t, vsNS, guest, "10.248.0.1", "9000", 1000)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("vswitch exit: %v\n%s", err, log)
	}
}

// acceptClose accepts connections on ADDR PORT, sends "ok" on each and
// closes it.
const acceptClose = `import socket,sys
l=socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(1024)
while True:
    c,_=l.accept(); c.sendall(b"ok"); c.close()`

// connCycle opens N connections to ADDR PORT, 16 at a time, reads each
// one's "ok" and closes it; it prints how many read "ok".
const connCycle = `import socket,sys,concurrent.futures as cf
dst=(sys.argv[1], int(sys.argv[2]))
def one(_):
    c=socket.create_connection(dst, timeout=10)
    try: return c.recv(2)==b"ok"
    finally: c.close()
with cf.ThreadPoolExecutor(16) as ex: print(sum(ex.map(one, range(int(sys.argv[3])))))`

// cycleConns has guest open and close n connections to addr:port (an
// acceptClose server) through vswitch, in vs, and fails the test unless
// every one got through, no drop was counted, and vswitch's descriptors
// and goroutines come back to what they were before.
func cycleConns(t *testing.T, vs pidNetns, guest *host, addr, port string, n int) {
	t.Helper()
	drops := func(m string) string {
		return strings.Join(regexp.MustCompile(`(?m)^vswitch_uplink_drops_total\{.*\n`).FindAllString(m, -1), "")
	}
	m := vs.metrics()
	fds, gos, before := procFDs(t, vs.pid), goroutines(t, m), drops(m)
	start := time.Now()
	if out, err := guest.Output("python3", "-c", connCycle, addr, port, fmt.Sprint(n)); err != nil || strings.TrimSpace(out) != fmt.Sprint(n) {
		t.Fatalf("%d connections: %v, %q read ok", n, err, out)
	}
	took := time.Since(start)
	// The last connections end after the guest's last close: wait for
	// them, then nothing may be left (a leak of one goroutine or socket
	// per connection is 1000 of each).
	var nowFDs, nowGos int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		m = vs.metrics()
		nowFDs, nowGos = procFDs(t, vs.pid), goroutines(t, m)
		if nowFDs <= fds && nowGos <= gos {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after %d connections closed, vswitch holds %d descriptors (%d before) and %d goroutines (%d before)", n, nowFDs, fds, nowGos, gos)
		}
	}
	t.Logf("%d connections in %v; vswitch back to %d descriptors (%d before), %d goroutines (%d before) %v later",
		n, took.Round(time.Millisecond), nowFDs, fds, nowGos, gos, (time.Since(start) - took).Round(time.Millisecond))
	if after := drops(m); after != before {
		t.Fatalf("drops counted during the %d connections:\n%s\nbefore:\n%s", n, after, before)
	}
}

var goGoroutines = regexp.MustCompile(`(?m)^go_goroutines (\d+)$`)

// goroutines reads go_goroutines from a metrics page.
func goroutines(t *testing.T, metrics string) int {
	t.Helper()
	m := goGoroutines.FindStringSubmatch(metrics)
	if m == nil {
		t.Fatalf("no go_goroutines in the metrics:\n%.2000s", metrics)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// pidNetns runs commands, as root, in the network namespace of process
// pid: vswitch's, made by unshare, which has no name for ip netns.
type pidNetns struct {
	t   *testing.T
	pid int
}

func (n pidNetns) cmd(args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"-t", fmt.Sprint(n.pid), "-n"}, args...)...)
}

// run runs a command and returns its output, failing the test on error.
func (n pidNetns) run(args ...string) string {
	n.t.Helper()
	out, err := n.cmd(args...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("%v in vswitch's namespace: %v\n%s", args, err, out)
	}
	return string(out)
}

// start starts a server, ended at cleanup.
func (n pidNetns) start(name string, args ...string) {
	n.t.Helper()
	startProcess(n.t, name, n.cmd(args...))
}

// metrics is vswitch's metrics page, served in its namespace.
func (n pidNetns) metrics() string {
	n.t.Helper()
	return n.run("curl", "-sf", "http://127.0.0.1:9477/metrics")
}

func mustReadlink(t *testing.T, path string) string {
	t.Helper()
	s, err := os.Readlink(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
