package testnet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// RequireRoot skips the test when not root, unless VSWITCH_E2E=1 asks for
// the end-to-end tests to run, in which case not being root fails it.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("VSWITCH_E2E") == "1" {
		t.Fatal("VSWITCH_E2E=1 but not root: end-to-end tests cannot run")
	}
	t.Skip("end-to-end test: needs root (set VSWITCH_E2E=1 to make this a failure)")
}

// RequireKernel fails (under VSWITCH_E2E=1) or skips when the kernel
// lacks what a test needs (ok false): CI's kernel has it, and a skip there
// would hide the check.
func RequireKernel(t testing.TB, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("VSWITCH_E2E") == "1" {
		t.Fatalf("VSWITCH_E2E=1 but this kernel has no %s", what)
	}
	t.Skipf("this kernel has no %s (set VSWITCH_E2E=1 to make this a failure)", what)
}

// RequireCommands fails (under VSWITCH_E2E=1) or skips when a tool is missing.
func RequireCommands(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("VSWITCH_E2E") == "1" {
				t.Fatalf("%s is not installed (.ci/run installs it)", n)
			}
			t.Skipf("%s is not installed", n)
		}
	}
}

var seq atomic.Uint32

// Name returns a short unique name with the project prefix, within the
// 15-byte limit of Linux interface names: "vst" + tag + a counter.
func Name(tag string) string { return PrefixName("vst", tag) }

// PrefixName is Name with another prefix, for a package whose names must
// not be mistaken for the end-to-end tests' (the prefix + pid tells whose
// leftovers a name is).
func PrefixName(prefix, tag string) string {
	n := fmt.Sprintf("%s%s%d%d", prefix, tag, os.Getpid()%1000, seq.Add(1))
	if len(n) > 15 {
		n = n[:15]
	}
	return n
}

// Run runs a command, failing the test with its output on error.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := Output(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// Output runs a command with a one-minute limit and returns its combined output.
func Output(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

// Netns is a named network namespace.
type Netns struct {
	Name string
	t    testing.TB
}

// NewNetns creates a namespace with loopback up and deletes it at cleanup.
func NewNetns(t testing.TB, tag string) *Netns {
	t.Helper()
	n := &Netns{Name: Name(tag), t: t}
	Run(t, "ip", "netns", "add", n.Name)
	t.Cleanup(func() { Output("ip", "netns", "del", n.Name) })
	n.Run("ip", "link", "set", "lo", "up")
	return n
}

// Run runs a command inside the namespace and returns its output; it
// fails the test on error.
func (n *Netns) Run(name string, args ...string) string {
	n.t.Helper()
	return Run(n.t, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Output runs a command inside the namespace and returns output and error.
func (n *Netns) Output(name string, args ...string) (string, error) {
	return Output("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Command returns an unstarted command inside the namespace.
func (n *Netns) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Start starts a long-running command in the namespace (a server) and
// ends it, by its PID, at cleanup.
func (n *Netns) Start(name string, args ...string) *exec.Cmd {
	n.t.Helper()
	cmd := n.Command(context.Background(), name, args...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("start %s in %s: %v", name, n.Name, err)
	}
	n.t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// Veth creates a veth pair: one end stays in the root namespace (returned
// first), the other moves into ns (nil: stays in the root namespace too).
// Both are up; the pair is deleted at cleanup.
func Veth(t testing.TB, tag string, ns *Netns) (root, peer string) {
	t.Helper()
	root, peer = Name(tag+"a"), Name(tag+"b")
	Run(t, "ip", "link", "add", root, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { Output("ip", "link", "del", root) })
	if ns != nil {
		Run(t, "ip", "link", "set", peer, "netns", ns.Name)
		ns.Run("ip", "link", "set", peer, "up")
	} else {
		Run(t, "ip", "link", "set", peer, "up")
	}
	Run(t, "ip", "link", "set", root, "up")
	return root, peer
}

// WaitFor polls cond every 50 ms until it holds or the timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
