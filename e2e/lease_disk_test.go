package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/slowfs"
	"github.com/vswitch/vswitch/internal/testnet"
)

// TestLeaseDiskWait: vswitch with `cpus: 1` (one thread runs its Go code)
// keeps its lease file on a disk that does not answer fsync (a FUSE
// filesystem that holds it). A client's REQUEST waits for the disk: no
// ACK, no address. Meanwhile two other guests ping each other through
// vswitch, every echo answered, and a goroutine dump (SIGQUIT) finds the
// lease write parked in Go's poller ("IO wait": its fsync is Linux AIO),
// not in a system call holding the one thread ("syscall", as a plain
// fsync(2) would be).
func TestLeaseDiskWait(t *testing.T) {
	requireE2E(t, "udhcpc", "ping")
	client, a, b := newHost(t, "ld"), newHost(t, "la"), newHost(t, "lb")
	pc, pa, pb := testnet.Name("p"), testnet.Name("p"), testnet.Name("p")
	var slow *slowfs.FS
	vs := startVswitchWrapped(t, fmt.Sprintf(`cpus: 1
ports:
  - {name: %s, type: tap, netns: %s}
  - {name: %s, type: tap, netns: %s}
  - {name: %s, type: tap, netns: %s}
networks:
  - name: lab
    address: 10.230.0.1/24
    dhcp: {range: 10.230.0.10-10.230.0.20}
`, pc, client.Name, pa, a.Name, pb, b.Name), func(dir string) []string {
		slow = slowfs.MountAt(t, filepath.Join(dir, "state"))
		return []string{"env", "GOTRACEBACK=all"} // SIGQUIT dumps every goroutine
	})
	defer slow.Release() // before vswitch's stop waits for the write
	a.addr(pa, "10.230.0.2/24")
	b.addr(pb, "10.230.0.3/24")
	if n := a.pingEvery("10.230.0.3", 3, "0.2"); n != 3 {
		t.Fatalf("%d of 3 echoes before the lease", n)
	}

	client.Run("ip", "link", "set", pc, "up")
	dhcp := client.Start("udhcpc", "-i", pc, "-n", "-q", "-t", "30", "-T", "1", "-s", writeScript(t, "udhcpc.sh", udhcpcScript))
	defer dhcp.Process.Kill()
	testnet.WaitFor(t, 20*time.Second, "the lease write at the disk's fsync", func() bool { return slow.Waiting() > 0 })
	if n := a.pingEvery("10.230.0.3", 20, "0.05"); n != 20 {
		t.Fatalf("%d of 20 echoes while the disk holds the lease write", n)
	}
	if out := client.Run("ip", "-4", "-o", "addr", "show", "dev", pc); strings.Contains(out, "inet ") {
		t.Fatalf("the client has an address before its lease is on disk: %s", out)
	}

	vs.cmd.Process.Signal(syscall.SIGQUIT)
	// The dump is written at once; the exit waits for the fsync in flight
	// (the kernel ends a process's AIO first), so the disk answers now.
	testnet.WaitFor(t, 10*time.Second, "the goroutine dump", func() bool { return strings.Contains(vs.log.String(), "goroutine 1 ") })
	slow.Release()
	select {
	case <-vs.done:
	case <-time.After(10 * time.Second):
		t.Fatal("vswitch did not exit on SIGQUIT")
	}
	state := slowfs.State(vs.log.String(), "dhcp.(*Store).writeAtomic")
	if !strings.HasPrefix(state, "IO wait") {
		t.Fatalf("the lease write waits for the disk in state %q, want IO wait", state)
	}
}
