package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// The rootless workload: a guest namespace reaches an iperf3 server on a
// host namespace's own address (10.252.0.1, on its loopback) through a
// user-mode network stack running in the host namespace: vswitch's user
// uplink (a TAP port, MTU 1500), slirp4netns and pasta, each at MTU 1500
// and at the 65520 RootlessKit uses. The guest sends (rootless) and
// receives (rootless-rev); CPU is the stack process's.

const rootlessServer = "10.252.0.1"

// rootlessPeer sets up one stack between host and guest and returns its
// process.
type rootlessPeer struct {
	name  string
	setup func(c *cleanup, host, guest, work, bin string) (*exec.Cmd, error)
}

var rootlessPeers = []rootlessPeer{
	{"vswitch-user", rootlessVswitch},
	{"slirp4netns", slirp(1500)},
	{"slirp4netns-65520", slirp(65520)},
	{"pasta-1500", pasta(1500)},
	{"pasta", pasta(65520)},
}

// startIn starts a command in ns, logging to work/name.log; c kills it.
func startIn(c *cleanup, ns, work, name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	log, _ := os.Create(filepath.Join(work, name+".log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c.add(func() { cmd.Process.Kill(); cmd.Wait(); log.Close() })
	return cmd, nil
}

func rootlessVswitch(c *cleanup, host, guest, work, bin string) (*exec.Cmd, error) {
	path := filepath.Join(work, "vswitch.yaml")
	os.WriteFile(path, []byte(fmt.Sprintf(`control: %s
state_dir: %s
metrics: ""
ports:
  - {name: vsbrt, type: tap, netns: %s}
networks:
  - {name: lab, address: 10.253.0.1/24, mode: nat, uplink: host}
uplinks:
  - {name: host, type: user}
`, filepath.Join(work, "vswitch.sock"), filepath.Join(work, "state"), guest)), 0o644)
	cmd, err := startIn(c, host, work, "vswitch", bin, "run", "-c", path, "-log-level", "warn")
	if err != nil {
		return nil, err
	}
	if err := tapHost(guest, "vsbrt", "10.253.0.2/24"); err != nil {
		return cmd, err
	}
	_, err = nsExec(guest, "ip", "route", "add", "default", "via", "10.253.0.1")
	return cmd, err
}

func slirp(mtu int) func(c *cleanup, host, guest, work, bin string) (*exec.Cmd, error) {
	return func(c *cleanup, host, guest, work, _ string) (*exec.Cmd, error) {
		if _, err := exec.LookPath("slirp4netns"); err != nil {
			return nil, fmt.Errorf("slirp4netns is not installed (apt-get install slirp4netns)")
		}
		return startIn(c, host, work, "slirp4netns", "slirp4netns", "--configure", fmt.Sprintf("--mtu=%d", mtu),
			"--netns-type=path", "/run/netns/"+guest, "tap0")
	}
}

// pasta copies the host's routable interface into the guest: the host
// namespace gets one (a veth with a default route) for it to copy.
func pasta(mtu int) func(c *cleanup, host, guest, work, bin string) (*exec.Cmd, error) {
	return func(c *cleanup, host, guest, work, _ string) (*exec.Cmd, error) {
		if _, err := exec.LookPath("pasta"); err != nil {
			return nil, fmt.Errorf("pasta is not installed (apt-get install passt)")
		}
		nsExec(host, "ip", "link", "add", "vsbrd0", "type", "veth", "peer", "name", "vsbrd1")
		nsExec(host, "ip", "addr", "add", "10.252.1.1/24", "dev", "vsbrd0")
		nsExec(host, "ip", "link", "set", "vsbrd0", "up")
		nsExec(host, "ip", "link", "set", "vsbrd1", "up")
		nsExec(host, "ip", "route", "add", "default", "via", "10.252.1.2")
		// As root, pasta would switch to nobody and lose the namespaces.
		return startIn(c, host, work, "pasta", "pasta", "--config-net", "-f", "--runas", "0:0", "--netns-only",
			"--mtu", fmt.Sprint(mtu), "--netns", "/run/netns/"+guest)
	}
}

// runRootless measures each rootless peer, o.reps times each way.
func runRootless(bin, work string, o options, rep *report) {
	testUnits["rootless"], testUnits["rootless-rev"], testUnits["rootless-cpu-per-gb"] = "Gbit/s", "Gbit/s", "CPU s/GB"
	for _, p := range rootlessPeers {
		rootlessOne(p, bin, filepath.Join(work, p.name), o, rep)
	}
}

func rootlessOne(p rootlessPeer, bin, work string, o options, rep *report) {
	var c cleanup
	defer c.run()
	host, guest := "vsbrh", "vsbrg"
	os.MkdirAll(work, 0o755)
	err := addNetns(&c, host)
	if err == nil {
		err = addNetns(&c, guest)
	}
	var cmd *exec.Cmd
	if err == nil {
		nsExec(host, "ip", "addr", "add", rootlessServer+"/32", "dev", "lo")
		cmd, err = p.setup(&c, host, guest, work, bin)
	}
	if err != nil {
		fmt.Printf("%-17s rootless cannot set up: %v\n", p.name, err)
		rep.fail(p.name, "rootless", err)
		return
	}
	// slirp4netns and pasta configure the guest after they start.
	for i := 0; i < 100; i++ {
		if out, _ := nsExec(guest, "ip", "route", "show", "default"); out != "" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	pids := []int{cmd.Process.Pid} // ip netns exec execs the stack: its PID
	for r := 0; r < o.reps; r++ {
		fmt.Printf("%-17s rootless rep %d/%d ... ", p.name, r+1, o.reps)
		c0 := cpuTicks(pids)
		up, err := iperfBetween(guest, host, rootlessServer, o.secs)
		if err != nil {
			fmt.Println("failed:", err)
			rep.fail(p.name, "rootless", err)
			continue
		}
		s := sample{"rootless": num(up, "end", "sum_received", "bits_per_second") / 1e9}
		if b := num(up, "end", "sum_received", "bytes"); b > 0 {
			s["rootless-cpu-per-gb"] = (cpuTicks(pids) - c0) / (b / 1e9)
		}
		if down, err := iperfBetween(guest, host, rootlessServer, o.secs, "-R"); err == nil {
			s["rootless-rev"] = num(down, "end", "sum_received", "bits_per_second") / 1e9
		}
		fmt.Println(formatSample(s))
		rep.add(p.name, s, nil)
	}
}
