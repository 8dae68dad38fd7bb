package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vswitch/vswitch/control"
	"github.com/vswitch/vswitch/internal/testnet"
	"github.com/vswitch/vswitch/internal/testvm"
)

// asNobody are setpriv's arguments that run a command as nobody with no
// capability.
var asNobody = []string{"--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"}

// TestRootless runs vswitch and a guest's QEMU as an unprivileged user
// (nobody): QEMU socket ports, the gateway and DHCP need no capability.
func TestRootless(t *testing.T) {
	requireE2E(t, "setpriv", "qemu-system-x86_64")
	dir, bin, kernel, initrd := rootlessFiles(t)
	sock, vmSock, _, _ := startNobody(t, dir, bin, `networks:
  - name: lab
    address: 10.231.0.1/24
    dhcp: {range: 10.231.0.10-10.231.0.20}
`, nil)
	// QEMU as nobody too, through the same testvm options.
	vm := testvm.StartWith(t, testvm.Image{Kernel: kernel, Initrd: initrd}, testvm.Options{MAC: "52:54:00:ee:01:01",
		Netdev: "stream,id=n0,server=off,addr.type=unix,addr.path=" + vmSock, Ping: []string{"10.231.0.1"}},
		append([]string{"setpriv"}, asNobody...))
	ip := strings.TrimPrefix(mustWait(t, vm, "VST-IP "), "VST-IP ")
	if !strings.HasPrefix(ip, "10.231.0.") {
		t.Fatalf("guest: %s", ip)
	}
	mustWait(t, vm, "VST-READY")
	if strings.Contains(vm.Output(), "VST-PING-FAIL") {
		t.Fatalf("guest cannot ping the gateway:\n%s", vm.Output())
	}
	out, err := exec.Command(bin, "--control", sock, "show", "leases", "--json").Output()
	var leases []control.Lease
	if err != nil || json.Unmarshal(out, &leases) != nil {
		t.Fatalf("show leases --json: %v\n%s", err, out)
	}
	if len(leases) != 1 || leases[0].MAC != "52:54:00:ee:01:01" || leases[0].IP != ip || leases[0].State != "bound" {
		t.Fatalf("leases %+v, want the guest's alone: 52:54:00:ee:01:01 %s bound", leases, ip)
	}
	st, err := os.Stat(filepath.Join(dir, "state", "leases.json"))
	if err != nil {
		t.Fatal(err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid != 65534 {
		t.Fatalf("leases written by uid %d, not nobody", sys.Uid)
	}
}

// rootlessFiles copies vswitch and the guest image into a directory that
// nobody can reach and write, and returns it and the copies.
func rootlessFiles(t *testing.T) (dir, bin, kernel, initrd string) {
	t.Helper()
	img := testvm.Build(t)
	dir, bin = nobodyDir(t)
	kernel, initrd = filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initrd.img")
	nobodyCopy(t, map[string]string{img.Kernel: kernel, img.Initrd: initrd})
	return dir, bin, kernel, initrd
}

// nobodyDir is a directory nobody can reach and write, holding a copy of
// vswitch.
func nobodyDir(t *testing.T) (dir, bin string) {
	t.Helper()
	dir = t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		os.Chmod(d, 0o777) // nobody must reach and write its files
	}
	bin = filepath.Join(dir, "vswitch")
	nobodyCopy(t, map[string]string{vswitchBin(t): bin})
	return dir, bin
}

// nobodyCopy copies each file to its destination, executable by all.
func nobodyCopy(t *testing.T, files map[string]string) {
	t.Helper()
	for src, dst := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(dst, b, 0o755)
	}
}

// startNobody runs vswitch as nobody (under wrap, e.g. ip netns exec,
// when set) with one QEMU socket port "vm" and the config's rest, and
// waits for the port's socket.
func startNobody(t *testing.T, dir, bin, rest string, wrap []string) (sock, vmSock string, cmd *exec.Cmd, log *lockedBuffer) {
	t.Helper()
	sock, vmSock = filepath.Join(dir, "ctl.sock"), filepath.Join(dir, "vm.sock")
	cfg := filepath.Join(dir, "vswitch.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("control: %s\nstate_dir: %s\nmetrics: \"\"\nports:\n  - {name: vm, type: qemu, socket: %s}\n%s",
		sock, filepath.Join(dir, "state"), vmSock, rest)), 0o644)
	args := append(append(append(wrap, "setpriv"), asNobody...), bin, "run", "-c", cfg)
	cmd = exec.Command(args[0], args[1:]...)
	log = startProcess(t, "vswitch", cmd)
	testnet.WaitFor(t, 10*time.Second, "the unprivileged vswitch's socket", func() bool {
		_, err := os.Stat(vmSock)
		return err == nil
	})
	return sock, vmSock, cmd, log
}
