package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vswitch/vswitch/control"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// vswitchBin builds the binary once per test run, with the race detector
// when the tests themselves run with it.
func vswitchBin(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vst-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "vswitch")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, "../cmd/vswitch")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// instance is a running vswitch process.
type instance struct {
	t       testing.TB
	cmd     *exec.Cmd
	sock    string
	dir     string
	log     *lockedBuffer
	done    chan struct{}
	exitErr error
	// wrap runs before the binary (a command that ends by exec'ing its
	// arguments, so the process is vswitch itself).
	wrap []string
}

// lockedBuffer holds a process's output while the test reads it.
type lockedBuffer = testnet.LockedBuffer

// startVswitch writes cfg (with control and state_dir set to a temp dir,
// metrics off unless cfg sets it) and runs `vswitch run -c FILE` until the
// control socket answers. It is stopped with SIGTERM at cleanup.
func startVswitch(t testing.TB, cfg string) *instance {
	t.Helper()
	return startVswitchWrapped(t, cfg, nil)
}

// startVswitchWrapped is startVswitch with a wrapper command; wrap gets
// the instance's directory (its state directory is dir/state) and returns
// the wrapper's argv.
func startVswitchWrapped(t testing.TB, cfg string, wrap func(dir string) []string) *instance {
	t.Helper()
	vswitchBin(t) // build before the clock starts
	dir := t.TempDir()
	in := &instance{t: t, dir: dir, sock: filepath.Join(dir, "vswitch.sock"), log: &lockedBuffer{}, done: make(chan struct{})}
	head := fmt.Sprintf("control: %s\nstate_dir: %s\n", in.sock, filepath.Join(dir, "state"))
	if !strings.Contains(cfg, "metrics:") {
		head += "metrics: \"\"\n"
	}
	path := filepath.Join(dir, "vswitch.yaml")
	if err := os.WriteFile(path, []byte(head+cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		in.wrap = wrap(dir)
	}
	in.launch(path)
	return in
}

// stop sends SIGTERM to the process we started (by PID) and waits.
func (in *instance) stop() error {
	select {
	case <-in.done:
		return in.exitErr
	default:
	}
	in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.done:
	case <-time.After(15 * time.Second):
		in.cmd.Process.Kill()
		<-in.done
		in.t.Errorf("vswitch did not stop within 15s of SIGTERM")
	}
	return in.exitErr
}

// cli runs the vswitch CLI against this instance.
func (in *instance) cli(args ...string) (string, error) {
	args = append([]string{"--control", in.sock}, args...)
	out, err := exec.Command(vswitchBin(in.t), args...).CombinedOutput()
	return string(out), err
}

