package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The vxlan workload has its own topology: two underlay namespaces joined
// by a veth (10.250.8.1 and 10.250.8.2), a Linux vxlan device (VNI 1010)
// on the far underlay moved into host h2 (10.252.0.2), and on the near
// side either vswitch (a TAP host h1 on VLAN 10, a vxlan port mapping it
// to VNI 1010) or a second Linux vxlan device moved into h1 (10.252.0.1).
// Both runs share the underlay and the far end, so the figures compare
// vswitch's tunnel end with the kernel's, in the same run.
//
// The far underlay veth has transmit checksumming off in both runs: a
// veth hands the receiving socket a datagram whose inner TCP checksum is
// still partial (a NIC would have finished it), which a userspace VTEP
// cannot tell from a bad one.

// vxlanSides are the near ends measured, in order; the figures are
// reported under these names.
var vxlanSides = []string{"vswitch", "linux-vxlan"}

// vxlanTopo builds the topology with near as the near end and returns the
// two hosts and the near end's processes (for CPU).
func vxlanTopo(near, bin, work string, c *cleanup) (h1, h2 string, pids []int, err error) {
	u1, u2, h1, h2 := "vsbxu1", "vsbxu2", "vsbxh1", "vsbxh2"
	for _, ns := range []string{u1, u2, h1, h2} {
		if err := addNetns(c, ns); err != nil {
			return "", "", nil, err
		}
		nsExec(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	}
	if err := addVeth(c, "vsbxa", "vsbxb", u2); err != nil {
		return "", "", nil, err
	}
	sh("ip", "link", "set", "vsbxa", "netns", u1)
	for _, u := range []struct{ ns, dev, addr string }{{u1, "vsbxa", "10.250.8.1/24"}, {u2, "vsbxb", "10.250.8.2/24"}} {
		if _, err := nsExec(u.ns, "ip", "addr", "add", u.addr, "dev", u.dev); err != nil {
			return "", "", nil, err
		}
		nsExec(u.ns, "ip", "link", "set", u.dev, "up")
	}
	if _, err := nsExec(u2, "ethtool", "-K", "vsbxb", "tx", "off"); err != nil {
		return "", "", nil, fmt.Errorf("ethtool (apt-get install ethtool): %w", err)
	}
	// linuxVTEP makes a vxlan device on underlay ns, moves it into host and
	// gives it addr.
	linuxVTEP := func(ns, dev, local, remote, host, addr string) error {
		if _, err := nsExec(ns, "ip", "link", "add", "vsbxv", "type", "vxlan", "id", "1010", "local", local,
			"remote", remote, "dstport", "4789", "dev", dev); err != nil {
			return err
		}
		nsExec(ns, "ip", "link", "set", "vsbxv", "netns", host)
		nsExec(host, "ip", "addr", "add", addr, "dev", "vsbxv")
		_, err := nsExec(host, "ip", "link", "set", "vsbxv", "up")
		return err
	}
	if err := linuxVTEP(u2, "vsbxb", "10.250.8.2", "10.250.8.1", h2, "10.252.0.2/24"); err != nil {
		return "", "", nil, err
	}
	switch near {
	case "vswitch":
		os.MkdirAll(work, 0o755)
		cmd, err := runVswitch(bin, work, "vxlan", fmt.Sprintf(`ports:
  - {name: vsbxt, type: tap, netns: %s, vlan: 10, mtu: 1450}
  - {name: vx, type: vxlan, netns: %s, local: 10.250.8.1, vnis: {10: 1010}, remotes: [10.250.8.2]}
`, h1, u1), c)
		if err != nil {
			return "", "", nil, err
		}
		pids = []int{cmd.Process.Pid}
		if err := tapHost(h1, "vsbxt", "10.252.0.1/24"); err != nil {
			return "", "", nil, err
		}
	case "linux-vxlan":
		if err := linuxVTEP(u1, "vsbxa", "10.250.8.1", "10.250.8.2", h1, "10.252.0.1/24"); err != nil {
			return "", "", nil, err
		}
	default:
		return "", "", nil, fmt.Errorf("no VXLAN end %q", near)
	}
	for i := 0; i < 50; i++ {
		if _, err := nsExec(h1, "ping", "-c", "1", "-W", "1", "10.252.0.2"); err == nil {
			return h1, h2, pids, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", "", nil, fmt.Errorf("h1 cannot reach h2 across the tunnel")
}

// runVXLAN measures TCP across the tunnel in both directions, reps times,
// for each near end; c undoes each end's topology before the next.
func runVXLAN(bin, work string, o options, rep *report, c *cleanup) {
	if _, ok := rep.versions["linux-vxlan"]; !ok {
		rep.versions["linux-vxlan"] = bridgePeer{}.version()
	}
	for _, near := range vxlanSides {
		measureVXLAN(near, bin, filepath.Join(work, near+"-vxlan"), o, rep, c)
		c.run()
	}
}

func measureVXLAN(near, bin, work string, o options, rep *report, c *cleanup) {
	h1, h2, pids, err := vxlanTopo(near, bin, work, c)
	if err != nil {
		fmt.Printf("%-13s vxlan  cannot set up: %v\n", near, err)
		rep.fail(near, "vxlan", err)
		return
	}
	for r := 0; r < o.reps; r++ {
		fmt.Printf("[vxlan] %-13s rep %d/%d ... ", near, r+1, o.reps)
		c0 := cpuTicks(pids)
		res, err := iperfBetween(h1, h2, "10.252.0.2", o.secs)
		if err != nil {
			fmt.Println("failed:", err)
			rep.fail(near, "vxlan", err)
			continue
		}
		s := sample{"vxlan": num(res, "end", "sum_received", "bits_per_second") / 1e9}
		if b := num(res, "end", "sum_received", "bytes"); len(pids) > 0 && b > 0 {
			s["vxlan-cpu-per-gb"] = (cpuTicks(pids) - c0) / (b / 1e9)
		}
		rev, err := iperfBetween(h1, h2, "10.252.0.2", o.secs, "-R")
		if err != nil {
			fmt.Println("failed:", err)
			rep.fail(near, "vxlan-rev", err)
			continue
		}
		s["vxlan-rev"] = num(rev, "end", "sum_received", "bits_per_second") / 1e9
		fmt.Println(formatSample(s))
		rep.add(near, s, nil)
	}
}
