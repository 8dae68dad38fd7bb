package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// ovs is an Open vSwitch (ovsdb-server and ovs-vswitchd, userspace
// datapath) started by a test inside one namespace, with its database,
// sockets and logs in a temporary directory: there is no kernel module
// here, and the namespace keeps its TAPs (ovs-netdev, the bridges' own
// ports) and its route table apart from the machine's.
type ovs struct {
	t   testing.TB
	ns  *host
	dir string
}

// startOVS starts Open vSwitch in ns; cleanup stops both daemons by the
// PIDs they wrote.
func startOVS(t testing.TB, ns *host) *ovs {
	t.Helper()
	o := &ovs{t: t, ns: ns, dir: t.TempDir()}
	p := func(name string) string { return filepath.Join(o.dir, name) }
	testnet.Run(t, "ovsdb-tool", "create", p("conf.db"), "/usr/share/openvswitch/vswitch.ovsschema")
	o.run("ovsdb-server", p("conf.db"), "--remote=punix:"+p("db.sock"), "--pidfile="+p("ovsdb-server.pid"),
		"--unixctl="+p("ovsdb-server.ctl"), "--log-file="+p("ovsdb-server.log"), "--detach", "--no-chdir")
	t.Cleanup(func() { killPidfile(p("ovsdb-server.pid")) })
	o.run("ovs-vswitchd", "unix:"+p("db.sock"), "--pidfile="+p("ovs-vswitchd.pid"),
		"--unixctl="+p("ovs-vswitchd.ctl"), "--log-file="+p("ovs-vswitchd.log"), "--detach", "--no-chdir")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(p("ovs-vswitchd.log"))
			t.Logf("ovs-vswitchd log:\n%s", b)
		}
		o.appctl("exit", "--cleanup")
		killPidfile(p("ovs-vswitchd.pid"))
	})
	return o
}

// run runs an OVS command in the namespace with OVS_RUNDIR in the
// instance's directory (the bridges' management sockets go there, not to
// the system's /run/openvswitch); it fails the test on error.
func (o *ovs) run(name string, args ...string) string {
	o.t.Helper()
	return o.ns.Run("env", append([]string{"OVS_RUNDIR=" + o.dir, name}, args...)...)
}

// vsctl runs ovs-vsctl against this instance's database.
func (o *ovs) vsctl(args ...string) string {
	o.t.Helper()
	return o.run("ovs-vsctl", append([]string{"--db=unix:" + filepath.Join(o.dir, "db.sock"), "--timeout=20"}, args...)...)
}

// appctl runs ovs-appctl against this instance's ovs-vswitchd.
func (o *ovs) appctl(args ...string) (string, error) {
	return o.ns.Output("env", append([]string{"OVS_RUNDIR=" + o.dir, "ovs-appctl", "-t", filepath.Join(o.dir, "ovs-vswitchd.ctl")}, args...)...)
}

