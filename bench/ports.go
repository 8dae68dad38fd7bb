package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The ports workloads measure what idle ports cost: vswitch with N TAP
// ports and no traffic of its own, in a namespace of its own. Each count
// gives three figures: start-up (process start until the control API
// answers, which it does once every port is up), RSS and CPU while idle.
// "ports" turns IPv6 off on the new devices (the cost of the ports
// themselves); "ports-v6" keeps the kernel's defaults, so each host side
// sends its IPv6 start-up multicast (DAD, router and MLD solicitations)
// through the switch. vswitch only; ports-peers (ports_peers.go) measures
// the Linux bridge and OVS with the same ports.

// portCounts are the port counts measured.
func portCounts(o options) []int {
	if o.quick {
		return []int{10, 100}
	}
	return []int{10, 100, 1000}
}

// idlePortsWorkload is a ports workload for separate: test is "ports"
// (IPv6 off), "ports-v6" (the kernel's defaults, no network: nobody is
// the multicast querier, so the switch floods as the Linux bridge does
// without one) or "ports-v6-gw" (as ports-v6 with a network on the VLAN:
// its gateway is the querier and snooping holds from the first frame) or
// "ports-v6-q" (as ports-v6 with multicast_querier: true: the switch is the
// querier of the VLAN with no network).
func idlePortsWorkload(test string) func(bin, work string, o options, rep *report, c *cleanup) {
	v6, gw, q := test != "ports", test == "ports-v6-gw", test == "ports-v6-q"
	return func(bin, work string, o options, rep *report, _ *cleanup) {
		for _, n := range portCounts(o) {
			for r := 0; r < o.reps; r++ {
				fmt.Printf("vswitch       %s %d ports rep %d/%d ... ", test, n, r+1, o.reps)
				s, err := idlePorts(bin, filepath.Join(work, test), n, v6, gw, q, o.quick)
				if err != nil {
					fmt.Println("failed:", err)
					rep.fail("vswitch", fmt.Sprintf("%s %d", test, n), err)
					continue
				}
				fmt.Println(formatSample(s))
				rep.add("vswitch", s, nil)
			}
		}
	}
}

// idlePorts starts vswitch with n TAP ports in a fresh namespace and
// measures it; gw adds a network on the ports' VLAN, q the switch's
// querier.
func idlePorts(bin, work string, n int, v6, gw, q, quick bool) (sample, error) {
	var c cleanup
	defer c.run()
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	ns := fmt.Sprintf("vsbp%d", os.Getpid())
	if err := addNetns(&c, ns); err != nil {
		return nil, err
	}
	if !v6 {
		if _, err := nsExec(ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1", "net.ipv6.conf.all.disable_ipv6=1"); err != nil {
			return nil, err
		}
	}
	sock := filepath.Join(work, "ports.sock")
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "control: %s\nstate_dir: %s\nmetrics: \"\"\nmulticast_querier: %v\nports:\n", sock, filepath.Join(work, "state"), q)
	for i := range n {
		fmt.Fprintf(&cfg, "  - {name: vsbp%d, type: tap}\n", i)
	}
	if gw {
		cfg.WriteString("networks:\n  - {name: lab, address: 10.99.0.1/16}\n")
	}
	path := filepath.Join(work, "ports.yaml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o644); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(work, "ports.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	// ip netns exec execs vswitch in place: the pid is vswitch's.
	cmd := exec.Command("ip", "netns", "exec", ns, bin, "run", "-c", path, "-log-level", "warn")
	cmd.Stdout, cmd.Stderr = log, log
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	c.add(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(2 * time.Minute): // a thousand devices take a while to go
			cmd.Process.Kill()
			<-exited
		}
	})
	if err := waitHealthy(sock, exited, 5*time.Minute); err != nil {
		return nil, fmt.Errorf("%w (see %s)", err, log.Name())
	}
	up := time.Since(start)
	settle, window := 5*time.Second, 5*time.Second
	if quick {
		settle, window = time.Second, 2*time.Second
	}
	time.Sleep(settle)
	pids := []int{cmd.Process.Pid}
	c0 := cpuTicks(pids)
	time.Sleep(window)
	idle := (cpuTicks(pids) - c0) / window.Seconds() * 100
	rss, err := rssKB(cmd.Process.Pid) // dhcp.go
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("ports%d", n)
	if v6 {
		name += "-v6"
	}
	if gw {
		name += "-gw"
	}
	if q {
		name += "-q"
	}
	testUnits[name+"-start"], testUnits[name+"-rss"], testUnits[name+"-idle-cpu"] = "s", "MiB", "% of a core"
	return sample{name + "-start": up.Seconds(), name + "-rss": rss / 1024, name + "-idle-cpu": idle}, nil
}

// waitHealthy polls the control API's /healthz until it answers.
func waitHealthy(sock string, exited <-chan struct{}, limit time.Duration) error {
	cl := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("vswitch exited during start-up")
		default:
		}
		if resp, err := cl.Get("http://vswitch/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("vswitch not up after %v", limit)
}
