package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
	"github.com/vswitch/vswitch/internal/testvm"
)

// qemuConn is the unix stream connection of the QEMU whose command line
// names sock: its end's inode and the inode of the end it is connected
// to (vswitch's); t fails unless there is exactly one.
func qemuConn(t *testing.T, sock string) (qemu, peer string) {
	t.Helper()
	pid := 0
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), "qemu-system") && strings.Contains(string(b), "addr.path="+sock) {
			fmt.Sscan(d.Name(), &pid)
		}
	}
	if pid == 0 {
		t.Fatalf("no QEMU with %s", sock)
	}
	out := testnet.Run(t, "ss", "-xpnH")
	var found [][2]string
	for _, l := range strings.Split(out, "\n") {
		// u_str ESTAB 0 0 * INODE * PEER users:(("qemu-system-x86",pid=N,fd=M))
		f := strings.Fields(l)
		if len(f) >= 8 && f[0] == "u_str" && f[1] == "ESTAB" && strings.Contains(l, fmt.Sprintf(",pid=%d,", pid)) {
			found = append(found, [2]string{f[5], f[7]})
		}
	}
	if len(found) != 1 {
		t.Fatalf("QEMU pid %d has %d unix stream connections, want 1:\n%s", pid, len(found), out)
	}
	return found[0][0], found[0][1]
}

// holds says whether process pid has the socket with inode open.
func holds(pid int, inode string) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if l, _ := os.Readlink(filepath.Join(dir, e.Name())); l == "socket:["+inode+"]" {
			return true
		}
	}
	return false
}

// upgradeAndWait runs `vswitch upgrade` on u and waits for the old
// process to exit; it returns the new PID.
func (u *upInstance) upgradeAndWait(t *testing.T, old int) int {
	t.Helper()
	o := u.mustCLI("upgrade")
	testnet.WaitFor(t, 15*time.Second, "the old vswitch to exit", func() bool { return !alive(old) })
	st := u.status()
	if st.PID == old || st.UpgradedFrom != old {
		t.Fatalf("after the upgrade: pid %d upgraded from %d, want a new pid from %d\n%s", st.PID, st.UpgradedFrom, old, o)
	}
	return st.PID
}

