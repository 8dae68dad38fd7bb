package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// topo is four hosts, each a namespace with one interface; host i holds
// 10.250.0.i+1/24. The pair tests use h1 and h2; mesh4 uses all four.
type topo struct {
	hosts, devs []string
	h1, h2      string
	dev1, dev2  string
}

const meshHosts = 4

func newTopo() *topo {
	t := &topo{}
	for i := range meshHosts {
		t.hosts = append(t.hosts, fmt.Sprintf("vsbh%d", i+1))
	}
	t.h1, t.h2 = t.hosts[0], t.hosts[1]
	return t
}

// setDevs names the hosts' interfaces prefix1..prefixN and returns
// (host, device) pairs for a switch's setup to create.
func (t *topo) setDevs(prefix string) [][2]string {
	t.devs = nil
	var pairs [][2]string
	for i, h := range t.hosts {
		d := fmt.Sprintf("%s%d", prefix, i+1)
		t.devs = append(t.devs, d)
		pairs = append(pairs, [2]string{h, d})
	}
	t.dev1, t.dev2 = t.devs[0], t.devs[1]
	return pairs
}

// peer is a switch under test.
type peer interface {
	name() string
	// setup builds the topology through this switch; undo steps go on c.
	setup(t *topo, c *cleanup, work string) error
	// pids are the switch's processes, for CPU accounting (none: kernel).
	pids() []int
	version() string
}

func newPeer(name, vswitchBin string) (peer, error) {
	switch name {
	case "vswitch":
		return &vswitchPeer{bin: vswitchBin}, nil
	case "vswitch-veth":
		return &vswitchPeer{bin: vswitchBin, veth: true}, nil
	case "vswitch-1cpu":
		return &vswitchPeer{bin: vswitchBin, oneCPU: true}, nil
	case "linux-bridge":
		return &bridgePeer{}, nil
	case "ovs":
		return &ovsPeer{}, nil
	case "ovs-tso":
		return &ovsPeer{tso: true}, nil
	case "vde":
		return &vdePeer{}, nil
	}
	return nil, fmt.Errorf("unknown switch %q (vswitch, vswitch-veth, vswitch-1cpu, linux-bridge, ovs, ovs-tso, vde)", name)
}

