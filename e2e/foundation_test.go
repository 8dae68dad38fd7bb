package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

func sleep(ms int) { time.Sleep(time.Duration(ms) * time.Millisecond) }

// TestTwoHostsOnTAP: two namespaces on TAP ports ping each other and run
// TCP; the FDB shows both MACs on the right ports.
func TestTwoHostsOnTAP(t *testing.T) {
	requireE2E(t, "ping", "iperf3")
	h1, h2 := newHost(t, "h1"), newHost(t, "h2")
	p1, p2 := testnet.Name("p"), testnet.Name("p")
	vs := startVswitch(t, fmt.Sprintf(`ports:
  - {name: %s, type: tap, netns: %s}
  - {name: %s, type: tap, netns: %s}
`, p1, h1.Name, p2, h2.Name))
	h1.addr(p1, "10.201.0.1/24")
	h2.addr(p2, "10.201.0.2/24")
	if !h1.ping("10.201.0.2", 3) {
		t.Fatal("h1 cannot ping h2 through vswitch")
	}
	fdb := vs.fdb()
	want := map[string]string{h1.mac(p1): p1, h2.mac(p2): p2}
	for _, e := range fdb {
		if port, ok := want[e.MAC]; ok {
			if e.Port != port || e.VLAN != 1 {
				t.Errorf("fdb: %s on %s vlan %d, want %s vlan 1", e.MAC, e.Port, e.VLAN, port)
			}
			delete(want, e.MAC)
		}
	}
	if len(want) != 0 {
		t.Errorf("fdb lacks %v: %+v", want, fdb)
	}
	gbps := iperfTCP(t, h2, h1, "10.201.0.2", 3)
	t.Logf("iperf3 TCP h1 -> h2 over TAP ports: %.2f Gbit/s (race detector: %v)", gbps, raceEnabled)
	if gbps <= 0 {
		t.Fatal("no TCP throughput")
	}
	// Every frame each host's kernel handed its TAP was read by vswitch,
	// and every frame vswitch wrote reached the kernel: the counters on
	// both sides of each TAP agree exactly (TAP offloads are off, so one
	// frame is one frame on both sides).
	var ports map[string]portStatus
	var k1, k2 [2]uint64
	agree := func() bool {
		ports, k1, k2 = vs.ports(), h1.linkPackets(p1), h2.linkPackets(p2)
		return ports[p1].RxPackets == k1[1] && ports[p1].TxPackets == k1[0] &&
			ports[p2].RxPackets == k2[1] && ports[p2].TxPackets == k2[0]
	}
	deadline := time.Now().Add(10 * time.Second)
	for !agree() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("frames in/out of vswitch: %s %d/%d, %s %d/%d", p1, ports[p1].RxPackets, ports[p1].TxPackets, p2, ports[p2].RxPackets, ports[p2].TxPackets)
	if !agree() {
		t.Errorf("vswitch rx/tx %d/%d on %s, the kernel's tx/rx %d/%d; %d/%d on %s, the kernel's %d/%d",
			ports[p1].RxPackets, ports[p1].TxPackets, p1, k1[1], k1[0], ports[p2].RxPackets, ports[p2].TxPackets, p2, k2[1], k2[0])
	}
	// And inside the switch every frame is accounted for: with two ports
	// each frame read goes out of the other one or is counted as a drop
	// (fdb_limit counts a frame that still goes out: not a drop).
	var in, out, dropped uint64
	for _, p := range []string{p1, p2} {
		in, out = in+ports[p].RxPackets, out+ports[p].TxPackets
		for r, n := range ports[p].Drops {
			if r != "fdb_limit" {
				dropped += n
			}
		}
	}
	if in != out+dropped {
		t.Errorf("%d frames in, %d out and %d dropped: %d unaccounted for (drops %v %v)",
			in, out, dropped, int64(in)-int64(out+dropped), ports[p1].Drops, ports[p2].Drops)
	}
	if out := vs.mustCLI("show", "ports"); !strings.Contains(out, p1) {
		t.Errorf("show ports lacks %s:\n%s", p1, out)
	}
}

