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

// The dhcp workload runs perfdhcp (Kea's benchmark, from kea-admin)
// against three DHCP servers, each on a topology of its own: perfdhcp in
// a client namespace acts as a relay agent (giaddr 10.240.0.2, sent from
// port 67), the server answers for 10.240.0.0/14 (262,000 addresses: the
// offers perfdhcp drops hold theirs until they lapse, and the memory
// figure wants 50,000 leases). vswitch serves on a `dhcp_relay: true`
// TAP port; dnsmasq (libvirt's server) and Kea (kea-dhcp4 with its
// memfile backend) in a namespace of their own on a veth. Every
// repetition starts a fresh server with no leases.
//
// Three runs (dhcpRates): 1000 DORA exchanges a second, as fast as
// perfdhcp goes (the max), and renewals. Each yields leases/s (ACKs
// perfdhcp received per second), the % of exchanges that did not end in
// an ACK, and the average delay of the REQUEST-ACK exchange; the renewal
// run the same of its renewals. dhcp-rss is the resident memory of the
// server process holding 50,000 leases, vswitch's and Kea's.

// dhcpServers are the servers measured, in order.
var dhcpServers = []string{"vswitch", "dnsmasq", "kea"}

// rssServers are the servers whose memory is measured: not dnsmasq, which
// rewrites its whole lease file on each change and so, at 100 to 200
// leases a second falling as the file grows, takes hours to 50,000.
var rssServers = []string{"vswitch", "kea"}

// dhcpRate is one perfdhcp run per repetition: its name in the figures
// and its arguments.
type dhcpRate struct {
	name string
	args []string
}

// dhcpRates: 1000 DORA exchanges a second; as fast as perfdhcp goes (no
// -r); and 500 a second with as many renewals (-f: REQUESTs of clients
// that hold a lease, the traffic of a settled network).
var dhcpRates = []dhcpRate{{"1000", []string{"-r", "1000"}}, {"max", nil}, {"renew", []string{"-r", "500", "-f", "500"}}}

const (
	dhcpClient = "vsbdc"  // perfdhcp's namespace
	dhcpServer = "vsbds"  // dnsmasq's and Kea's namespace
	dhcpDev    = "vsbdc0" // perfdhcp's interface
	dhcpGIAddr = "10.240.0.2"
	dhcpSrv    = "10.240.0.1"
	// dhcpClients is perfdhcp's -R: so many simulated clients that almost
	// every exchange is a new client, hence a new lease.
	dhcpClients = "10000000"
	rssLeases   = 50000
	rssSettle   = 10 * time.Second
)

// dhcpPeer is one running server.
type dhcpPeer struct {
	pid int
	// leases counts the leases the server holds.
	leases func() (int, error)
}

