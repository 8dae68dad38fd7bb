package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// vswitchBin builds the binary once per test run, with the race detector
// when the tests themselves run with it.
func vswitchBin(t *testing.T) string {
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
	t       *testing.T
	cmd     *exec.Cmd
	sock    string
	dir     string
	log     *lockedBuffer
	done    chan struct{}
	exitErr error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startVswitch writes cfg (with control and state_dir set to a temp dir,
// metrics off unless cfg sets it) and runs `vswitch run -c FILE` until the
// control socket answers. It is stopped with SIGTERM at cleanup.
func startVswitch(t *testing.T, cfg string) *instance {
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

type fdbEntry struct {
	VLAN   uint16 `json:"vlan"`
	MAC    string `json:"mac"`
	Port   string `json:"port"`
	Static bool   `json:"static"`
}

func (in *instance) fdb() []fdbEntry {
	in.t.Helper()
	var out []fdbEntry
	if err := json.Unmarshal([]byte(in.mustCLI("show", "fdb", "--json")), &out); err != nil {
		in.t.Fatalf("show fdb --json: %v", err)
	}
	return out
}

type portStatus struct {
	Name      string            `json:"name"`
	RxPackets uint64            `json:"rx_packets"`
	TxPackets uint64            `json:"tx_packets"`
	Drops     map[string]uint64 `json:"drops"`
	Driver    map[string]uint64 `json:"driver"`
}

func (in *instance) ports() map[string]portStatus {
	in.t.Helper()
	var out []portStatus
	if err := json.Unmarshal([]byte(in.mustCLI("show", "ports", "--json")), &out); err != nil {
		in.t.Fatalf("show ports --json: %v", err)
	}
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
	tb  *testing.T
}

func (h *host) t() *testing.T { return h.tb }

// newHost makes a namespace without IPv6 (so no router solicitations or
// DAD make noise in counters).
func newHost(t *testing.T, tag string) *host {
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

// ping sends n echoes and reports whether all were answered.
func (h *host) ping(dst string, n int) bool {
	_, err := h.Output("ping", "-c", fmt.Sprint(n), "-i", "0.2", "-W", "2", dst)
	return err == nil
}

func requireE2E(t *testing.T, cmds ...string) {
	t.Helper()
	testnet.RequireRoot(t)
	testnet.RequireCommands(t, append([]string{"ip"}, cmds...)...)
}

// sniff runs tcpdump on dev in h with a filter until the returned function
// is called; that function returns the decoded lines tcpdump printed.
func (h *host) sniff(dev, filter string) func() string {
	h.t().Helper()
	var out lockedBuffer
	cmd := h.Command(context.Background(), "tcpdump", "-l", "-n", "-e", "-i", dev, filter)
	cmd.Stdout, cmd.Stderr = &out, io.Discard
	if err := cmd.Start(); err != nil {
		h.t().Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // let it attach
	stopped := false
	stop := func() string {
		if !stopped {
			stopped = true
			time.Sleep(200 * time.Millisecond)
			cmd.Process.Signal(syscall.SIGINT)
			cmd.Wait()
		}
		return out.String()
	}
	h.t().Cleanup(func() { stop() })
	return stop
}

// restartVswitch starts a new process on the config and state directory
// of old, which has exited.
func restartVswitch(t *testing.T, old *instance) *instance {
	t.Helper()
	in := &instance{t: t, dir: old.dir, sock: old.sock, log: &lockedBuffer{}, done: make(chan struct{})}
	in.launch(filepath.Join(old.dir, "vswitch.yaml"))
	return in
}

// launch runs `vswitch run -c path`, stops it at cleanup (showing its log
// if the test failed), and waits until its control socket answers.
func (in *instance) launch(path string) {
	t := in.t
	t.Helper()
	in.cmd = exec.Command(vswitchBin(t), "run", "-c", path)
	in.cmd.Stdout, in.cmd.Stderr = in.log, in.log
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		in.exitErr = in.cmd.Wait()
		close(in.done)
	}()
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