// TestVLANIsolation: four hosts in one subnet, two on VLAN 10 and two on
// VLAN 20. Each pair talks; nothing crosses, not even a broadcast.
func TestVLANIsolation(t *testing.T) {
	requireE2E(t, "ping")
	var hosts [4]*host
	var names [4]string
	cfg := "ports:\n"
	for i := range hosts {
		hosts[i] = newHost(t, fmt.Sprintf("v%d", i))
		names[i] = testnet.Name("v")
		vlan := 10
		if i >= 2 {
			vlan = 20
		}
		cfg += fmt.Sprintf("  - {name: %s, type: tap, netns: %s, vlan: %d}\n", names[i], hosts[i].Name, vlan)
	}
	startVswitch(t, cfg)
	for i, h := range hosts {
		h.addr(names[i], fmt.Sprintf("10.202.0.%d/24", i+1))
	}
	if !hosts[0].ping("10.202.0.2", 2) || !hosts[2].ping("10.202.0.4", 2) {
		t.Fatal("hosts in the same VLAN cannot talk")
	}
	// Nothing from VLAN 10's hosts may reach VLAN 20's, not even the
	// broadcast ARP requests for VLAN 20's addresses.
	filter := fmt.Sprintf("ether src %s or ether src %s", hosts[0].mac(names[0]), hosts[1].mac(names[1]))
	w2, w3 := hosts[2].watch(names[2], filter), hosts[3].watch(names[3], filter)
	control := hosts[1].watch(names[1], "arp and ether src "+hosts[0].mac(names[0])) // same VLAN: must see them
	if n := hosts[0].pingCount("10.202.0.3", 2); n != 0 {
		t.Fatalf("a host on VLAN 10 reached one on VLAN 20: %d replies", n)
	}
	if n := hosts[1].pingCount("10.202.0.4", 2); n != 0 {
		t.Fatalf("a host on VLAN 10 reached one on VLAN 20: %d replies", n)
	}
	control.wait("Request who-has 10.202.0.3", 10*time.Second)
	w2.none(hosts[3], names[3], "VLAN 20 host saw VLAN 10 frames")
	w3.none(hosts[2], names[2], "VLAN 20 host saw VLAN 10 frames")
}

// TestBadConfig: config check and run both refuse a bad file with
// FILE:LINE: reason and exit 2.
func TestBadConfig(t *testing.T) {
	bin := vswitchBin(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	os.WriteFile(path, []byte("ports:\n  - name: a\n    type: tap\n    vlna: 10\n  - {name: b, type: tap, vlan: 5000}\n"), 0o644)
	for _, args := range [][]string{{"config", "check", "-c", path}, {"run", "-c", path}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		var ee *exec.ExitError
		if !errorAs(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("vswitch %v: %v, want exit 2\n%s", args, err, out)
		}
		for _, want := range []string{path + ":4:", "vlna", path + ":5:", "5000"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("vswitch %v output lacks %q:\n%s", args, want, out)
			}
		}
	}
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("ports:\n  - {name: a, type: tap}\n"), 0o644)
	if out, err := exec.Command(bin, "config", "check", "-c", good).CombinedOutput(); err != nil {
		t.Fatalf("good config refused: %v\n%s", err, out)
	}
}

