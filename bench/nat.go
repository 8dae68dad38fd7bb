package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// The nat workload has its own topology: an inside host (10.251.0.2,
// default route via 10.251.0.1), the NAT, and an outside host (10.250.9.1)
// whose iperf3 server sees the NAT's outside address 10.250.9.5. vswitch
// does it with a nat network and an uplink on a veth; the kernel with a
// router namespace holding a bridge, ip_forward and an nftables
// masquerade rule, the way libvirt sets up virbr0.

func natSupported(name string) bool {
	return name == "vswitch" || name == "vswitch-1cpu" || name == "linux-bridge"
}

// natTopo builds the topology through sw and returns the inside and
// outside namespaces and the switch's processes (for CPU).
func natTopo(sw string, bin, work string, c *cleanup) (inside, outside string, pids []int, err error) {
	inside, outside = "vsbn1", "vsbn2"
	for _, ns := range []string{inside, outside} {
		if err := addNetns(c, ns); err != nil {
			return "", "", nil, err
		}
	}
	// The outside link: vsbnu (NAT side) <-> vsbno (outside host).
	if err := addVeth(c, "vsbnu", "vsbno", outside); err != nil {
		return "", "", nil, err
	}
	nsExec(outside, "ip", "addr", "add", "10.250.9.1/24", "dev", "vsbno")
	nsExec(outside, "ip", "link", "set", "vsbno", "up")
	switch sw {
	case "vswitch", "vswitch-1cpu":
		sh("ip", "link", "set", "vsbnu", "up")
		os.MkdirAll(work, 0o755)
		cmd, err := runVswitch(bin, work, "nat", cpus(sw)+fmt.Sprintf(`ports:
  - {name: vsbni, type: tap, netns: %s}
networks:
  - {name: lab, address: 10.251.0.1/24, mode: nat, uplink: wan}
uplinks:
  - {name: wan, device: vsbnu, address: 10.250.9.5/24, gateway: 10.250.9.1}
`, inside), c)
		if err != nil {
			return "", "", nil, err
		}
		pids = []int{cmd.Process.Pid}
		if err := tapHost(inside, "vsbni", "10.251.0.2/24"); err != nil {
			return "", "", nil, err
		}
	case "linux-bridge":
		if _, err := exec.LookPath("nft"); err != nil {
			return "", "", nil, fmt.Errorf("nftables is not installed (apt-get install nftables)")
		}
		r := "vsbnr"
		if err := addNetns(c, r); err != nil {
			return "", "", nil, err
		}
		sh("ip", "link", "set", "vsbnu", "netns", r)
		nsExec(r, "ip", "addr", "add", "10.250.9.5/24", "dev", "vsbnu")
		nsExec(r, "ip", "link", "set", "vsbnu", "up")
		nsExec(r, "ip", "link", "add", "vsbnbr", "type", "bridge")
		nsExec(r, "ip", "addr", "add", "10.251.0.1/24", "dev", "vsbnbr")
		nsExec(r, "ip", "link", "set", "vsbnbr", "up")
		if _, err := sh("ip", "link", "add", "vsbnh", "type", "veth", "peer", "name", "vsbni"); err != nil {
			return "", "", nil, err
		}
		sh("ip", "link", "set", "vsbnh", "netns", r)
		sh("ip", "link", "set", "vsbni", "netns", inside)
		nsExec(r, "ip", "link", "set", "vsbnh", "master", "vsbnbr")
		nsExec(r, "ip", "link", "set", "vsbnh", "up")
		nsExec(inside, "ip", "addr", "add", "10.251.0.2/24", "dev", "vsbni")
		nsExec(inside, "ip", "link", "set", "vsbni", "up")
		nsExec(r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		rules := `table ip vsbnat {
  chain vsbpost {
    type nat hook postrouting priority srcnat;
    oifname "vsbnu" masquerade
  }
  chain vsbforward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "vsbnbr" accept
  }
}
`
		cmd := exec.Command("ip", "netns", "exec", r, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", nil, fmt.Errorf("nft: %v: %s", err, out)
		}
	default:
		return "", "", nil, fmt.Errorf("no NAT for %s", sw)
	}
	nsExec(inside, "ip", "route", "add", "default", "via", "10.251.0.1")
	for i := 0; i < 50; i++ {
		if _, err := nsExec(inside, "ping", "-c", "1", "-W", "1", "10.250.9.1"); err == nil {
			return inside, outside, pids, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", "", nil, fmt.Errorf("the inside host cannot reach the outside through the NAT")
}

// runNAT measures TCP through the NAT, and the request/response latency
// of a connection through it (nat-rr, as rr), reps times.
func runNAT(sw, bin, work, self string, o options, rep *report, progress func(string)) {
	var c cleanup
	defer c.run()
	inside, outside, pids, err := natTopo(sw, bin, work, &c)
	if err != nil {
		fmt.Printf("%-13s nat    cannot set up: %v\n", sw, err)
		rep.fail(sw, "nat", err)
		return
	}
	t := &topo{h1: inside, h2: outside}
	for r := 0; r < o.reps; r++ {
		progress(fmt.Sprintf("%-13s %-6s rep %d/%d ... ", sw, "nat", r+1, o.reps))
		c0 := cpuTicks(pids)
		res, err := iperfTo(t, "10.250.9.1", o.secs)
		if err != nil {
			fmt.Println("failed:", err)
			rep.fail(sw, "nat", err)
			continue
		}
		s := sample{"nat": num(res, "end", "sum_received", "bits_per_second") / 1e9}
		if b := num(res, "end", "sum_received", "bytes"); len(pids) > 0 && b > 0 {
			s["nat-cpu-per-gb"] = (cpuTicks(pids) - c0) / (b / 1e9)
		}
		r, err := rrBetween(self, inside, outside, "10.250.9.1:7007", o.secs)
		if err != nil {
			fmt.Println("failed:", err)
			rep.fail(sw, "nat", err)
			continue
		}
		s["nat-rr-p50"], s["nat-rr-p99"] = r.P50, r.P99
		fmt.Println(formatSample(s))
		rep.add(sw, s, nil)
	}
}
