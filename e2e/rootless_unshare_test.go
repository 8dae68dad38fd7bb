package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// TestUserUplinkUnshareTAP: vswitch runs as nobody inside `unshare
// -Urn`, a user and network namespace of its own where it is root, so it
// opens TAP ports there (CAP_NET_ADMIN over that namespace is enough for
// TUN/TAP) and reaches out through a user uplink: rootless, as
// slirp4netns or pasta run beside a rootless container, but one switch
// for every guest. A guest namespace on the TAP leases its address by
// DHCP and downloads 16 MiB, SHA-256 checked, from an HTTP server that
// listens only on the loopback of vswitch's namespace, through
// host_loopback (10.0.2.2).
//
// The guest is a namespace of the test: once vswitch has made the TAP,
// the test (root) moves its kernel side there; vswitch keeps its end,
// the open /dev/net/tun descriptor. Where /dev/net/tun is not mode 0666
// (this machine's is 0600, a container's static /dev; distributions'
// udev rules make it 0666), root inside a user namespace cannot open it:
// the device belongs to a uid that is not mapped there, so CAP_DAC_OVERRIDE
// does not apply. The test binds a 0666 node of the same device over it in
// a mount namespace of vswitch's alone, leaving the machine's as it is.
func TestUserUplinkUnshareTAP(t *testing.T) {
	requireE2E(t, "setpriv", "unshare", "nsenter", "mknod", "udhcpc", "curl", "python3")
	dir, bin := nobodyDir(t)
	www := filepath.Join(dir, "www")
	os.Mkdir(www, 0o755)
	sum := randomBlob(t, filepath.Join(www, "blob"), 16)
	dev := filepath.Join(dir, "dev")
	os.Mkdir(dev, 0o755)
	tap := testnet.Name("ut")
	cfg := filepath.Join(dir, "vswitch.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`control: %s
state_dir: %s
metrics: ""
ports:
  - {name: %s, type: tap}
networks:
  - {name: lab, address: 10.249.0.1/24, mode: nat, uplink: host, dhcp: {range: 10.249.0.10-10.249.0.20}}
uplinks:
  - {name: host, type: user, host_loopback: 10.0.2.2}
`, filepath.Join(dir, "ctl.sock"), filepath.Join(dir, "state"), tap)), 0o644)
	inner := fmt.Sprintf("ip link set lo up && exec %s run -c %s", bin, cfg)
	outer := fmt.Sprintf("mount -t tmpfs -o mode=755 tmpfs %[1]s && mknod -m 666 %[1]s/tun c 10 200 && mount --bind %[1]s/tun /dev/net/tun && exec setpriv %[2]s unshare -Urn sh -c %[3]q",
		dev, strings.Join(asNobody, " "), inner)
	// unshare, sh, setpriv and unshare again all exec: the PID is vswitch's.
	cmd := exec.Command("unshare", "-m", "sh", "-c", outer)
	log := startProcess(t, "vswitch", cmd)
	pid := fmt.Sprint(cmd.Process.Pid)
	// inVswitch runs a command in vswitch's network namespace (as root).
	inVswitch := func(args ...string) *exec.Cmd {
		return exec.Command("nsenter", append([]string{"-t", pid, "-n"}, args...)...)
	}
	testnet.WaitFor(t, 20*time.Second, "vswitch running with its TAP", func() bool {
		if st, _ := os.ReadFile("/proc/" + pid + "/stat"); strings.Contains(string(st), ") Z ") {
			t.Fatalf("vswitch exited:\n%s", log) // e.g. open /dev/net/tun: permission denied
		}
		out, _ := inVswitch("ip", "link", "show", tap).CombinedOutput()
		return strings.Contains(string(out), tap) && strings.Contains(log.String(), "vswitch running")
	})
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil || !regexp.MustCompile(`(?m)^Uid:\s+65534\s`).Match(status) {
		t.Fatalf("vswitch is not nobody (%v):\n%s", err, status)
	}
	if own, _ := os.Readlink("/proc/" + pid + "/ns/user"); own == "" || own == mustReadlink(t, "/proc/self/ns/user") {
		t.Fatalf("vswitch is not in a user namespace of its own (%q)", own)
	}
	startProcess(t, "http", inVswitch("python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", www, "8000"))

	guest := newHost(t, "un")
	if out, err := inVswitch("ip", "link", "set", tap, "netns", guest.Name).CombinedOutput(); err != nil {
		t.Fatalf("moving the TAP to the guest: %v %s", err, out)
	}
	if ip := dhcpClient(t, "udhcpc", guest, tap); ip != "10.249.0.10" {
		t.Fatalf("guest leased %s, want 10.249.0.10", ip)
	}
	guest.Run("ip", "route", "add", "default", "via", "10.249.0.1")
	downloadChecked(t, guest, "http://10.0.2.2:8000/blob", filepath.Join(t.TempDir(), "got"), sum, 30*time.Second, "20", "the download from vswitch's loopback")
}

func mustReadlink(t *testing.T, path string) string {
	t.Helper()
	s, err := os.Readlink(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
