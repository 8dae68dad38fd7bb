package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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
)

// upInstance is a vswitch that may hand over to a new process: its log
// goes to a file (a pipe would keep the first process's Wait waiting for
// the last), and it is stopped by the PID the control socket reports.
type upInstance struct {
	*instance
	logPath string
}

// startUpgradable is startVswitch for an upgrade test.
func startUpgradable(t *testing.T, cfg string) *upInstance {
	t.Helper()
	bin := vswitchBin(t)
	dir := t.TempDir()
	in := &instance{t: t, dir: dir, sock: filepath.Join(dir, "vswitch.sock"), log: &lockedBuffer{}, done: make(chan struct{})}
	u := &upInstance{instance: in, logPath: filepath.Join(dir, "log")}
	path := filepath.Join(dir, "vswitch.yaml")
	head := fmt.Sprintf("control: %s\nstate_dir: %s\n", in.sock, filepath.Join(dir, "state"))
	if err := os.WriteFile(path, []byte(head+cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(u.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "run", "-c", path)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in.cmd = cmd
	go func() {
		in.exitErr = cmd.Wait()
		close(in.done)
	}()
	t.Cleanup(func() {
		// Whichever process runs now: ours, or one an upgrade started.
		if st, err := u.statusErr(); err == nil {
			syscall.Kill(st, syscall.SIGTERM)
			testnet.WaitFor(t, 15*time.Second, "vswitch to stop", func() bool { return !alive(st) })
		}
		cmd.Process.Kill()
		<-in.done
		if t.Failed() {
			t.Logf("vswitch log:\n%s", u.logText())
		}
	})
	testnet.WaitFor(t, 20*time.Second, "vswitch to answer", func() bool {
		_, err := in.cli("show", "ports")
		return err == nil
	})
	return u
}

func (u *upInstance) logText() string {
	b, _ := os.ReadFile(u.logPath)
	return string(b)
}

// statusErr is the PID answering on the control socket.
func (u *upInstance) statusErr() (int, error) {
	out, err := u.cli("show", "status", "--json")
	if err != nil {
		return 0, err
	}
	i := strings.Index(out, `"pid": `)
	if i < 0 {
		return 0, errors.New("no pid in show status")
	}
	rest := out[i+len(`"pid": `):]
	return strconv.Atoi(rest[:strings.IndexAny(rest, ",\n")])
}

// alive says whether pid runs (a zombie does not).
func alive(pid int) bool {
	// Every thread, not only the leader: a killed Go process's leader
	// can be a zombie while its other threads still exit, holding the
	// descriptors (its control socket still answered a restart).
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	for _, p := range append(tasks, fmt.Sprintf("/proc/%d/stat", pid)) {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(b)
		if st := s[strings.LastIndexByte(s, ')')+1:]; !strings.HasPrefix(st, " Z") && !strings.HasPrefix(st, " X") {
			return true
		}
	}
	return false
}

// carrierChanges reads a link's carrier_changes counter in h.
func carrierChanges(t *testing.T, h *host, dev string) string {
	t.Helper()
	return strings.TrimSpace(h.Run("cat", "/sys/class/net/"+dev+"/carrier_changes"))
}

// upgradeTopo is two hosts on TAP ports of a NAT'd network and an outside
// host behind an AF_PACKET uplink.
func upgradeTopo(t *testing.T, tag string, metricsAddr string) (vs *upInstance, h1, h2, out *host, p1, p2 string) {
	t.Helper()
	out, upDev, _ := outsideHost(t, tag, "10.233.9.1/24")
	h1, h2 = newHost(t, tag+"1"), newHost(t, tag+"2")
	p1, p2 = testnet.Name(tag), testnet.Name(tag)
	vs = startUpgradable(t, fmt.Sprintf(`metrics: %q
ports:
  - {name: %s, type: tap, netns: %s}
  - {name: %s, type: tap, netns: %s}
networks:
  - {name: lab, address: 10.233.0.1/24, mode: nat, uplink: wan}
uplinks:
  - {name: wan, device: %s, address: 10.233.9.5/24, gateway: 10.233.9.1}
`, metricsAddr, p1, h1.Name, p2, h2.Name, upDev))
	h1.routedVia(p1, "10.233.0.11/24", "10.233.0.1")
	h2.routedVia(p2, "10.233.0.12/24", "10.233.0.1")
	if !h1.ping("10.233.0.12", 2) || !h1.ping("10.233.9.1", 2) {
		t.Fatal("h1 cannot reach h2 or the outside before the upgrade")
	}
	return vs, h1, h2, out, p1, p2
}

// breakConfig adds to the config file a port whose device is not there
// (vstnosuch0), so a new process loads it, takes the devices over, then
// fails; restore writes the file back as it was.
func (u *upInstance) breakConfig(t *testing.T) (restore func()) {
	t.Helper()
	path := filepath.Join(u.dir, "vswitch.yaml")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(good), "networks:", "  - {name: nosuch, type: afpacket, device: vstnosuch0}\nnetworks:", 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if err := os.WriteFile(path, good, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// pingLoss runs n echoes every interval from h to dst in the background;
// the channel gets how many were answered.
func pingLoss(h *host, dst string, n int, interval string) <-chan int {
	ch := make(chan int, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		out, _ := h.Command(ctx, "ping", "-q", "-c", fmt.Sprint(n), "-i", interval, "-W", "5", dst).Output()
		m := pingReceived.FindStringSubmatch(string(out))
		got := -1
		if m != nil && m[1] == fmt.Sprint(n) {
			got, _ = strconv.Atoi(m[2])
		}
		ch <- got
	}()
	return ch
}

// upgradeMaxLost bounds the echoes an upgrade may lose: only frames the
// old process had read and not yet written (at 200 echoes/s, one or two
// in flight); frames arriving meanwhile wait in the TAP's queue.
const upgradeMaxLost = 2

// TestUpgrade: `vswitch upgrade` hands the running switch to a new
// process while h1 pings h2 200 times a second and downloads 64 MiB
// through the NAT from the outside host at a limited rate. The PID
// changes; the new process reports the ports and the uplink as handed
// over; the TAP devices never lose carrier and keep their ifindex; the
// NAT'd connection keeps its outside port and finishes with the right
// SHA-256; the pings lose at most upgradeMaxLost.
func TestUpgrade(t *testing.T) {
	requireE2E(t, "ping", "python3", "curl", "sha256sum", "dd")
	addr := freeAddr(t)
	vs, h1, _, out, p1, p2 := upgradeTopo(t, "ug", addr)
	oldPID, err := vs.statusErr()
	if err != nil || oldPID != vs.cmd.Process.Pid {
		t.Fatalf("show status pid %d (%v), want %d", oldPID, err, vs.cmd.Process.Pid)
	}
	dir := t.TempDir()
	blob, got := filepath.Join(dir, "blob"), filepath.Join(dir, "got")
	want := randomBlob(t, blob, 64)
	serveHTTP(out, "10.233.9.1", dir)
	url := "http://10.233.9.1:8000/blob"
	testnet.WaitFor(t, 10*time.Second, "the HTTP server", func() bool {
		_, err := h1.Output("curl", "-sfI", "-o", "/dev/null", url) // HEAD: http.server ignores ranges
		return err == nil
	})
	carrier := carrierChanges(t, h1, p1)
	ifindex := h1.Run("cat", "/sys/class/net/"+p1+"/ifindex")

	dl := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		o, err := h1.Command(ctx, "curl", "-sSf", "--limit-rate", "4M", "-o", got, url).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%v: %s", err, o)
		}
		dl <- err
	}()
	const echoes = 1000
	pings := pingLoss(h1, "10.233.0.12", echoes, "0.005")
	// Scrapes and API calls all along: the listeners are handed over, so
	// none is refused.
	scrapes, stopScrapes := make(chan [2]int, 1), make(chan struct{})
	api := control.NewClient(vs.sock)
	go func() {
		var ok, failed int
		for {
			select {
			case <-stopScrapes:
				scrapes <- [2]int{ok, failed}
				return
			case <-time.After(20 * time.Millisecond):
			}
			resp, err := http.Get("http://" + addr + "/metrics")
			if err != nil {
				failed++
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err = api.Status(ctx)
			cancel()
			if err != nil {
				failed++
				continue
			}
			ok++
		}
	}()
	sleep(300)
	before, sampled := vs.download(), time.Now()
	t.Logf("before the upgrade: %d bytes in", before.BytesIn)
	if before.BytesIn < 1<<20 {
		t.Fatalf("the download's flow before the upgrade: %+v", before)
	}
	start := time.Now()
	o := vs.mustCLI("upgrade")
	select {
	case <-vs.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("the old process did not exit after the upgrade:\n%s", o)
	}
	t.Logf("upgrade took %s: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(o))
	select {
	case err := <-dl:
		t.Fatalf("the download ended (%v) before the hand over did: it must span it", err)
	default:
	}
	if vs.exitErr != nil {
		t.Fatalf("the old process exited with %v", vs.exitErr)
	}
	st := vs.status()
	if st.PID == oldPID || st.UpgradedFrom != oldPID || !alive(st.PID) {
		t.Fatalf("after the upgrade: pid %d upgraded from %d; want a new pid, from %d", st.PID, st.UpgradedFrom, oldPID)
	}
	close(stopScrapes)
	if sc := <-scrapes; sc[1] != 0 || sc[0] == 0 {
		t.Fatalf("scrapes and API calls across the upgrade: %d answered, %d failed; want none failed", sc[0], sc[1])
	}
	if inh := slices.Sorted(slices.Values(st.Inherited)); !slices.Equal(inh, sorted(p1, p2, "wan", "metrics", "control")) {
		t.Fatalf("handed over %v, want %s %s wan metrics control", inh, p1, p2)
	}
	if !strings.Contains(o, fmt.Sprintf("handing over: pid %d -> %d", oldPID, st.PID)) || !strings.Contains(o, "upgraded: pid") {
		t.Fatalf("vswitch upgrade printed:\n%s", o)
	}
	// The FDB was handed over: h1's and h2's MACs, nothing else learned.
	if !strings.Contains(vs.logText(), "msg=\"upgrade: FDB taken over\" entries=2 of=2") {
		t.Fatalf("the new process did not take the FDB's two entries over:\n%s", vs.logText())
	}
	// The flow was handed over, counters and all, not made afresh by the
	// next packet.
	after, age := vs.download(), before.AgeSeconds+time.Since(sampled).Seconds()
	if after.TranslatedPort != before.TranslatedPort || after.BytesIn < before.BytesIn || after.AgeSeconds < age-1 {
		t.Fatalf("the download's flow after the upgrade: %+v; want it %.1f s old, from before: %+v", after, age, before)
	}

	if err := <-dl; err != nil {
		t.Fatalf("the NAT'd download across the upgrade: %v", err)
	}
	checkSHA256(t, got, want)
	n := <-pings
	t.Logf("pings across the upgrade: %d of %d answered", n, echoes)
	if n < echoes-upgradeMaxLost {
		t.Fatalf("%d of %d echoes answered across the upgrade; want at most %d lost", n, echoes, upgradeMaxLost)
	}
	if c := carrierChanges(t, h1, p1); c != carrier {
		t.Fatalf("%s carrier_changes %s after the upgrade, was %s: the link flapped", p1, c, carrier)
	}
	if i := h1.Run("cat", "/sys/class/net/"+p1+"/ifindex"); i != ifindex {
		t.Fatalf("%s ifindex %s after the upgrade, was %s: the device was recreated", p1, i, ifindex)
	}
	// A second upgrade, by SIGUSR2 this time, from the new process.
	syscall.Kill(st.PID, syscall.SIGUSR2)
	testnet.WaitFor(t, 15*time.Second, "the SIGUSR2 upgrade", func() bool {
		pid, err := vs.statusErr()
		return err == nil && pid != st.PID && !alive(st.PID)
	})
	if !h1.ping("10.233.0.12", 3) || !h1.ping("10.233.9.1", 3) {
		t.Fatal("h1 cannot reach h2 or the outside after the second upgrade")
	}
}

// download is the conntrack entry of h1's download from the outside host.
func (u *upInstance) download() control.ConnEntry {
	u.t.Helper()
	var conns []control.ConnEntry
	u.showJSON("conntrack", &conns)
	var best control.ConnEntry // the probe before it has a flow too
	for _, c := range conns {
		if c.Proto == "tcp" && strings.HasPrefix(c.Inside, "10.233.0.11:") && strings.HasSuffix(c.Inside, "10.233.9.1:8000") && c.State == "established" && c.BytesIn >= best.BytesIn {
			best = c
		}
	}
	return best
}

// TestUpgradeFails: an upgrade to a binary that does not exist, to one
// that exits at once, and to one that fails after the old process had
// stopped and handed over (its config names a device that is not there)
// is refused with the reason; the old process carries on on its own
// devices (the last one takes them back), echoes keep being answered
// throughout, and a good upgrade after works.
func TestUpgradeFails(t *testing.T) {
	requireE2E(t, "ping", "false")
	vs, h1, _, _, p1, _ := upgradeTopo(t, "uf", "")
	pid := vs.cmd.Process.Pid
	carrier := carrierChanges(t, h1, p1)
	const echoes = 400 // 4 s: the three attempts take about as long
	pings := pingLoss(h1, "10.233.0.12", echoes, "0.01")
	falseBin, err := exec.LookPath("false")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ binary, want string }{
		{"/nonexistent/vswitch", "starting /nonexistent/vswitch"},
		{falseBin, "did not come up"},
	} {
		o, err := vs.cli("upgrade", "--binary", tc.binary)
		if err == nil || !strings.Contains(o, tc.want) {
			t.Fatalf("upgrade --binary %s: %v\n%s\nwant an error with %q", tc.binary, err, o, tc.want)
		}
		if st := vs.status(); st.PID != pid || !strings.Contains(st.LastUpgradeError, tc.want) {
			t.Fatalf("after upgrade --binary %s: pid %d (want %d), last upgrade error %q", tc.binary, st.PID, pid, st.LastUpgradeError)
		}
	}

	// The new process loads this config, takes the devices, then cannot
	// open the extra port: the old one takes its devices back.
	restore := vs.breakConfig(t)
	o, err := vs.cli("upgrade")
	if err == nil || !strings.Contains(o, fmt.Sprintf("upgrade failed, pid %d carries on", pid)) || !strings.Contains(o, "vstnosuch0") {
		t.Fatalf("upgrade to a process that fails to take over: %v\n%s", err, o)
	}
	st := vs.status()
	if st.PID != pid || !strings.Contains(st.LastUpgradeError, "vstnosuch0") {
		t.Fatalf("after the failed take-over: %+v", st)
	}
	select {
	case <-vs.done:
		t.Fatalf("the old process exited: %v", vs.exitErr)
	default:
	}
	if n := <-pings; n < echoes-upgradeMaxLost {
		t.Fatalf("%d of %d echoes answered across three failed upgrades; want at most %d lost", n, echoes, upgradeMaxLost)
	}
	if c := carrierChanges(t, h1, p1); c != carrier {
		t.Fatalf("%s carrier_changes %s, was %s: the link flapped", p1, c, carrier)
	}
	// The new process gave the devices up as they were: still persistent,
	// so they would outlive a crash of the old one.
	if l := h1.Run("ip", "-d", "link", "show", p1); !strings.Contains(l, "persist on") {
		t.Fatalf("%s is no longer persistent after the failed take-over:\n%s", p1, l)
	}
	if !h1.ping("10.233.9.1", 3) {
		t.Fatal("h1 cannot reach the outside after the failed upgrades")
	}

	restore()
	vs.mustCLI("upgrade")
	if st := vs.status(); st.PID == pid || st.LastUpgradeError != "" {
		t.Fatalf("the good upgrade after: %+v", st)
	}
	if !h1.ping("10.233.0.12", 3) {
		t.Fatal("h1 cannot reach h2 after the good upgrade")
	}
}