// TestUpgradeQEMU: a real guest on a QEMU socket port (-netdev stream on
// a unix socket), the port added at run time with `port add`, stays
// connected across an upgrade whose new process fails after it took the
// sockets (the old one takes them back), `vswitch upgrade` and a second
// one by SIGUSR2: the
// connection QEMU has is the same socket (inode), to the same socket of
// vswitch's, before and after, and the new process holds that one (QEMU
// 7.2 never reconnects: a broken connection would end all traffic). A
// namespace host pings the guest 100 times a second across the failed
// and the first upgrade and loses at most upgradeMaxLost echoes each
// (frames the old process had read and not written; frames the guest
// sent meanwhile wait in the socket, its partial frame goes over with
// it); 100 more after it are all answered. The run-time port is still
// there and reported handed over.
func TestUpgradeQEMU(t *testing.T) {
	requireE2E(t, "qemu-system-x86_64", "ping", "ss")
	img := testvm.Build(t)
	sock := filepath.Join(t.TempDir(), "vm.sock")
	hn, pn := newHost(t, "uq"), testnet.Name("uq")
	vs := startUpgradable(t, fmt.Sprintf(`ports:
  - {name: %s, type: tap, netns: %s}
networks:
  - name: vms
    address: 10.231.0.1/24
    dhcp:
      range: 10.231.0.100-10.231.0.150
      hosts:
        - {mac: "52:54:00:ee:01:01", ip: 10.231.0.12}
`, pn, hn.Name))
	hn.addr(pn, "10.231.0.50/24")
	vs.mustCLI("port", "add", "vm1", "--type", "qemu", "--socket", sock)
	vm := testvm.Start(t, img, testvm.Options{MAC: "52:54:00:ee:01:01",
		Netdev: "stream,id=n0,server=off,addr.type=unix,addr.path=" + sock, Ping: []string{"10.231.0.1"}})
	if ip := mustWait(t, vm, "VST-IP "); ip != "VST-IP 10.231.0.12" {
		t.Fatalf("guest: %s", ip)
	}
	mustWait(t, vm, "VST-READY")
	if !hn.ping("10.231.0.12", 3) {
		t.Fatal("the namespace host cannot reach the guest before the upgrade")
	}
	qend, vend := qemuConn(t, sock)
	if !holds(vs.cmd.Process.Pid, vend) {
		t.Fatalf("before the upgrade: QEMU's connection (socket %s) is not to vswitch's socket %s", qend, vend)
	}
	same := func(when string, pid int) {
		t.Helper()
		q, v := qemuConn(t, sock)
		if q != qend || v != vend || !holds(pid, vend) {
			t.Fatalf("%s: QEMU's connection is socket %s to %s (held by pid %d: %v), want %s to %s: it reconnected",
				when, q, v, pid, holds(pid, v), qend, vend)
		}
	}

	const echoes = 700
	pings := pingLoss(hn, "10.231.0.12", echoes, "0.01")
	sleep(1000)
	// First an upgrade whose new process takes the sockets and then fails
	// (its config names a device that is not there): the old process
	// takes its own copies back, the guest's stream with them.
	restore := vs.breakConfig(t)
	if o, err := vs.cli("upgrade"); err == nil || !strings.Contains(o, "carries on") {
		t.Fatalf("upgrade to a process that fails to take over: %v\n%s", err, o)
	}
	same("after a failed upgrade", vs.cmd.Process.Pid)
	restore()
	pid := vs.upgradeAndWait(t, vs.cmd.Process.Pid)
	n := <-pings
	t.Logf("pings to the guest across a failed upgrade and an upgrade: %d of %d answered", n, echoes)
	if n < echoes-2*upgradeMaxLost {
		t.Fatalf("%d of %d echoes answered across a failed upgrade and an upgrade; want at most %d lost", n, echoes, 2*upgradeMaxLost)
	}
	same("after the upgrade", pid)
	if n := hn.pingEvery("10.231.0.12", 100, "0.01"); n != 100 {
		t.Fatalf("after the upgrade: %d of 100 echoes to the guest answered", n)
	}
	st := vs.status()
	if !slices.Contains(st.Inherited, "vm1") || !slices.Contains(st.Inherited, pn) {
		t.Fatalf("handed over %v, want vm1 and %s among them", st.Inherited, pn)
	}
	if _, ok := vs.ports()["vm1"]; !ok {
		t.Fatal("the run-time port vm1 is gone after the upgrade")
	}
	log := vs.logText()
	if c := strings.Count(log, `msg="qemu port: VM connected"`); c != 1 {
		t.Fatalf("the guest connected %d times, want once:\n%s", c, log)
	}
	if !strings.Contains(log, `msg="qemu port: VM handed over, still connected" port=vm1`) {
		t.Fatalf("the new process did not take the guest's connection over:\n%s", log)
	}

	// Again, by SIGUSR2 from the new process: the spec of the run-time
	// port went over too, so it goes over again.
	syscall.Kill(pid, syscall.SIGUSR2)
	testnet.WaitFor(t, 15*time.Second, "the SIGUSR2 upgrade", func() bool {
		p, err := vs.statusErr()
		return err == nil && p != pid && !alive(pid)
	})
	pid, err := vs.statusErr()
	if err != nil {
		t.Fatalf("status after the second upgrade: %v", err)
	}
	same("after the second upgrade", pid)
	if n := hn.pingEvery("10.231.0.12", 50, "0.01"); n != 50 {
		t.Fatalf("after the second upgrade: %d of 50 echoes to the guest answered", n)
	}
	if c := strings.Count(vs.logText(), `msg="qemu port: VM connected"`); c != 1 {
		t.Fatalf("the guest connected %d times, want once", c)
	}
}

// udpInode is the inode of the UDP socket bound to port in h's namespace.
func udpInode(t *testing.T, h *host, port int) string {
	t.Helper()
	want := fmt.Sprintf(":%04X", port)
	var found []string
	for _, l := range strings.Split(h.Run("cat", "/proc/net/udp"), "\n") {
		f := strings.Fields(l) // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) >= 10 && strings.HasSuffix(f[1], want) {
			found = append(found, f[9])
		}
	}
	if len(found) != 1 {
		t.Fatalf("UDP sockets on port %d in %s: %v, want one", port, h.Name, found)
	}
	return found[0]
}