// TestCleanStop: SIGTERM removes the TAP devices and the socket and exits 0.
func TestCleanStop(t *testing.T) {
	requireE2E(t)
	h := newHost(t, "cs")
	p1, p2 := testnet.Name("c"), testnet.Name("c")
	vs := startVswitch(t, fmt.Sprintf("ports:\n  - {name: %s, type: tap, netns: %s}\n  - {name: %s, type: tap}\n", p1, h.Name, p2))
	if _, err := h.Output("ip", "link", "show", p1); err != nil {
		t.Fatalf("TAP %s not in netns %s", p1, h.Name)
	}
	if _, err := testnet.Output("ip", "link", "show", p2); err != nil {
		t.Fatalf("TAP %s not in the root netns", p2)
	}
	vs.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-vs.done:
	case <-time.After(15 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if vs.exitErr != nil {
		t.Fatalf("exit: %v\n%s", vs.exitErr, vs.log.String())
	}
	if _, err := h.Output("ip", "link", "show", p1); err == nil {
		t.Errorf("TAP %s still exists in %s", p1, h.Name)
	}
	if _, err := testnet.Output("ip", "link", "show", p2); err == nil {
		t.Errorf("TAP %s still exists", p2)
	}
	if _, err := os.Stat(vs.sock); !os.IsNotExist(err) {
		t.Errorf("control socket left behind: %v", err)
	}
}

// TestPortAddDelete: an AF_PACKET port added at run time carries traffic;
// deleted, it leaves show ports and the FDB.
func TestPortAddDelete(t *testing.T) {
	requireE2E(t, "ping")
	h1, h2 := newHost(t, "d1"), newHost(t, "d2")
	p1 := testnet.Name("d")
	vs := startVswitch(t, fmt.Sprintf("ports:\n  - {name: %s, type: tap, netns: %s}\n", p1, h1.Name))
	h1.addr(p1, "10.204.0.1/24")
	rootEnd, peer := testnet.Veth(t, "d", h2.Netns)
	h2.addr(peer, "10.204.0.2/24")
	vs.mustCLI("port", "add", "uplink1", "--type", "afpacket", "--device", rootEnd)
	if !h1.ping("10.204.0.2", 2) {
		t.Fatal("no traffic through a port added at run time")
	}
	if _, ok := vs.ports()["uplink1"]; !ok {
		t.Fatal("added port missing from show ports")
	}
	vs.mustCLI("port", "del", "uplink1")
	vs.requirePortGone("uplink1")
	if n := h1.pingCount("10.204.0.2", 2); n != 0 {
		t.Fatalf("traffic still flows through a deleted port: %d replies", n)
	}
	if out, err := vs.cli("port", "del", "uplink1"); err == nil {
		t.Fatalf("deleting twice succeeded: %s", out)
	}
}

// TestVethHostTCP: a host behind a veth (AF_PACKET port) talks TCP to a
// host on a TAP port. The veth side has TSO on, so AF_PACKET hands the
// switch 64 KiB GSO super-frames with a partial checksum; they must reach
// the TAP host intact (through the TAP's virtio-net header), and the other
// way round too.
func TestVethHostTCP(t *testing.T) {
	requireE2E(t, "ping", "iperf3")
	hv, ht := newHost(t, "gv"), newHost(t, "gt")
	rootEnd, peer := testnet.Veth(t, "g", hv.Netns)
	hv.addr(peer, "10.206.0.1/24")
	pt := testnet.Name("g")
	vs := startVswitch(t, fmt.Sprintf("ports:\n  - {name: veth, type: afpacket, device: %s}\n  - {name: %s, type: tap, netns: %s}\n", rootEnd, pt, ht.Name))
	ht.addr(pt, "10.206.0.2/24")
	if !hv.ping("10.206.0.2", 2) {
		t.Fatal("veth host cannot ping TAP host")
	}
	// veth -> TAP, the data leaves the switch as whole super-frames: more
	// bytes per frame than a full 1514-byte Ethernet frame. (The other way
	// the TAP host sends MTU-sized frames: vswitch leaves the TAP's
	// offloads off, see tap/tap_linux.go.)
	perFrame := func(before, after map[string]portStatus, port string) uint64 {
		n := after[port].TxPackets - before[port].TxPackets
		if n == 0 {
			t.Fatalf("no frames out of %s", port)
		}
		return (after[port].TxBytes - before[port].TxBytes) / n
	}
	st0 := vs.ports()
	up := iperfTCP(t, ht, hv, "10.206.0.2", 3)
	st1 := vs.ports()
	down := iperfTCP(t, hv, ht, "10.206.0.1", 3)
	st := vs.ports()
	upPer, downPer := perFrame(st0, st1, pt), perFrame(st1, st, "veth")
	t.Logf("iperf3 TCP veth(AF_PACKET, TSO on) -> TAP: %.2f Gbit/s, %d bytes per frame; TAP -> veth: %.2f Gbit/s, %d bytes per frame (race: %v)",
		up, upPer, down, downPer, raceEnabled)
	if upPer <= 1514 {
		t.Errorf("%d bytes per frame out of the TAP: the veth's super-frames were cut to MTU size", upPer)
	}
	if d := st[pt].Drops["tx_error"] + st["veth"].Drops["tx_error"]; d > 0 {
		t.Errorf("%d frames refused by the devices", d)
	}
}

// TestSecondInstanceRefused: a second vswitch on the same config stops at
// the control socket, before touching the first one's devices or sockets.
func TestSecondInstanceRefused(t *testing.T) {
	requireE2E(t)
	p := testnet.Name("s")
	vs := startVswitch(t, fmt.Sprintf("ports:\n  - {name: %s, type: tap}\n  - {name: vm, type: qemu, socket: %s/vm.sock}\n", p, t.TempDir()))
	out, err := exec.Command(vswitchBin(t), "run", "-c", filepath.Join(vs.dir, "vswitch.yaml")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another vswitch is running") {
		t.Fatalf("second instance: %v\n%s", err, out)
	}
	if strings.Contains(vs.log.String(), "VM connected") {
		t.Fatal("the second instance touched the first one's QEMU socket")
	}
	if _, err := testnet.Output("ip", "link", "show", p); err != nil {
		t.Fatal("the first instance lost its TAP")
	}
	vs.mustCLI("show", "ports")
}
