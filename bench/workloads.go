package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// sample is one measurement of one test (some tests yield two figures).
type sample map[string]float64

// testUnits are the units of each reported figure.
var testUnits = map[string]string{
	"tcp": "Gbit/s", "tcp-rev": "Gbit/s", "tcp4": "Gbit/s", "udp64": "kpps", "udp64-loss": "%",
	"udp64-delivered": "kpps", "udp64-rcvbuf-loss": "%",
	"rr-p50": "us", "rr-p99": "us", "nat-rr-p50": "us", "nat-rr-p99": "us", "cpu-per-gb": "CPU s/GB",
	"nat": "Gbit/s", "nat-cpu-per-gb": "CPU s/GB", "mesh4": "Gbit/s",
	"vxlan": "Gbit/s", "vxlan-rev": "Gbit/s", "vxlan-cpu-per-gb": "CPU s/GB",
	"dhcp1000-leases": "leases/s", "dhcp1000-drops": "%", "dhcp1000-delay": "ms",
	"dhcpmax-leases": "leases/s", "dhcpmax-drops": "%", "dhcpmax-delay": "ms",
	"dhcprenew-renewals": "renewals/s", "dhcprenew-drops": "%", "dhcprenew-delay": "ms",
	"dhcp-best": "leases/s", "dhcp-rss": "MiB", "dhcp-rss-per-lease": "B/lease",
}

// separate are the workloads with a topology and peers of their own: each
// runs once, after the switches, and reports under its own peers' names;
// c undoes what it made.
var separate = map[string]func(bin, work string, o options, rep *report, c *cleanup){
	"vxlan": runVXLAN, "dhcp": runDHCP, "dhcp-best": runDHCPBest, "dhcp-rss": runDHCPRSS,
	"ports": idlePortsWorkload("ports"), "ports-v6": idlePortsWorkload("ports-v6"), "ports-v6-gw": idlePortsWorkload("ports-v6-gw"),
	"ports-v6-q": idlePortsWorkload("ports-v6-q"), "ports-peers": runPortsPeers,
	"rootless": func(bin, work string, o options, rep *report, _ *cleanup) {
		runRootless(bin, filepath.Join(work, "rootless"), o, rep) // usernet.go
	},
}

// iperf runs an iperf3 client in h1 against a one-shot server in h2 and
// returns the parsed JSON. iperf3 3.12 exits 0 on "connection refused"
// with -J, so the JSON's error field is checked.
func iperf(t *topo, secs int, extra ...string) (map[string]any, error) {
	return iperfTo(t, "10.250.0.2", secs, extra...)
}

// iperfTo is iperf against a server address in h2.
func iperfTo(t *topo, addr string, secs int, extra ...string) (map[string]any, error) {
	return iperfBetween(t.h1, t.h2, addr, secs, extra...)
}

// iperfBetween runs an iperf3 client in ns against a one-shot server at
// addr in srvNS.
func iperfBetween(ns, srvNS, addr string, secs int, extra ...string) (map[string]any, error) {
	srv := exec.Command("ip", "netns", "exec", srvNS, "iperf3", "-s", "-1", "-B", addr)
	if err := srv.Start(); err != nil {
		return nil, err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	var last error
	for try := 0; try < 30; try++ {
		args := append([]string{"-c", addr, "-t", strconv.Itoa(secs), "-J"}, extra...)
		out, _ := nsExec(ns, "iperf3", args...)
		var res map[string]any
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			last = fmt.Errorf("iperf3 output is not JSON: %.200s", out)
		} else if e, _ := res["error"].(string); e != "" {
			last = fmt.Errorf("iperf3: %s", e)
			if strings.Contains(e, "refused") {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			return nil, last
		} else {
			return res, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, last
}

func num(m map[string]any, path ...string) float64 {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return 0
		}
		cur = mm[p]
	}
	f, _ := cur.(float64)
	return f
}

// cpuTicks sums user+system clock ticks of pids (/proc/PID/stat).
func cpuTicks(pids []int) float64 {
	var sum float64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
		if len(f) > 12 {
			u, _ := strconv.ParseFloat(f[11], 64)
			st, _ := strconv.ParseFloat(f[12], 64)
			sum += u + st
		}
	}
	return sum / 100 // USER_HZ
}