// dhcpTopo starts server with the client namespace in front of it.
func dhcpTopo(server, bin, work string, c *cleanup) (*dhcpPeer, error) {
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	if err := addNetns(c, dhcpClient); err != nil {
		return nil, err
	}
	nsExec(dhcpClient, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	if server == "vswitch" {
		cmd, err := runVswitch(bin, work, "dhcp", fmt.Sprintf(`ports:
  - {name: %s, type: tap, netns: %s, dhcp_relay: true}
networks:
  - name: lab
    address: %s/14
    dhcp: {range: 10.240.1.0-10.243.255.254, lease: 1h}
`, dhcpDev, dhcpClient, dhcpSrv), c)
		if err != nil {
			return nil, err
		}
		if err := waitLink(dhcpClient, dhcpDev); err != nil {
			return nil, err
		}
		nsExec(dhcpClient, "ip", "addr", "add", dhcpGIAddr+"/14", "dev", dhcpDev)
		nsExec(dhcpClient, "ip", "link", "set", dhcpDev, "up")
		// Counted in the lease file (one lease a line, replaced whole by
		// a rename), not by `show leases`: a 50,000-lease answer would
		// swell the very memory being measured.
		file := filepath.Join(work, "state", "leases.json")
		return &dhcpPeer{pid: cmd.Process.Pid, leases: func() (int, error) {
			return countLines(file, func(l string) bool { return strings.Contains(l, `"state":"bound"`) })
		}}, nil
	}

	if err := addNetns(c, dhcpServer); err != nil {
		return nil, err
	}
	if err := addVeth(c, "vsbdl", dhcpDev, dhcpClient); err != nil {
		return nil, err
	}
	sh("ip", "link", "set", "vsbdl", "netns", dhcpServer)
	nsExec(dhcpServer, "ip", "addr", "add", dhcpSrv+"/14", "dev", "vsbdl")
	nsExec(dhcpServer, "ip", "link", "set", "vsbdl", "up")
	nsExec(dhcpClient, "ip", "addr", "add", dhcpGIAddr+"/14", "dev", dhcpDev)
	nsExec(dhcpClient, "ip", "link", "set", dhcpDev, "up")
	// The kernel reports the link running a moment after both ends are
	// up; a server started before that may skip the interface for good
	// (Kea did, now and then, and never answered).
	if err := waitUp(dhcpServer, "vsbdl"); err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	var leases func() (int, error)
	switch server {
	case "dnsmasq":
		if _, err := exec.LookPath("dnsmasq"); err != nil {
			return nil, fmt.Errorf("dnsmasq is not installed (apt-get install dnsmasq-base)")
		}
		file := filepath.Join(work, "dnsmasq.leases")
		// No DNS (port 0), no ping before an offer (libvirt's default
		// pings; it would measure the ping's timeout), no log line per
		// message, a lease limit above the pool (the default is 1000).
		cmd = exec.Command("ip", "netns", "exec", dhcpServer, "dnsmasq", "-k", "--conf-file=/dev/null",
			"--port=0", "--no-ping", "--quiet-dhcp", "--bind-interfaces", "--interface=vsbdl", "--dhcp-lease-max=300000",
			"--dhcp-range=10.240.1.0,10.243.255.254,255.252.0.0,1h", "--dhcp-leasefile="+file,
			"--pid-file="+filepath.Join(work, "dnsmasq.pid"), "--log-facility="+filepath.Join(work, "dnsmasq.log"))
		leases = func() (int, error) { return countLines(file, nil) }
	case "kea":
		if _, err := exec.LookPath("kea-dhcp4"); err != nil {
			return nil, fmt.Errorf("Kea is not installed (apt-get install kea-dhcp4-server)")
		}
		file := filepath.Join(work, "kea.leases")
		cfg := fmt.Sprintf(`{"Dhcp4": {
  "interfaces-config": {"interfaces": ["vsbdl"], "dhcp-socket-type": "udp"},
  "lease-database": {"type": "memfile", "persist": true, "name": %q, "lfc-interval": 0},
  "valid-lifetime": 3600,
  "subnet4": [{"subnet": "10.240.0.0/14", "pools": [{"pool": "10.240.1.0 - 10.243.255.254"}]}],
  "loggers": [{"name": "kea-dhcp4", "severity": "WARN", "output_options": [{"output": %q}]}]
}}`, file, filepath.Join(work, "kea.log"))
		path := filepath.Join(work, "kea.json")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			return nil, err
		}
		cmd = exec.Command("ip", "netns", "exec", dhcpServer, "kea-dhcp4", "-c", path)
		// Kea's pid and lock files go to the work directory, not /run.
		cmd.Env = append(os.Environ(), "KEA_PIDFILE_DIR="+work, "KEA_LOCKFILE_DIR="+work)
		// The memfile is a CSV that each change appends to: count addresses.
		leases = func() (int, error) {
			seen := map[string]bool{}
			return countLines(file, func(l string) bool {
				ip, _, _ := strings.Cut(l, ",")
				if ip == "address" || seen[ip] {
					return false
				}
				seen[ip] = true
				return true
			})
		}
	default:
		return nil, fmt.Errorf("no DHCP server %q", server)
	}
	log, _ := os.Create(filepath.Join(work, server+".out"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	c.add(func() {
		cmd.Process.Kill()
		<-done
	})
	// ip netns exec execs the server: the PID is the server's.
	p := &dhcpPeer{pid: cmd.Process.Pid, leases: leases}
	// Ready when it answers a DISCOVER. (Not by the ACK: with one client,
	// perfdhcp 2.2 now and then misses Kea's ACK that Kea's log shows
	// sent 10 ms after the REQUEST.)
	var last string
	for i := 0; i < 50; i++ {
		select {
		case <-done:
			b, _ := os.ReadFile(filepath.Join(work, server+".out"))
			return nil, fmt.Errorf("%s exited at start: %s", server, b)
		default:
		}
		r, err := perfdhcp("-r", "10", "-n", "1", "-R", "1")
		if err == nil && r.do.received == 1 {
			return p, nil
		}
		last = fmt.Sprintf("%+v %v", r, err)
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("%s does not answer perfdhcp: %s", server, last)
}

// waitLink waits until dev exists in ns (vswitch made its TAP).
func waitLink(ns, dev string) error {
	for i := 0; i < 100; i++ {
		if _, err := nsExec(ns, "ip", "link", "show", dev); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not appear in %s", dev, ns)
}

// tapHost gives a host the TAP vswitch makes for it: once dev exists in
// ns, the address addr (a prefix) and the link up.
func tapHost(ns, dev, addr string) error {
	if err := waitLink(ns, dev); err != nil {
		return err
	}
	if _, err := nsExec(ns, "ip", "addr", "add", addr, "dev", dev); err != nil {
		return err
	}
	_, err := nsExec(ns, "ip", "link", "set", dev, "up")
	return err
}

// waitUp waits until dev in ns is operationally up (it has a carrier).
func waitUp(ns, dev string) error {
	for i := 0; i < 100; i++ {
		if out, err := nsExec(ns, "cat", "/sys/class/net/"+dev+"/operstate"); err == nil && strings.TrimSpace(out) == "up" {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s in %s is not up", dev, ns)
}

// countLines counts the lines of the file at path that keep accepts (nil:
// every non-empty line).
func countLines(path string, keep func(string) bool) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && (keep == nil || keep(l)) {
			n++
		}
	}
	return n, nil
}

// exchange is one of perfdhcp's exchange statistics.
type exchange struct {
	sent, received int
	delay          float64 // ms, average; 0 when nothing came back
}

// perfdhcpResult is one perfdhcp run's figures: DISCOVER-OFFER,
// REQUEST-ACK and, with -f, REQUEST-ACK of renewals.
type perfdhcpResult struct{ do, ra, renew exchange }

// perfdhcp runs perfdhcp in the client namespace as a relay agent
// against the server, with extra arguments (rate, duration).
func perfdhcp(extra ...string) (perfdhcpResult, error) {
	// -W: wait 0.5 s after the last request for the answers still due.
	args := append([]string{"-4", "-l", dhcpDev, "-W", "500000"}, extra...)
	out, err := nsExec(dhcpClient, "perfdhcp", append(args, dhcpSrv)...)
	// perfdhcp exits 3 when packets were dropped: judge by its report.
	r, perr := parsePerfdhcp(out)
	if perr != nil {
		if err != nil {
			return r, err
		}
		return r, perr
	}
	return r, nil
}

// parsePerfdhcp reads perfdhcp's final report: a block per exchange,
// "***Statistics for: DISCOVER-OFFER***", "REQUEST-ACK" and with -f
// "REQUEST-ACK (renewal)", each with "sent packets: N", "received
// packets: N" and "avg delay: X ms" ("n/a" when nothing came back).
func parsePerfdhcp(out string) (perfdhcpResult, error) {
	var r perfdhcpResult
	var cur *exchange
	blocks := 0
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if name, ok := strings.CutPrefix(l, "***Statistics for: "); ok {
			switch strings.TrimSuffix(name, "***") {
			case "DISCOVER-OFFER":
				cur = &r.do
			case "REQUEST-ACK":
				cur = &r.ra
			case "REQUEST-ACK (renewal)":
				cur = &r.renew
			default:
				cur = nil
			}
			blocks++
			continue
		}
		if cur == nil {
			continue
		}
		k, v, _ := strings.Cut(l, ": ")
		var err error
		switch {
		case k == "sent packets":
			cur.sent, err = strconv.Atoi(v)
		case k == "received packets":
			cur.received, err = strconv.Atoi(v)
		case k == "avg delay" && !strings.HasSuffix(v, "n/a"):
			cur.delay, err = strconv.ParseFloat(strings.TrimSuffix(v, " ms"), 64)
		}
		if err != nil {
			return r, fmt.Errorf("perfdhcp: %q: %v", l, err)
		}
	}
	if r.do.sent == 0 || blocks < 2 {
		return r, fmt.Errorf("perfdhcp report without both exchanges: %.300s", out)
	}
	return r, nil
}

// runDHCP measures each server at each rate, reps times.
func runDHCP(bin, work string, o options, rep *report, c *cleanup) {
	eachDHCPServer(rep, "dhcp", dhcpServers, func(server string) {
		for _, rt := range dhcpRates {
			test := "dhcp" + rt.name
			for r := 0; r < o.reps; r++ {
				fmt.Printf("[dhcp] %-8s %-8s rep %d/%d ... ", server, rt.name, r+1, o.reps)
				s, err := dhcpRun(server, bin, filepath.Join(work, server+"-dhcp"), rt, o.secs, c)
				c.run()
				report1(rep, server, test, s, err)
			}
		}
	})
}

// bestLadder are the rates dhcp-best tries, in order, DORA exchanges a
// second.
var bestLadder = []int{250, 500, 750, 1000, 1500, 2000, 3000, 4000}

// runDHCPBest finds, reps times, each server's highest rate on
// bestLadder with under 1 % of exchanges not ACKed, and reports the
// leases a second it served there (0: not even the first rate).
func runDHCPBest(bin, work string, o options, rep *report, c *cleanup) {
	eachDHCPServer(rep, "dhcp-best", dhcpServers, func(server string) {
		for r := 0; r < o.reps; r++ {
			fmt.Printf("[dhcp] %-8s best     rep %d/%d ... ", server, r+1, o.reps)
			best, err := bestRate(bestLadder, func(rate int) (leases, drops float64, err error) {
				s, err := dhcpRun(server, bin, filepath.Join(work, server+"-best"), dhcpRate{"1000", []string{"-r", strconv.Itoa(rate)}}, o.secs, c)
				c.run()
				fmt.Printf("%d/s: %.2g %% ", rate, s["dhcp1000-drops"])
				return s["dhcp1000-leases"], s["dhcp1000-drops"], err
			})
			report1(rep, server, "dhcp-best", sample{"dhcp-best": best}, err)
		}
	})
}

// bestRate tries each rate of ladder until one has 1 % drops or more,
// and returns the leases a second of the last rate under 1 %.
func bestRate(ladder []int, measure func(rate int) (leases, drops float64, err error)) (float64, error) {
	best := 0.0
	for _, rate := range ladder {
		leases, drops, err := measure(rate)
		if err != nil {
			return 0, err
		}
		if drops >= 1 {
			break
		}
		best = leases
	}
	return best, nil
}

// runDHCPRSS measures each server's memory at rssLeases leases.
func runDHCPRSS(bin, work string, o options, rep *report, c *cleanup) {
	eachDHCPServer(rep, "dhcp-rss", rssServers, func(server string) {
		fmt.Printf("[dhcp] %-8s RSS at %d leases ... ", server, rssLeases)
		s, err := dhcpRSS(server, bin, filepath.Join(work, server+"-rss"), c)
		c.run()
		report1(rep, server, "dhcp-rss", s, err)
	})
}

// eachDHCPServer calls f for each of servers, or fails test for all when
// perfdhcp is missing.
func eachDHCPServer(rep *report, test string, servers []string, f func(server string)) {
	if _, err := exec.LookPath("perfdhcp"); err != nil {
		for _, s := range servers {
			rep.fail(s, test, fmt.Errorf("perfdhcp is not installed (apt-get install kea-admin)"))
		}
		return
	}
	rep.versions["dnsmasq"] = firstLine("dnsmasq", "--version")
	rep.versions["kea"] = "kea-dhcp4 " + firstLine("kea-dhcp4", "-v")
	for _, s := range servers {
		f(s)
	}
}

// report1 prints and records one repetition's sample or failure.
func report1(rep *report, server, test string, s sample, err error) {
	if err != nil {
		fmt.Println("failed:", err)
		rep.fail(server, test, err)
		return
	}
	fmt.Println(formatSample(s))
	rep.add(server, s, nil)
}

func firstLine(name string, args ...string) string {
	out, _ := sh(name, args...)
	return strings.SplitN(strings.TrimSpace(out), "\n", 2)[0]
}

// dhcpRun is one repetition: a fresh server, perfdhcp with rt's
// arguments for secs.
func dhcpRun(server, bin, work string, rt dhcpRate, secs int, c *cleanup) (sample, error) {
	os.RemoveAll(work)
	if _, err := dhcpTopo(server, bin, work, c); err != nil {
		return nil, err
	}
	r, err := perfdhcp(append([]string{"-R", dhcpClients, "-p", strconv.Itoa(secs)}, rt.args...)...)
	if err != nil {
		return nil, err
	}
	name := "dhcp" + rt.name
	if rt.name == "renew" {
		if r.renew.sent == 0 {
			return nil, fmt.Errorf("perfdhcp sent no renewals")
		}
		return sample{
			name + "-renewals": float64(r.renew.received) / float64(secs),
			name + "-drops":    100 * float64(r.renew.sent-r.renew.received) / float64(r.renew.sent),
			name + "-delay":    r.renew.delay,
		}, nil
	}
	return sample{
		name + "-leases": float64(r.ra.received) / float64(secs),
		name + "-drops":  100 * float64(r.do.sent-r.ra.received) / float64(r.do.sent),
		name + "-delay":  r.ra.delay,
	}, nil
}

// dhcpRSS fills a fresh server with rssLeases leases (perfdhcp at 1000/s
// until the server holds them) and reads the resident memory of its
// process then, after rssSettle idle, and at start; the difference per
// lease is the cost of a lease.
func dhcpRSS(server, bin, work string, c *cleanup) (sample, error) {
	os.RemoveAll(work)
	p, err := dhcpTopo(server, bin, work, c)
	if err != nil {
		return nil, err
	}
	rss0, err := rssKB(p.pid)
	if err != nil {
		return nil, err
	}
	held := 0
	for tries := 0; held < rssLeases; tries++ {
		if tries == 200 {
			return nil, fmt.Errorf("only %d leases after %d runs of perfdhcp", held, tries)
		}
		// perfdhcp counts its clients' MACs up from a base: each run's
		// clients are new when each run has a base of its own.
		n := min(rssLeases-held, 10000)
		base := fmt.Sprintf("mac=00:0c:%02x:00:00:00", tries)
		if _, err := perfdhcp("-b", base, "-R", dhcpClients, "-r", "1000", "-n", strconv.Itoa(n)); err != nil {
			return nil, err
		}
		if held, err = stableCount(p.leases); err != nil {
			return nil, err
		}
	}
	// Idle a moment first: a garbage-collected heap gives pages back to
	// the system some time after the work that needed them.
	time.Sleep(rssSettle)
	rss, err := rssKB(p.pid)
	if err != nil {
		return nil, err
	}
	return sample{"dhcp-rss": rss / 1024, "dhcp-rss-per-lease": (rss - rss0) * 1024 / float64(held)}, nil
}

// stableCount calls count until two calls in a row agree: dnsmasq
// rewrites its lease file in place, so a read during a write comes short.
func stableCount(count func() (int, error)) (int, error) {
	last := -1
	for i := 0; i < 50; i++ {
		n, err := count()
		if err != nil {
			return 0, err
		}
		if n == last {
			return n, nil
		}
		last = n
		time.Sleep(200 * time.Millisecond)
	}
	return 0, fmt.Errorf("the lease count does not settle (last %d)", last)
}

// rssKB reads the resident set of a process we started (VmRSS, kB).
func rssKB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}
