package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vswitch/vswitch/control"
	"github.com/vswitch/vswitch/internal/testnet"
	"github.com/vswitch/vswitch/tap"
)

// TestRestartKeepsHosts: two namespace hosts on TAP ports without `mac:`
// lease addresses by DHCP and run iperf3 TCP; vswitch is killed with
// SIGKILL in the middle and started again. The TAP devices outlive it
// (persistent, marked vswitch:<port>), the new process reattaches to them,
// the hosts keep their MACs (stable from the port names) and addresses,
// the transfer finishes with every byte sent received, and udhcpc gets the
// same lease again. A clean stop (SIGTERM) then removes the devices.
func TestRestartKeepsHosts(t *testing.T) {
	requireE2E(t, "iperf3", "udhcpc", "python3", "curl", "sha256sum", "dd")
	h1, h2 := newHost(t, "rs1"), newHost(t, "rs2")
	p1, p2 := testnet.Name("rs"), testnet.Name("rs")
	addr := freeAddr(t)
	vs := startVswitch(t, fmt.Sprintf("metrics: %q\n", addr)+tapPorts([]string{p1, p2}, h1, h2)+`networks:
  - name: lab
    address: 10.230.0.1/24
    dhcp: {range: 10.230.0.100-10.230.0.150, lease: 1h}
`)
	hosts := []*host{h1, h2}
	devs := []string{p1, p2}
	var ips, macs [2]string
	for i, h := range hosts {
		macs[i] = h.mac(devs[i])
		if want := tap.StableMAC(devs[i]).String(); macs[i] != want {
			t.Fatalf("%s: MAC %s, want the stable %s", devs[i], macs[i], want)
		}
		ips[i] = dhcpClient(t, "udhcpc", h, devs[i])
		if link := h.Run("ip", "-o", "link", "show", devs[i]); !strings.Contains(link, "alias vswitch:"+devs[i]) {
			t.Fatalf("%s is not marked as vswitch's: %s", devs[i], link)
		}
	}
	if ips[0] == ips[1] {
		t.Fatalf("both hosts got %s", ips[0])
	}

	// 10 s of iperf3 TCP from h1 to h2, and a 24 MiB download at 3 MiB/s
	// from h2 to h1, vswitch killed 2 s in.
	dir := t.TempDir()
	blob, got := filepath.Join(dir, "blob"), filepath.Join(dir, "got")
	testnet.Run(t, "dd", "if=/dev/urandom", "of="+blob, "bs=1M", "count=24", "status=none")
	h2.Start("python3", "-m", "http.server", "--bind", ips[1], "--directory", dir, "8000")
	h2.Start("iperf3", "-s", "-1", "-B", ips[1])
	type result struct {
		out string
		err error
	}
	done, dl := make(chan result, 1), make(chan result, 1)
	url := "http://" + ips[1] + ":8000/blob"
	testnet.WaitFor(t, 10*time.Second, "the HTTP server", func() bool {
		_, err := h1.Output("curl", "-sf", "-o", "/dev/null", "-r", "0-0", url)
		return err == nil
	})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := h1.Command(ctx, "iperf3", "-c", ips[1], "-t", "10", "-i", "1", "-J").Output()
		done <- result{string(out), err}
	}()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := h1.Command(ctx, "curl", "-sSf", "--limit-rate", "3M", "-o", got, url).CombinedOutput()
		dl <- result{string(out), err}
	}()
	sleep(2000)
	vs.cmd.Process.Kill()
	<-vs.done
	// The devices, their addresses and routes are still there.
	for i, h := range hosts {
		if out := h.Run("ip", "-4", "-o", "addr", "show", "dev", devs[i]); !strings.Contains(out, "inet "+ips[i]+"/24") {
			t.Fatalf("after kill -9, %s lost its address:\n%s", devs[i], out)
		}
	}
	vs2 := restartVswitch(t, vs)
	if log := vs2.log.String(); strings.Count(log, "port reattached") != 2 {
		t.Fatalf("want both ports reattached; log:\n%s", log)
	}
	if n := unlabelled(t, scrape(t, addr), "vswitch_ports_reattached_total"); n != 2 {
		t.Fatalf("vswitch_ports_reattached_total %v, want 2", n)
	}
	if st := vs2.status(); !slices.Equal(st.Reattached, []string{p1, p2}) || st.LastReloadFailed {
		t.Fatalf("show status after the restart: %+v, want %s and %s reattached", st, p1, p2)
	}

	r := <-done
	var res struct {
		Error     string `json:"error"`
		Intervals []struct {
			Sum struct {
				Bytes uint64 `json:"bytes"`
			} `json:"sum"`
		} `json:"intervals"`
		End struct {
			SumSent struct {
				Bytes uint64 `json:"bytes"`
			} `json:"sum_sent"`
			SumReceived struct {
				Bytes uint64 `json:"bytes"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(r.out), &res); err != nil || r.err != nil || res.Error != "" {
		t.Fatalf("iperf3 across the restart: %v %v %s\n%s", r.err, err, res.Error, r.out)
	}
	if n := len(res.Intervals); n != 10 || res.Intervals[n-1].Sum.Bytes == 0 {
		t.Fatalf("iperf3: %d intervals, the last moved nothing: traffic did not resume\n%s", n, r.out)
	}
	t.Logf("iperf3 across kill -9: %d bytes, last second %d bytes", res.End.SumReceived.Bytes, res.Intervals[9].Sum.Bytes)
	// One TCP connection (no --retry) carried every byte.
	if r := <-dl; r.err != nil {
		t.Fatalf("download across the restart: %v\n%s", r.err, r.out)
	}
	if a, b := testnet.Run(t, "sha256sum", blob), testnet.Run(t, "sha256sum", got); strings.Fields(a)[0] != strings.Fields(b)[0] {
		t.Fatalf("downloaded file differs: %s vs %s", a, b)
	}

	for i, h := range hosts {
		if m := h.mac(devs[i]); m != macs[i] {
			t.Fatalf("%s: MAC %s after the restart, had %s", devs[i], m, macs[i])
		}
		if ip := dhcpClient(t, "udhcpc", h, devs[i]); ip != ips[i] {
			t.Fatalf("%s: lease %s after the restart, had %s", devs[i], ip, ips[i])
		}
	}
	if !h1.ping(ips[1], 3) {
		t.Fatal("h1 cannot ping h2 after the restart")
	}

	// A clean stop removes the devices.
	if err := vs2.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	for i, h := range hosts {
		if out, err := h.Output("ip", "link", "show", devs[i]); err == nil {
			t.Fatalf("%s still there after SIGTERM:\n%s", devs[i], out)
		}
	}
}

// TestReload: `vswitch reload` adds a port, removes one and changes one
// (a TAP whose host keeps its address through the change); a file with an
// error, one that changes a network's address and adds a port, and one
// with a port that cannot open are refused with FILE:LINE and change
// nothing; SIGHUP reloads too, and a DHCP reservation it adds is what the
// host's udhcpc gets.
func TestReload(t *testing.T) {
	requireE2E(t, "ping", "udhcpc")
	h1, h2, h3 := newHost(t, "rl1"), newHost(t, "rl2"), newHost(t, "rl3")
	p1, p2, p3, p4 := testnet.Name("rl"), testnet.Name("rl"), testnet.Name("rl"), testnet.Name("rl")
	network := func(addr string, hosts ...string) string {
		return fmt.Sprintf("networks:\n  - {name: lab, address: %s, dhcp: {range: 10.232.0.100-10.232.0.150, hosts: [%s]}}\n", addr, strings.Join(hosts, ", "))
	}
	tapPort := func(name string, h *host, extra string) string {
		return fmt.Sprintf("  - {name: %s, type: tap, netns: %s%s}\n", name, h.Name, extra)
	}
	addr := freeAddr(t)
	vs := startVswitch(t, fmt.Sprintf("metrics: %q\nports:\n", addr)+tapPort(p1, h1, "")+tapPort(p2, h2, "")+network("10.232.0.1/24"))
	path := filepath.Join(vs.dir, "vswitch.yaml")
	head := fmt.Sprintf("control: %s\nstate_dir: %s\nmetrics: %q\n", vs.sock, filepath.Join(vs.dir, "state"), addr)
	started := unlabelled(t, scrape(t, addr), "vswitch_start_time_seconds")
	loaded := unlabelled(t, scrape(t, addr), "vswitch_config_last_reload_success_timestamp_seconds")
	if started == 0 || loaded < started || loaded-started > 60 {
		t.Fatalf("start %v, config loaded %v: want the load within a minute of the start", started, loaded)
	}
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(head+body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h1.addr(p1, "10.232.0.11/24")
	h2.addr(p2, "10.232.0.12/24")
	if !h1.ping("10.232.0.12", 2) {
		t.Fatal("h1 cannot ping h2 before the reload")
	}
	names := func() []string {
		var out []string
		for n := range vs.ports() {
			if strings.HasPrefix(n, "vst") {
				out = append(out, n)
			}
		}
		slices.Sort(out)
		return out
	}

	write("ports:\n" + tapPort(p1, h1, ", max_macs: 8, vlan: 1") + tapPort(p3, h3, "") + network("10.232.0.1/24"))
	if out := vs.mustCLI("reload"); out != fmt.Sprintf("added: %s\nremoved: %s\nchanged: %s\n", p3, p2, p1) {
		t.Fatalf("reload said:\n%s", out)
	}
	if got, want := names(), sorted(p1, p3); !slices.Equal(got, want) {
		t.Fatalf("ports after the reload: %v, want %v", got, want)
	}
	if out, err := h2.Output("ip", "link", "show", p2); err == nil {
		t.Fatalf("the removed port's device is still there:\n%s", out)
	}
	h3.addr(p3, "10.232.0.13/24")
	if !h1.ping("10.232.0.13", 3) {
		t.Fatal("h1 (on the changed port, its address kept) cannot ping h3 (on the added port)")
	}

	// Refused: a typo; a new network address with a new port; a port
	// that cannot open after one that did.
	refusals := []struct {
		body, want string
		code       int // 2: the file is refused; 1: a port failed to open
	}{
		{"ports:\n" + tapPort(p1, h1, ", vlna: 2") + network("10.232.0.1/24"),
			path + ":5: ports[0].vlna: unknown key", 2},
		{"ports:\n" + tapPort(p1, h1, "") + tapPort(p3, h3, "") + tapPort(p4, h1, "") + network("10.232.0.2/24"),
			path + ":9: networks[0].address: cannot change while running (10.232.0.1/24 -> 10.232.0.2/24)", 2},
		// p4 opens, then p5 fails: p4 is closed again.
		{"ports:\n" + tapPort(p1, h1, ", max_macs: 8") + tapPort(p3, h3, "") + tapPort(p4, h1, "") +
			"  - {name: p5, type: tap, netns: vstnosuchns}\n" + network("10.232.0.1/24"),
			path + ":8: port p5: tap p5: netns vstnosuchns: open /run/netns/vstnosuchns: no such file or directory; nothing was changed", 1},
	}
	for _, r := range refusals {
		write(r.body)
		out, err := vs.cli("reload")
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != r.code || !strings.Contains(out, r.want) {
			t.Fatalf("bad reload: %v\n%s\nwant exit %d and %q", err, out, r.code, r.want)
		}
		if got, want := names(), sorted(p1, p3); !slices.Equal(got, want) {
			t.Fatalf("ports after a refused reload: %v, want %v", got, want)
		}
	}
	if !h1.ping("10.232.0.13", 2) {
		t.Fatal("h1 cannot ping h3 after the refused reloads")
	}
	if st := vs.status(); !st.LastReloadFailed || len(st.Reattached) != 0 {
		t.Fatalf("show status after refused reloads: %+v", st)
	}
	text := scrape(t, addr)
	if ok, at := unlabelled(t, text, "vswitch_config_last_reload_successful"), unlabelled(t, text, "vswitch_config_last_reload_success_timestamp_seconds"); ok != 0 || at <= loaded {
		t.Fatalf("after refused reloads: successful %v, last success %v (start load %v): want 0 and the first reload's time", ok, at, loaded)
	}

	// SIGHUP: p3 goes, and h1's MAC gets a reservation.
	write("ports:\n" + tapPort(p1, h1, ", max_macs: 8") +
		network("10.232.0.1/24", fmt.Sprintf("{mac: %q, ip: 10.232.0.7, name: web}", tap.StableMAC(p1))))
	vs.cmd.Process.Signal(syscall.SIGHUP)
	testnet.WaitFor(t, 10*time.Second, "SIGHUP to remove "+p3, func() bool { return slices.Equal(names(), []string{p1}) })
	if ip := dhcpClient(t, "udhcpc", h1, p1); ip != "10.232.0.7" {
		t.Fatalf("h1 leased %s after the reservation was reloaded, want 10.232.0.7", ip)
	}
	if !h1.ping("10.232.0.1", 2) {
		t.Fatal("h1 cannot ping the gateway after SIGHUP")
	}
	if ok := unlabelled(t, scrape(t, addr), "vswitch_config_last_reload_successful"); ok != 1 {
		t.Fatalf("after SIGHUP's reload: successful %v, want 1", ok)
	}
	if s := unlabelled(t, scrape(t, addr), "vswitch_start_time_seconds"); s != started {
		t.Fatalf("start time moved on reload: %v, was %v", s, started)
	}
}

// status reads `show status --json`.
func (in *instance) status() control.Status {
	in.t.Helper()
	var st control.Status
	in.showJSON("status", &st)
	return st
}

func sorted(s ...string) []string { slices.Sort(s); return s }

// unlabelled reads a sample without labels from a scrape.
func unlabelled(t *testing.T, text, name string) float64 {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			return f
		}
	}
	t.Fatalf("no sample %s in the scrape", name)
	return 0
}
