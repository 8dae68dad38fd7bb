package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ports-peers: the Linux bridge and Open vSwitch with the same N idle TAP
// ports as the ports workload, in a namespace of their own with IPv6 off,
// so their figures sit beside vswitch's:
//
//   - linux-bridge: one `ip -batch` makes the bridge and N TAP devices,
//     enslaves and ups them (what a script or libvirt does per VM). Start-up
//     is that batch's time. Its ports live in the kernel, so "RSS" is the
//     growth of the kernel's own memory (kernelKB: live slab objects,
//     per-CPU and vmalloc memory, before the batch against after the
//     settle time): machine-wide, so other jobs' allocations blur it. No
//     process: no idle CPU to read.
//   - ovs: ovsdb-server and ovs-vswitchd started by hand in the namespace,
//     the userspace (netdev) datapath, one ovs-vsctl transaction adding
//     the bridge and N type=tap ports (ovs-vswitchd makes and opens the
//     TAPs, as vswitch does). Start-up is from starting ovs-vswitchd until
//     that transaction is applied (ovs-vsctl waits for it); RSS and idle
//     CPU are ovs-vswitchd's.

func runPortsPeers(_, work string, o options, rep *report, _ *cleanup) {
	peers := []struct {
		name string
		run  func(work string, n int, quick bool) (sample, error)
	}{{"linux-bridge", bridgePorts}, {"ovs", ovsPorts}}
	for _, n := range portCounts(o) {
		for r := 0; r < o.reps; r++ {
			for _, p := range peers {
				fmt.Printf("%-13s ports %d ports rep %d/%d ... ", p.name, n, r+1, o.reps)
				s, err := p.run(filepath.Join(work, "ports-"+p.name), n, o.quick)
				if err != nil {
					fmt.Println("failed:", err)
					rep.fail(p.name, fmt.Sprintf("ports %d", n), err)
					continue
				}
				fmt.Println(formatSample(s))
				rep.add(p.name, s, nil)
			}
		}
	}
}

// portsNetns makes a namespace with IPv6 off for n idle ports.
func portsNetns(c *cleanup) (string, error) {
	ns := fmt.Sprintf("vsbq%d", os.Getpid())
	if err := addNetns(c, ns); err != nil {
		return "", err
	}
	_, err := nsExec(ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1", "net.ipv6.conf.all.disable_ipv6=1")
	return ns, err
}

// settle waits as the ports workload does before it measures.
func settle(quick bool) (settle, window time.Duration) {
	if quick {
		return time.Second, 2 * time.Second
	}
	return 5 * time.Second, 5 * time.Second
}

// portsSample names the figures as the ports workload does, so that the
// report puts them in the same rows.
func portsSample(n int, up time.Duration, mib, idle float64, withCPU bool) sample {
	name := fmt.Sprintf("ports%d", n)
	testUnits[name+"-start"], testUnits[name+"-rss"], testUnits[name+"-idle-cpu"] = "s", "MiB", "% of a core"
	s := sample{name + "-start": up.Seconds(), name + "-rss": mib}
	if withCPU {
		s[name+"-idle-cpu"] = idle
	}
	return s
}

func bridgePorts(work string, n int, quick bool) (sample, error) {
	var c cleanup
	defer c.run()
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	ns, err := portsNetns(&c)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("link add vsbqbr type bridge\n")
	for i := range n {
		fmt.Fprintf(&b, "tuntap add dev vsbp%d mode tap\nlink set vsbp%d master vsbqbr up\n", i, i)
	}
	b.WriteString("link set vsbqbr up\n")
	path := filepath.Join(work, "bridge.batch")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	before, err := kernelQuiet()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if _, err := sh("ip", "-n", ns, "-batch", path); err != nil {
		return nil, err
	}
	up := time.Since(start)
	if err := countLinks(ns, n, "master", "vsbqbr"); err != nil {
		return nil, err
	}
	s, w := settle(quick)
	time.Sleep(s + w)
	after, err := kernelKB()
	if err != nil {
		return nil, err
	}
	return portsSample(n, up, (after-before)/1024, 0, false), nil
}

// kernelQuiet is kernelKB once it holds still: a namespace deleted
// before (the previous repetition's, with its N devices) is torn down
// asynchronously, and while that runs it would count against this one.
func kernelQuiet() (float64, error) {
	last, err := kernelKB()
	for range 60 {
		if err != nil {
			return 0, err
		}
		time.Sleep(500 * time.Millisecond)
		var now float64
		now, err = kernelKB()
		if err == nil && now-last < 512 && last-now < 512 { // KiB
			return now, nil
		}
		last = now
	}
	return last, err
}

// kernelKB is the kernel's own memory that devices take, in KiB: the
// live slab objects (active objects times object size, summed over
// /proc/slabinfo, so slab pages a previous run freed but the allocator
// kept do not hide the growth), per-CPU counters and vmalloc areas
// (Percpu, VmallocUsed in /proc/meminfo).
func kernelKB() (float64, error) {
	slab, err := os.ReadFile("/proc/slabinfo")
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, l := range strings.Split(string(slab), "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "slabinfo") {
			continue
		}
		active, err1 := strconv.ParseFloat(f[1], 64)
		size, err2 := strconv.ParseFloat(f[3], 64)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("/proc/slabinfo: %q", l)
		}
		sum += active * size / 1024
	}
	mem, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(mem), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok || k != "Percpu" && k != "VmallocUsed" {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/meminfo %s: %w", k, err)
		}
		sum += f
	}
	return sum, nil
}