// runTest runs one repetition of a test through the topology.
func runTest(test string, t *topo, p peer, secs int, self string) (sample, []float64, error) {
	switch test {
	case "tcp", "tcp4":
		extra := []string{}
		if test == "tcp4" {
			extra = append(extra, "-P", "4")
		}
		c0 := cpuTicks(p.pids())
		res, err := iperf(t, secs, extra...)
		if err != nil {
			return nil, nil, err
		}
		bps := num(res, "end", "sum_received", "bits_per_second")
		bytes := num(res, "end", "sum_received", "bytes")
		if bps <= 0 {
			return nil, nil, fmt.Errorf("iperf3 reported no throughput")
		}
		s := sample{test: bps / 1e9}
		if test == "tcp" && len(p.pids()) > 0 && bytes > 0 {
			s["cpu-per-gb"] = (cpuTicks(p.pids()) - c0) / (bytes / 1e9)
		}
		if test == "tcp" {
			// The other direction too (h2 sends): a switch may differ.
			rev, err := iperf(t, secs, "-R")
			if err != nil {
				return nil, nil, err
			}
			if v := num(rev, "end", "sum_received", "bits_per_second"); v > 0 {
				s["tcp-rev"] = v / 1e9
			}
		}
		return s, nil, nil
	case "udp64":
		// Where the lost ones went: past the switch (the receiving host's
		// interface counts what the switch delivered) but not into the
		// receiving socket, whose buffer was full, or before.
		rxPackets := "/sys/class/net/" + t.dev2 + "/statistics/rx_packets"
		rx0, full0 := counter(t.h2, rxPackets), udpRcvbufErrors(t.h2)
		res, err := iperf(t, secs, "-u", "-l", "64", "-b", "0")
		if err != nil {
			return nil, nil, err
		}
		rx, full := counter(t.h2, rxPackets)-rx0, udpRcvbufErrors(t.h2)-full0
		pk, lost, sec := num(res, "end", "sum", "packets"), num(res, "end", "sum", "lost_packets"), num(res, "end", "sum", "seconds")
		if pk <= 0 || sec <= 0 {
			return nil, nil, fmt.Errorf("iperf3 UDP reported no packets")
		}
		return sample{"udp64": (pk - lost) / sec / 1e3, "udp64-loss": 100 * lost / pk,
			"udp64-delivered": rx / sec / 1e3, "udp64-rcvbuf-loss": 100 * full / pk}, nil, nil
	case "mesh4":
		// Many to many: h1 -> h2 and h3 -> h4 at once, summed.
		type res struct {
			bps float64
			err error
		}
		ch := make(chan res, 2)
		for _, pr := range [][2]int{{0, 1}, {2, 3}} {
			go func() {
				r, err := iperfBetween(t.hosts[pr[0]], t.hosts[pr[1]], fmt.Sprintf("10.250.0.%d", pr[1]+1), secs)
				if err != nil {
					ch <- res{err: err}
					return
				}
				ch <- res{bps: num(r, "end", "sum_received", "bits_per_second")}
			}()
		}
		var sum float64
		for range 2 {
			r := <-ch
			if r.err != nil {
				return nil, nil, r.err
			}
			sum += r.bps
		}
		return sample{"mesh4": sum / 1e9}, nil, nil
	case "rr":
		r, err := rrBetween(self, t.h1, t.h2, "10.250.0.2:7007", secs)
		if err != nil {
			return nil, nil, err
		}
		return sample{"rr-p50": r.P50, "rr-p99": r.P99}, r.CDF, nil
	}
	return nil, nil, fmt.Errorf("unknown test %q (tcp, tcp4, udp64, rr)", test)
}

// counter reads a number from a file inside namespace ns (a sysfs
// statistic: ip netns exec mounts the namespace's own sysfs); 0 if it
// cannot.
func counter(ns, path string) float64 {
	out, err := nsExec(ns, "cat", path)
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseFloat(strings.TrimSpace(out), 64)
	return v
}

// udpRcvbufErrors is namespace ns's count of UDP datagrams dropped
// because the receiving socket's buffer was full.
func udpRcvbufErrors(ns string) float64 {
	out, _ := nsExec(ns, "cat", "/proc/net/snmp")
	return snmp(out, "Udp", "RcvbufErrors")
}

// snmp reads one counter from /proc/net/snmp's text: each protocol has a
// line of names and then a line of values; 0 if it is not there.
func snmp(text, proto, name string) float64 {
	var names []string
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != proto+":" {
			continue
		}
		if names == nil {
			names = f[1:]
			continue
		}
		for i, n := range names {
			if n == name && i+1 < len(f) {
				v, _ := strconv.ParseFloat(f[i+1], 64)
				return v
			}
		}
		return 0
	}
	return 0
}
