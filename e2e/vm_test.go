package e2e

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
	"github.com/vswitch/vswitch/internal/testvm"
)

const bootTimeout = 3 * time.Minute // TCG on two cores, three guests at once

func mustWait(t *testing.T, vm *testvm.VM, prefix string) string {
	t.Helper()
	l, ok := vm.Wait(prefix, bootTimeout)
	if !ok {
		t.Fatalf("guest never printed %q; console:\n%s", prefix, vm.Output())
	}
	return l
}

// TestVMs boots real guests: two on QEMU socket ports (a unix stream
// socket and a loopback TCP port) and one on a TAP that QEMU owns, added
// as an AF_PACKET port at run time. Each leases its address from vswitch,
// pings the gateway and the others; iperf3 runs guest to guest and guest
// to a namespace host. Then a guest's QEMU is killed and started again on
// the same socket and gets the same address; a misbehaving socket peer is
// cut off while the guests carry on; the run-time port is deleted.
func TestVMs(t *testing.T) {
	requireE2E(t, "qemu-system-x86_64", "iperf3", "python3", "ping")
	img := testvm.Build(t)
	dir := t.TempDir()
	sock1, sock4 := filepath.Join(dir, "vm1.sock"), filepath.Join(dir, "bad.sock")
	tcpAddr := freeAddr(t)
	hn, pn := newHost(t, "vh"), testnet.Name("v")
	vs := startVswitch(t, fmt.Sprintf(`ports:
  - {name: vm1, type: qemu, socket: %s}
  - {name: vm2, type: qemu, listen: %q}
  - {name: bad, type: qemu, socket: %s}
  - {name: %s, type: tap, netns: %s}
networks:
  - name: vms
    address: 10.230.0.1/24
    dhcp:
      range: 10.230.0.100-10.230.0.150
      hosts:
        - {mac: "52:54:00:ee:00:02", ip: 10.230.0.12}
        - {mac: "52:54:00:ee:00:03", ip: 10.230.0.13}
`, sock1, tcpAddr, sock4, pn, hn.Name))
	hn.addr(pn, "10.230.0.50/24")
	hn.Start("iperf3", "-s")

	// The third guest's QEMU creates and owns its TAP; vswitch attaches it.
	qtap := testnet.Name("q")
	vm3 := testvm.Start(t, img, testvm.Options{MAC: "52:54:00:ee:00:03",
		Netdev: "tap,id=n0,ifname=" + qtap + ",script=no,downscript=no,vhost=off",
		Ping:   []string{"10.230.0.1", "10.230.0.12"}, Iperf: "10.230.0.50"})
	testnet.WaitFor(t, 30*time.Second, "QEMU's TAP "+qtap, func() bool {
		_, err := net.InterfaceByName(qtap)
		return err == nil
	})
	vs.mustCLI("port", "add", "vm3", "--type", "afpacket", "--device", qtap)

	vm2 := testvm.Start(t, img, testvm.Options{MAC: "52:54:00:ee:00:02",
		Netdev: "socket,id=n0,connect=" + tcpAddr,
		Ping:   []string{"10.230.0.1", "10.230.0.13"}})
	vm1 := testvm.Start(t, img, testvm.Options{MAC: "52:54:00:ee:00:01",
		Netdev: "stream,id=n0,server=off,addr.type=unix,addr.path=" + sock1,
		Ping:   []string{"10.230.0.1", "10.230.0.12", "10.230.0.13"}, Iperf: "10.230.0.12"})

	ip1 := strings.TrimPrefix(mustWait(t, vm1, "VST-IP "), "VST-IP ")
	if !strings.HasPrefix(ip1, "10.230.0.1") || ip1 == "10.230.0.12" || ip1 == "10.230.0.13" {
		t.Fatalf("vm1 leased %q", ip1)
	}
	if ip := mustWait(t, vm2, "VST-IP "); ip != "VST-IP 10.230.0.12" {
		t.Fatalf("vm2: %s", ip)
	}
	if ip := mustWait(t, vm3, "VST-IP "); ip != "VST-IP 10.230.0.13" {
		t.Fatalf("vm3: %s", ip)
	}
	for _, vm := range []*testvm.VM{vm1, vm2, vm3} {
		mustWait(t, vm, "VST-READY")
		if strings.Contains(vm.Output(), "VST-PING-FAIL") {
			t.Fatalf("a guest's ping failed:\n%s", vm.Output())
		}
	}
	g2g := mustWait(t, vm1, "VST-IPERF ")
	g2h := mustWait(t, vm3, "VST-IPERF ")
	t.Logf("iperf3 under TCG, Mbit/s: guest to guest over two QEMU socket ports: %s; guest on a QEMU-owned TAP to a namespace host: %s",
		strings.Fields(g2g)[2], strings.Fields(g2h)[2])
	if strings.HasSuffix(g2g, "fail") || strings.HasSuffix(g2h, "fail") {
		t.Fatal("iperf3 in a guest failed")
	}
	if !hn.ping("10.230.0.12", 2) || !hn.ping(ip1, 2) {
		t.Fatal("namespace host cannot reach the guests")
	}

	// A misbehaving peer on the spare socket: length 0xFFFFFFFF, 3 bytes,
	// then it stalls. It is cut off and counted; the guests do not notice.
	out, err := testnet.Output("python3", "-c", `import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"\xff\xff\xff\xff\x01\x02\x03"); s.settimeout(10)
print("closed" if s.recv(1)==b"" else "open")`, sock4)
	if err != nil || !strings.Contains(out, "closed") {
		t.Fatalf("bad peer: %v %s", err, out)
	}
	if p := vs.ports()["bad"]; p.Driver["bad_peer"] != 1 {
		t.Fatalf("bad peer not counted: %+v", p)
	}
	if !hn.ping("10.230.0.12", 2) || !hn.ping("10.230.0.13", 2) {
		t.Fatal("guests lost traffic while the bad peer misbehaved")
	}

	// vm1's QEMU dies and a new one connects to the same socket: same
	// address, traffic again.
	vm1.Kill()
	vm1b := testvm.Start(t, img, testvm.Options{MAC: "52:54:00:ee:00:01",
		Netdev: "stream,id=n0,server=off,addr.type=unix,addr.path=" + sock1,
		Ping:   []string{"10.230.0.1", "10.230.0.12"}})
	if ip := mustWait(t, vm1b, "VST-IP "); ip != "VST-IP "+ip1 {
		t.Fatalf("restarted vm1 got %s, had %s", ip, ip1)
	}
	mustWait(t, vm1b, "VST-READY")
	if strings.Contains(vm1b.Output(), "VST-PING-FAIL") || !hn.ping(ip1, 2) {
		t.Fatalf("no traffic after the restart:\n%s", vm1b.Output())
	}

	// The run-time port goes away: out of show ports and the FDB.
	vs.mustCLI("port", "del", "vm3")
	vs.requirePortGone("vm3")
	if n := hn.pingCount("10.230.0.13", 2); n != 0 {
		t.Fatalf("vm3 still reachable after its port was deleted: %d replies", n)
	}
}