func ovsPorts(work string, n int, quick bool) (sample, error) {
	if _, err := exec.LookPath("ovs-vswitchd"); err != nil {
		return nil, fmt.Errorf("Open vSwitch is not installed (apt-get install openvswitch-switch)")
	}
	var c cleanup
	defer c.run()
	os.RemoveAll(work)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	ns, err := portsNetns(&c)
	if err != nil {
		return nil, err
	}
	d := work
	db := "unix:" + filepath.Join(d, "db.sock")
	if _, err := sh("ovsdb-tool", "create", filepath.Join(d, "conf.db"), "/usr/share/openvswitch/vswitch.ovsschema"); err != nil {
		return nil, err
	}
	if _, err := nsExec(ns, "ovsdb-server", filepath.Join(d, "conf.db"), "--remote=punix:"+filepath.Join(d, "db.sock"),
		"--pidfile="+filepath.Join(d, "ovsdb-server.pid"), "--unixctl="+filepath.Join(d, "ovsdb-server.ctl"),
		"--log-file="+filepath.Join(d, "ovsdb-server.log"), "--detach", "--no-chdir"); err != nil {
		return nil, err
	}
	c.add(func() { killPidfile(filepath.Join(d, "ovsdb-server.pid")) })
	if _, err := sh("ovs-vsctl", "--db="+db, "--no-wait", "init"); err != nil {
		return nil, err
	}
	args := []string{"--db=" + db, "--timeout=600", "add-br", "vsbqovs", "--", "set", "bridge", "vsbqovs", "datapath_type=netdev"}
	for i := range n {
		p := fmt.Sprintf("vsbp%d", i)
		args = append(args, "--", "add-port", "vsbqovs", p, "--", "set", "Interface", p, "type=tap")
	}
	start := time.Now()
	if _, err := nsExec(ns, "ovs-vswitchd", db, "--pidfile="+filepath.Join(d, "ovs-vswitchd.pid"),
		"--unixctl="+filepath.Join(d, "ovs-vswitchd.ctl"), "--log-file="+filepath.Join(d, "ovs-vswitchd.log"),
		"--detach", "--no-chdir"); err != nil {
		return nil, err
	}
	c.add(func() {
		sh("ovs-appctl", "-t", filepath.Join(d, "ovs-vswitchd.ctl"), "exit", "--cleanup")
		killPidfile(filepath.Join(d, "ovs-vswitchd.pid"))
	})
	if _, err := sh("ovs-vsctl", args...); err != nil {
		return nil, err
	}
	up := time.Since(start)
	if err := countLinks(ns, n, "type", "tun"); err != nil { // the N ports, not ovs's own two
		return nil, err
	}
	pid := readPidfile(filepath.Join(d, "ovs-vswitchd.pid"))
	s, w := settle(quick)
	time.Sleep(s)
	c0 := cpuTicks([]int{pid})
	time.Sleep(w)
	idle := (cpuTicks([]int{pid}) - c0) / w.Seconds() * 100
	rss, err := rssKB(pid)
	if err != nil {
		return nil, err
	}
	return portsSample(n, up, rss/1024, idle, true), nil
}

// countLinks checks that the links of ns that `ip link show ARGS` lists
// that are ports (named vsbp*) are n: the figures are of n real ports.
func countLinks(ns string, n int, args ...string) error {
	out, err := sh("ip", append([]string{"-n", ns, "-o", "link", "show"}, args...)...)
	if err != nil {
		return err
	}
	got := strings.Count(out, ": vsbp")
	if got != n {
		return fmt.Errorf("%d ports in %s, want %d", got, ns, n)
	}
	return nil
}