// TestVXLANWithOVS joins vswitch to Open vSwitch's userspace datapath
// over VXLAN, the way OpenStack's br-tun joins hosts: OVS's underlay is a
// netdev bridge holding the veth and the VTEP address (OVS's userspace
// tunnels route and ARP by themselves), its integration bridge holds a
// TAP host and a vxlan port with key 1010. vswitch maps VLAN 10 to VNI
// 1010 and VLAN 20 to 1020. VLAN 10's host pings the host behind OVS and
// downloads 16 MiB from it, checked by SHA-256; VLAN 20's host, in the
// same subnet, gets no answer (OVS has no VNI 1020); the underlay carries
// VNI 1010 both ways, and `show fdb` has OVS's host behind OVS's VTEP.
func TestVXLANWithOVS(t *testing.T) {
	requireE2E(t, "ping", "tcpdump", "python3", "curl", "sha256sum", "ethtool",
		"ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl")
	u1, u2 := newHost(t, "ou"), newHost(t, "ov")
	ua, ub := testnet.Veth(t, "ou", u2.Netns)
	testnet.Run(t, "ip", "link", "set", ua, "netns", u1.Name)
	u1.addr(ua, "10.209.0.1/24")
	// OVS reads the veth with AF_PACKET and does not complete a partial
	// checksum: vswitch's side sends finished ones, as a wire would.
	u1.Run("ethtool", "-K", ua, "tx", "off")

	o := startOVS(t, u2)
	brPhy, brInt, tapO := testnet.Name("op"), testnet.Name("oi"), testnet.Name("ot")
	o.vsctl("add-br", brPhy, "--", "set", "bridge", brPhy, "datapath_type=netdev")
	o.vsctl("add-port", brPhy, ub)
	// The VTEP address sits on the underlay bridge's own port; OVS learns
	// the route from the namespace's table.
	u2.addr(brPhy, "10.209.0.2/24")
	o.vsctl("add-br", brInt, "--", "set", "bridge", brInt, "datapath_type=netdev")
	o.vsctl("add-port", brInt, "vx1010", "--", "set", "Interface", "vx1010", "type=vxlan",
		"options:remote_ip=10.209.0.1", "options:local_ip=10.209.0.2", "options:key=1010")
	o.vsctl("add-port", brInt, tapO, "--", "set", "Interface", tapO, "type=tap")
	hO := newHost(t, "oo")
	u2.Run("ip", "link", "set", tapO, "netns", hO.Name)
	hO.Run("ip", "link", "set", tapO, "mtu", "1450")
	hO.addr(tapO, "10.209.10.2/24")

	vs, h10, h20 := vxlanSwitch(t, "o", u1, "10.209.0.1", "10.209.0.2", "10.209.10.1/24", "10.209.10.3/24")

	wire := u1.watch(ua, "udp port 4789")
	// OVS's tunnel resolves vswitch's VTEP by ARP on its underlay bridge
	// first; the first echoes may go while it does.
	testnet.WaitFor(t, 15*time.Second, "a ping from VLAN 10 across the tunnel to OVS's host", func() bool {
		return h10.pingCount("10.209.10.2", 1) == 1
	})
	if !h10.ping("10.209.10.2", 3) {
		out, _ := o.appctl("tnl/arp/show")
		t.Fatalf("VLAN 10 loses echoes to OVS's host across the tunnel\ntnl/arp/show:\n%s", out)
	}
	if n := h20.pingCount("10.209.10.2", 2); n != 0 {
		t.Fatalf("VLAN 20 reached OVS's VNI 1010 host: %d replies", n)
	}
	wire.wait("10.209.0.1.", 5*time.Second)
	wire.wait("10.209.0.2.", 5*time.Second)
	wire.stop()
	var from, to int
	for _, l := range wire.lines() {
		if !strings.Contains(l, "VXLAN") {
			continue
		}
		if !strings.Contains(l, "vni 1010") && !strings.Contains(l, "vni 1020") {
			t.Fatalf("a VXLAN datagram with a VNI the test never set: %s", l)
		}
		if strings.Contains(l, "10.209.0.2.") && strings.Contains(l, "> 10.209.0.1.") {
			if !strings.Contains(l, "vni 1010") {
				t.Fatalf("OVS sent a VNI other than 1010: %s", l)
			}
			from++
		} else {
			to++
		}
	}
	if from == 0 || to == 0 {
		t.Fatalf("VXLAN datagrams: %d from OVS, %d to it; want both:\n%s", from, to, strings.Join(wire.lines(), "\n"))
	}

	vs.requireRemoteMAC(hO.mac(tapO), "vx", 10, "10.209.0.2")

	// TCP across the tunnel, OVS's host serving.
	dir := t.TempDir()
	want := randomBlob(t, dir+"/blob", 16)
	serveHTTP(hO, "10.209.10.2", dir)
	downloadChecked(t, h10, "http://10.209.10.2:8000/blob", dir+"/got", want, 30*time.Second, "20", "the download across the tunnel from OVS")
}