// mustCLI runs the CLI and fails the test on error.
func (in *instance) mustCLI(args ...string) string {
	in.t.Helper()
	out, err := in.cli(args...)
	if err != nil {
		in.t.Fatalf("vswitch %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// fdbEntry is an address as `show fdb --json` prints it.
type fdbEntry = control.FDBEntry

func (in *instance) fdb() []fdbEntry {
	in.t.Helper()
	var out []fdbEntry
	in.showJSON("fdb", &out)
	return out
}

// showJSON decodes `show WHAT --json` into v.
func (in *instance) showJSON(what string, v any) {
	in.t.Helper()
	out := in.mustCLI("show", what, "--json")
	if err := json.Unmarshal([]byte(out), v); err != nil {
		in.t.Fatalf("show %s --json: %v\n%s", what, err, out)
	}
}

// leaseList is `show leases --json`.
func (in *instance) leaseList() []control.Lease {
	in.t.Helper()
	var ls []control.Lease
	in.showJSON("leases", &ls)
	return ls
}

// gatewayMAC is the MAC of network's gateway port (gw-NETWORK) in the
// FDB; the test fails if there is none.
func (in *instance) gatewayMAC(network string) pkt.MAC {
	in.t.Helper()
	fdb := in.fdb()
	for _, e := range fdb {
		if e.Port == "gw-"+network {
			m, err := pkt.ParseMAC(e.MAC)
			if err != nil {
				in.t.Fatalf("the gateway's MAC in show fdb: %v", err)
			}
			return m
		}
	}
	in.t.Fatalf("no FDB entry for the gateway of %s: %+v", network, fdb)
	return pkt.MAC{}
}

// portStatus is a port as `show ports --json` prints it.
type portStatus = control.PortStatus

func (in *instance) ports() map[string]portStatus {
	in.t.Helper()
	var out []portStatus
	in.showJSON("ports", &out)
	m := map[string]portStatus{}
	for _, p := range out {
		m[p.Name] = p
	}
	return m
}

// host is a namespace with one interface configured by the test.
type host struct {
	*testnet.Netns
	dev string
	tb  testing.TB
}

func (h *host) t() testing.TB { return h.tb }

// newHost makes a namespace without IPv6 (so no router solicitations or
// DAD make noise in counters).
func newHost(t testing.TB, tag string) *host {
	ns := testnet.NewNetns(t, tag)
	ns.Run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	ns.Run("sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
	return &host{Netns: ns, tb: t}
}

// addr configures dev with cidr and brings it up.
func (h *host) addr(dev, cidr string) {
	h.dev = dev
	h.Run("ip", "addr", "add", cidr, "dev", dev)
	h.Run("ip", "link", "set", dev, "up")
}

// mac reads an interface's MAC address.
func (h *host) mac(dev string) string {
	out := h.Run("cat", "/sys/class/net/"+dev+"/address")
	return strings.TrimSpace(out)
}

// linkPackets reads the kernel's rx and tx packet counters of dev.
func (h *host) linkPackets(dev string) [2]uint64 {
	h.t().Helper()
	var c [2]uint64
	for i, f := range []string{"rx_packets", "tx_packets"} {
		v, err := strconv.ParseUint(strings.TrimSpace(h.Run("cat", "/sys/class/net/"+dev+"/statistics/"+f)), 10, 64)
		if err != nil {
			h.t().Fatal(err)
		}
		c[i] = v
	}
	return c
}

// ping sends n echoes and reports whether every one was answered
// (ping itself exits 0 on a single reply).
func (h *host) ping(dst string, n int) bool {
	h.t().Helper()
	return h.pingCount(dst, n) == n
}

var pingReceived = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// pingCount sends n echoes and returns how many were answered; a ping that
// did not even report its counts fails the test.
func (h *host) pingCount(dst string, n int) int {
	h.t().Helper()
	return h.pingEvery(dst, n, "0.2")
}

// pingEvery is pingCount with the interval between echoes in seconds.
// (Not -w: with a deadline, ping sends echoes until n are answered, so
// the count sent is no longer n.)
func (h *host) pingEvery(dst string, n int, interval string) int {
	h.t().Helper()
	out, _ := h.Output("ping", "-c", fmt.Sprint(n), "-i", interval, "-W", "2", dst)
	m := pingReceived.FindStringSubmatch(out)
	if m == nil || m[1] != fmt.Sprint(n) {
		h.t().Fatalf("ping %s from %s: no count of %d echoes:\n%s", dst, h.Name, n, out)
	}
	got, _ := strconv.Atoi(m[2])
	return got
}

// requireE2E starts every end-to-end test: it needs root and the commands
// named. Without VSWITCH_E2E=1 they may be missing and the test skips;
// with it, a skip for any reason, here or later in the test, is a failure.
func requireE2E(t testing.TB, cmds ...string) {
	t.Helper()
	if os.Getenv("VSWITCH_E2E") == "1" {
		t.Cleanup(func() {
			if t.Skipped() {
				t.Error("VSWITCH_E2E=1: an end-to-end test may not skip")
			}
		})
	}
	testnet.RequireRoot(t)
	testnet.RequireCommands(t, append([]string{"ip"}, cmds...)...)
}

// killRestart kills old with SIGKILL, as a crash would, and starts a new
// process on its config and state directory.
func killRestart(t testing.TB, old *instance) *instance {
	t.Helper()
	old.cmd.Process.Kill()
	<-old.done
	return restartVswitch(t, old)
}

// restartVswitch starts a new process on the config and state directory
// of old, which has exited.
func restartVswitch(t testing.TB, old *instance) *instance {
	t.Helper()
	in := &instance{t: t, dir: old.dir, sock: old.sock, log: &lockedBuffer{}, done: make(chan struct{})}
	in.launch(filepath.Join(old.dir, "vswitch.yaml"))
	return in
}

// start starts cmd as the instance's process, its output into the log,
// and closes done when it has exited.
func (in *instance) start(cmd *exec.Cmd) {
	in.t.Helper()
	in.cmd = cmd
	cmd.Stdout, cmd.Stderr = in.log, in.log
	if err := cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	go func() {
		in.exitErr = cmd.Wait()
		close(in.done)
	}()
}

// launch runs `vswitch run -c path`, stops it at cleanup (showing its log
// if the test failed), and waits until its control socket answers.
func (in *instance) launch(path string) {
	t := in.t
	t.Helper()
	argv := append(append([]string(nil), in.wrap...), vswitchBin(t), "run", "-c", path)
	in.start(exec.Command(argv[0], argv[1:]...))
	t.Cleanup(func() {
		in.stop()
		if t.Failed() {
			t.Logf("vswitch log:\n%s", in.log.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := in.cli("show", "ports"); err == nil {
			return
		}
		select {
		case <-in.done:
			t.Fatalf("vswitch exited at start: %v\n%s", in.exitErr, in.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("vswitch did not answer on %s\n%s", in.sock, in.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