// hosts makes the two namespaces.
func hosts(t *topo, c *cleanup) error {
	for _, ns := range t.hosts {
		if err := addNetns(c, ns); err != nil {
			return err
		}
		nsExec(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	}
	return nil
}

// address configures the hosts' interfaces once the switch made them.
func address(t *topo) error {
	for i, h := range t.hosts {
		p := [2]string{h, t.devs[i]}
		if _, err := nsExec(p[0], "ip", "addr", "add", fmt.Sprintf("10.250.0.%d/24", i+1), "dev", p[1]); err != nil {
			return err
		}
		if _, err := nsExec(p[0], "ip", "link", "set", p[1], "up"); err != nil {
			return err
		}
	}
	// Wait until the path works (a userspace switch may take a moment).
	for i := 0; i < 50; i++ {
		if _, err := nsExec(t.h1, "ping", "-c", "1", "-W", "1", "10.250.0.2"); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("h1 cannot ping h2 through the switch")
}

// --- vswitch: TAP ports whose kernel side lives in each host; or, as
// vswitch-veth, a veth per host attached as AF_PACKET ports (the topology
// the Linux bridge gets); as vswitch-1cpu, TAP ports with cpus: 1.

type vswitchPeer struct {
	bin    string
	veth   bool
	oneCPU bool
	cmd    *exec.Cmd
}

func (v *vswitchPeer) name() string {
	switch {
	case v.veth:
		return "vswitch-veth"
	case v.oneCPU:
		return "vswitch-1cpu"
	}
	return "vswitch"
}

func (v *vswitchPeer) setup(t *topo, c *cleanup, work string) error {
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	ports := ""
	if v.veth {
		for i, p := range t.setDevs("vsbw") {
			root := fmt.Sprintf("vsbr%d", i+1)
			if err := addVeth(c, root, p[1], p[0]); err != nil {
				return err
			}
			ports += fmt.Sprintf("  - {name: p%d, type: afpacket, device: %s}\n", i+1, root)
		}
	} else {
		for _, p := range t.setDevs("vsbp") {
			ports += fmt.Sprintf("  - {name: %s, type: tap, netns: %s}\n", p[1], p[0])
		}
	}
	var err error
	if v.cmd, err = runVswitch(v.bin, work, "vswitch", cpus(v.name())+"ports:\n"+ports, c); err != nil {
		return err
	}
	for i := 0; i < 100; i++ {
		last := len(t.hosts) - 1
		if _, err := nsExec(t.hosts[last], "ip", "link", "show", t.devs[last]); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("vswitch did not create its TAPs (see %s)", filepath.Join(work, "vswitch.log"))
}

// runVswitch writes work/NAME.yaml (cfg after a control socket
// work/NAME.sock, a state directory and no metrics) and starts vswitch on
// it, logging to work/NAME.log; c stops it (SIGINT, then after 5 s
// SIGKILL).
func runVswitch(bin, work, name, cfg string, c *cleanup) (*exec.Cmd, error) {
	path := filepath.Join(work, name+".yaml")
	os.WriteFile(path, []byte(fmt.Sprintf("control: %s\nstate_dir: %s\nmetrics: \"\"\n%s",
		filepath.Join(work, name+".sock"), filepath.Join(work, "state"), cfg)), 0o644)
	cmd := exec.Command(bin, "run", "-c", path, "-log-level", "warn")
	log, _ := os.Create(filepath.Join(work, name+".log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c.add(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return cmd, nil
}

// cpus is the config line of a vswitch switch name's cpus.
func cpus(name string) string {
	if strings.HasSuffix(name, "-1cpu") {
		return "cpus: 1\n"
	}
	return ""
}

func (v *vswitchPeer) pids() []int { return []int{v.cmd.Process.Pid} }

func (v *vswitchPeer) version() string {
	out, _ := sh(v.bin, "version")
	return strings.TrimSpace(out)
}

// --- the Linux bridge with a veth per host: the kernel's best case.

type bridgePeer struct{}

func (bridgePeer) name() string { return "linux-bridge" }

func (bridgePeer) setup(t *topo, c *cleanup, work string) error {
	if _, err := sh("ip", "link", "add", "vsbbr0", "type", "bridge"); err != nil {
		return err
	}
	c.add(func() { sh("ip", "link", "del", "vsbbr0") })
	sh("ip", "link", "set", "vsbbr0", "up")
	for i, p := range t.setDevs("vsbe") {
		root := fmt.Sprintf("vsbb%d", i+1)
		if err := addVeth(c, root, p[1], p[0]); err != nil {
			return err
		}
		sh("ip", "link", "set", root, "master", "vsbbr0")
		sh("ip", "link", "set", root, "up")
	}
	return nil
}

func (bridgePeer) pids() []int { return nil }
func (bridgePeer) version() string {
	out, _ := sh("uname", "-r")
	return "kernel " + strings.TrimSpace(out)
}

// --- Open vSwitch, userspace (netdev) datapath with TAP ports, started
// by hand in a private directory (no kernel module here). As ovs-tso, with
// userspace TSO on (other_config:userspace-tso-enable): its TAPs then
// carry virtio-net headers with offloads, OVS at its best on this
// topology.

type ovsPeer struct {
	dir string
	tso bool
}

func (o *ovsPeer) name() string {
	if o.tso {
		return "ovs-tso"
	}
	return "ovs"
}

func (o *ovsPeer) setup(t *topo, c *cleanup, work string) error {
	if _, err := exec.LookPath("ovs-vswitchd"); err != nil {
		return fmt.Errorf("Open vSwitch is not installed (apt-get install openvswitch-switch)")
	}
	o.dir = filepath.Join(work, "ovs")
	os.MkdirAll(o.dir, 0o755)
	d := o.dir
	db := "unix:" + filepath.Join(d, "db.sock")
	if _, err := sh("ovsdb-tool", "create", filepath.Join(d, "conf.db"), "/usr/share/openvswitch/vswitch.ovsschema"); err != nil {
		return err
	}
	if _, err := sh("ovsdb-server", filepath.Join(d, "conf.db"), "--remote=punix:"+filepath.Join(d, "db.sock"),
		"--pidfile="+filepath.Join(d, "ovsdb-server.pid"), "--unixctl="+filepath.Join(d, "ovsdb-server.ctl"),
		"--log-file="+filepath.Join(d, "ovsdb-server.log"), "--detach", "--no-chdir"); err != nil {
		return err
	}
	c.add(func() { killPidfile(filepath.Join(d, "ovsdb-server.pid")) })
	if o.tso {
		// Read when ovs-vswitchd starts and opens its ports: set it first.
		for _, args := range [][]string{{"init"}, {"set", "Open_vSwitch", ".", "other_config:userspace-tso-enable=true"}} {
			if _, err := sh("ovs-vsctl", append([]string{"--db=" + db, "--no-wait"}, args...)...); err != nil {
				return err
			}
		}
	}
	if _, err := sh("ovs-vswitchd", db, "--pidfile="+filepath.Join(d, "ovs-vswitchd.pid"),
		"--unixctl="+filepath.Join(d, "ovs-vswitchd.ctl"), "--log-file="+filepath.Join(d, "ovs-vswitchd.log"),
		"--detach", "--no-chdir"); err != nil {
		return err
	}
	c.add(func() {
		sh("ovs-appctl", "-t", filepath.Join(d, "ovs-vswitchd.ctl"), "exit", "--cleanup")
		killPidfile(filepath.Join(d, "ovs-vswitchd.pid"))
		// The netdev datapath makes TAPs for itself and the bridge.
		sh("ip", "link", "del", "ovs-netdev")
		sh("ip", "link", "del", "vsbovs")
	})
	vsctl := func(args ...string) error {
		_, err := sh("ovs-vsctl", append([]string{"--db=" + db, "--timeout=20"}, args...)...)
		return err
	}
	if err := vsctl("add-br", "vsbovs", "--", "set", "bridge", "vsbovs", "datapath_type=netdev"); err != nil {
		return err
	}
	for _, p := range t.setDevs("vsbo") {
		if err := vsctl("add-port", "vsbovs", p[1], "--", "set", "Interface", p[1], "type=tap"); err != nil {
			return err
		}
		if _, err := sh("ip", "link", "set", p[1], "netns", p[0]); err != nil {
			return err
		}
	}
	return nil
}

func (o *ovsPeer) pids() []int {
	return []int{readPidfile(filepath.Join(o.dir, "ovs-vswitchd.pid"))}
}

func (o *ovsPeer) version() string {
	out, _ := sh("ovs-vswitchd", "--version")
	return strings.SplitN(strings.TrimSpace(out), "\n", 2)[0]
}

// --- VDE: vde_switch and one vde_plug2tap per host.

type vdePeer struct{ dir string }

func (v *vdePeer) name() string { return "vde" }

func (v *vdePeer) setup(t *topo, c *cleanup, work string) error {
	if _, err := exec.LookPath("vde_switch"); err != nil {
		return fmt.Errorf("VDE is not installed (apt-get install vde2)")
	}
	v.dir = filepath.Join(work, "vde")
	os.MkdirAll(v.dir, 0o755)
	sw := filepath.Join(v.dir, "sw")
	if _, err := sh("vde_switch", "-s", sw, "-M", filepath.Join(v.dir, "mgmt"), "-d", "-p", filepath.Join(v.dir, "sw.pid")); err != nil {
		return err
	}
	c.add(func() { killPidfile(filepath.Join(v.dir, "sw.pid")) })
	for i, p := range t.setDevs("vsbv") {
		pid := filepath.Join(v.dir, fmt.Sprintf("p%d.pid", i+1))
		if _, err := sh("vde_plug2tap", "-s", sw, "-d", "-P", pid, p[1]); err != nil {
			return err
		}
		c.add(func() { killPidfile(pid) })
		var err error
		for k := 0; k < 50; k++ {
			if _, err = sh("ip", "link", "set", p[1], "netns", p[0]); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (v *vdePeer) pids() []int {
	var out []int
	out = append(out, readPidfile(filepath.Join(v.dir, "sw.pid")))
	for i := range meshHosts {
		out = append(out, readPidfile(filepath.Join(v.dir, fmt.Sprintf("p%d.pid", i+1))))
	}
	return out
}

func (v *vdePeer) version() string {
	out, _ := sh("vde_switch", "-v")
	return strings.SplitN(strings.TrimSpace(out), "\n", 2)[0]
}

func readPidfile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	var pid int
	fmt.Sscan(string(b), &pid)
	return pid
}

// killPidfile ends a process we started, by the PID it wrote.
func killPidfile(path string) {
	if pid := readPidfile(path); pid > 1 {
		if p, err := os.FindProcess(pid); err == nil {
			p.Kill()
		}
	}
}