// TestUpgradeVXLAN: a VXLAN port to a Linux VTEP and a TAP port added at
// run time with `port add` go over to the new process: the tunnel's UDP
// socket is the same (inode), now held by the new process, the run-time
// TAP keeps its ifindex and is reported handed over, and a host on it
// pings across the tunnel 100 times a second through the upgrade losing
// at most upgradeMaxLost echoes (had the socket been closed and bound
// again, the datagrams between would meet a closed port). The port's
// counters go on from the old process's.
func TestUpgradeVXLAN(t *testing.T) {
	requireE2E(t, "ping")
	u1, u2 := newHost(t, "wu"), newHost(t, "wv")
	ua, ub := testnet.Veth(t, "wu", u2.Netns)
	testnet.Run(t, "ip", "link", "set", ua, "netns", u1.Name)
	u1.addr(ua, "10.208.0.1/24")
	u2.addr(ub, "10.208.0.2/24")
	u2.Run("ip", "link", "add", "vx10", "type", "vxlan", "id", "1010", "local", "10.208.0.2",
		"remote", "10.208.0.1", "dstport", "4789", "dev", ub)
	u2.addr("vx10", "10.208.10.2/24")
	h1, h2 := newHost(t, "wa"), newHost(t, "wb")
	p1, p2 := testnet.Name("wa"), testnet.Name("wb")
	vs := startUpgradable(t, fmt.Sprintf(`ports:
  - {name: %s, type: tap, netns: %s, vlan: 10, mtu: 1450}
  - {name: vx, type: vxlan, netns: %s, local: 10.208.0.1, vnis: {10: 1010}, remotes: [10.208.0.2]}
`, p1, h1.Name, u1.Name))
	h1.addr(p1, "10.208.10.4/24")
	vs.mustCLI("port", "add", p2, "--type", "tap", "--netns", h2.Name, "--vlan", "10", "--mtu", "1450")
	h2.addr(p2, "10.208.10.5/24")
	if !h2.ping("10.208.10.2", 3) || !h1.ping("10.208.10.2", 2) {
		t.Fatal("the hosts cannot reach the Linux VTEP's side before the upgrade")
	}
	sock := udpInode(t, u1, 4789)
	if !holds(vs.cmd.Process.Pid, sock) {
		t.Fatalf("vswitch does not hold the tunnel's socket %s", sock)
	}
	ifindex := h2.Run("cat", "/sys/class/net/"+p2+"/ifindex")
	before := vs.ports()[p2]

	const echoes = 500
	pings := pingLoss(h2, "10.208.10.2", echoes, "0.01")
	sleep(1000)
	pid := vs.upgradeAndWait(t, vs.cmd.Process.Pid)
	n := <-pings
	t.Logf("pings across the tunnel from the run-time port across the upgrade: %d of %d answered", n, echoes)
	if n < echoes-upgradeMaxLost {
		t.Fatalf("%d of %d echoes answered across the upgrade; want at most %d lost", n, echoes, upgradeMaxLost)
	}
	if s := udpInode(t, u1, 4789); s != sock || !holds(pid, sock) {
		t.Fatalf("after the upgrade the tunnel's socket is %s (held by pid %d: %v), was %s: it was bound again", s, pid, holds(pid, s), sock)
	}
	// The counters went over: the echoes the old process took in and the
	// new one's are all in them (had they started at zero, the ones
	// before the hand over would be missing).
	if after := vs.ports()[p2]; after.RxPackets < before.RxPackets+echoes || after.TxPackets < before.TxPackets+uint64(n) {
		t.Fatalf("%s counters after the upgrade: rx %d tx %d; before: rx %d tx %d, and %d echoes out, %d answers back since",
			p2, after.RxPackets, after.TxPackets, before.RxPackets, before.TxPackets, echoes, n)
	}
	if i := h2.Run("cat", "/sys/class/net/"+p2+"/ifindex"); i != ifindex {
		t.Fatalf("%s ifindex %s after the upgrade, was %s: the device was recreated", p2, i, ifindex)
	}
	if inh := slices.Sorted(slices.Values(vs.status().Inherited)); !slices.Equal(inh, sorted(p1, p2, "vx", "control", "metrics")) {
		t.Fatalf("handed over %v, want %s %s vx control metrics", inh, p1, p2)
	}
	if !h1.ping("10.208.10.2", 3) || !h2.ping("10.208.10.4", 2) {
		t.Fatal("no traffic after the upgrade")
	}
}
