package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// topo is two hosts, h1 and h2, each a namespace with one interface
// (dev1, dev2) holding 10.250.0.1/24 and 10.250.0.2/24.
type topo struct {
	h1, h2     string
	dev1, dev2 string
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
	case "linux-bridge":
		return &bridgePeer{}, nil
	case "ovs":
		return &ovsPeer{}, nil
	case "vde":
		return &vdePeer{}, nil
	}
	return nil, fmt.Errorf("unknown switch %q (vswitch, vswitch-veth, linux-bridge, ovs, vde)", name)
}

// hosts makes the two namespaces.
func hosts(t *topo, c *cleanup) error {
	for _, ns := range []string{t.h1, t.h2} {
		if _, err := sh("ip", "netns", "add", ns); err != nil {
			return err
		}
		ns := ns
		c.add(func() { sh("ip", "netns", "del", ns) })
		nsExec(ns, "ip", "link", "set", "lo", "up")
		nsExec(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	}
	return nil
}

// address configures the hosts' interfaces once the switch made them.
func address(t *topo) error {
	for i, p := range [][2]string{{t.h1, t.dev1}, {t.h2, t.dev2}} {
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
// the Linux bridge gets).

type vswitchPeer struct {
	bin  string
	veth bool
	cmd  *exec.Cmd
}

func (v *vswitchPeer) name() string {
	if v.veth {
		return "vswitch-veth"
	}
	return "vswitch"
}

func (v *vswitchPeer) setup(t *topo, c *cleanup, work string) error {
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	ports := ""
	if v.veth {
		t.dev1, t.dev2 = "vsbw1", "vsbw2"
		for i, p := range [][2]string{{t.h1, t.dev1}, {t.h2, t.dev2}} {
			root := fmt.Sprintf("vsbr%d", i+1)
			if _, err := sh("ip", "link", "add", root, "type", "veth", "peer", "name", p[1]); err != nil {
				return err
			}
			c.add(func() { sh("ip", "link", "del", root) })
			sh("ip", "link", "set", p[1], "netns", p[0])
			ports += fmt.Sprintf("  - {name: p%d, type: afpacket, device: %s}\n", i+1, root)
		}
	} else {
		t.dev1, t.dev2 = "vsbp1", "vsbp2"
		ports = fmt.Sprintf("  - {name: %s, type: tap, netns: %s}\n  - {name: %s, type: tap, netns: %s}\n", t.dev1, t.h1, t.dev2, t.h2)
	}
	cfg := filepath.Join(work, "vswitch.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`control: %s
state_dir: %s
metrics: ""
ports:
%s`, filepath.Join(work, "vswitch.sock"), filepath.Join(work, "state"), ports)), 0o644)
	v.cmd = exec.Command(v.bin, "run", "-c", cfg, "-log-level", "warn")
	log, _ := os.Create(filepath.Join(work, "vswitch.log"))
	v.cmd.Stdout, v.cmd.Stderr = log, log
	if err := v.cmd.Start(); err != nil {
		return err
	}
	c.add(func() {
		v.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { v.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			v.cmd.Process.Kill()
			<-done
		}
	})
	for i := 0; i < 100; i++ {
		if _, err := nsExec(t.h2, "ip", "link", "show", t.dev2); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("vswitch did not create its TAPs (see %s)", filepath.Join(work, "vswitch.log"))
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
	t.dev1, t.dev2 = "vsbh1", "vsbh2"
	for i, p := range [][2]string{{t.h1, t.dev1}, {t.h2, t.dev2}} {
		root := fmt.Sprintf("vsbb%d", i+1)
		if _, err := sh("ip", "link", "add", root, "type", "veth", "peer", "name", p[1]); err != nil {
			return err
		}
		c.add(func() { sh("ip", "link", "del", root) })
		sh("ip", "link", "set", p[1], "netns", p[0])
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
// by hand in a private directory (no kernel module here).

type ovsPeer struct{ dir string }

func (o *ovsPeer) name() string { return "ovs" }

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
	t.dev1, t.dev2 = "vsbo1", "vsbo2"
	for _, p := range [][2]string{{t.h1, t.dev1}, {t.h2, t.dev2}} {
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
	t.dev1, t.dev2 = "vsbv1", "vsbv2"
	for i, p := range [][2]string{{t.h1, t.dev1}, {t.h2, t.dev2}} {
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
	for _, f := range []string{"sw.pid", "p1.pid", "p2.pid"} {
		out = append(out, readPidfile(filepath.Join(v.dir, f)))
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
