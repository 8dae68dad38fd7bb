package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// TestSimultaneousStart: two vswitches with different configs that share
// one control socket start at the same moment, ten times over. Exactly one
// serves; the other exits with "another vswitch is running on PATH" before
// it makes its own QEMU socket; the winner's control socket keeps
// answering `vswitch show ports` with the winner's port, and the winner's
// QEMU socket is untouched. Each bind(2) takes 300 ms longer (strace
// injects the delay), so the two starts overlap where they bind, however
// the scheduler orders the rest.
func TestSimultaneousStart(t *testing.T) {
	requireE2E(t, "strace")
	bin := vswitchBin(t)
	for round := range 10 {
		dir := t.TempDir()
		sock := filepath.Join(dir, "vswitch.sock")
		gate := filepath.Join(dir, "go")
		names := []string{"a", "b"}
		var ins []*instance
		for _, name := range names {
			cfg := fmt.Sprintf("control: %s\nstate_dir: %s\nmetrics: \"\"\nports:\n  - {name: %s1, type: qemu, socket: %s}\n",
				sock, filepath.Join(dir, name), name, filepath.Join(dir, name+".sock"))
			path := filepath.Join(dir, name+".yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			in := &instance{t: t, dir: dir, sock: sock, log: &lockedBuffer{}, done: make(chan struct{})}
			// Both wait at the gate, then exec vswitch (same PID) at once.
			in.start(exec.Command("sh", "-c", `while [ ! -e "$1" ]; do :; done; exec "$2" run -c "$3"`, "sh", gate, bin, path))
			t.Cleanup(func() { in.stop() })
			slowBind(t, in.cmd.Process.Pid)
			ins = append(ins, in)
		}
		if err := os.WriteFile(gate, nil, 0o644); err != nil {
			t.Fatal(err)
		}

		var win, lose int
		select {
		case <-ins[0].done:
			win, lose = 1, 0
		case <-ins[1].done:
			win, lose = 0, 1
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: both vswitches are still running on one control socket\na: %s\nb: %s", round, ins[0].log, ins[1].log)
		}
		w, l := ins[win], ins[lose]
		want := "another vswitch is running on " + sock
		if l.exitErr == nil || !strings.Contains(l.log.String(), want) {
			t.Fatalf("round %d: the loser (%s) exited with %v, want an error saying %q:\n%s", round, names[lose], l.exitErr, want, l.log)
		}
		if _, err := os.Lstat(filepath.Join(dir, names[lose]+".sock")); err == nil {
			t.Fatalf("round %d: the loser made its QEMU socket", round)
		}
		// The winner serves on the shared socket (waiting for it to finish
		// starting if the loser was quick).
		var out string
		deadline := time.Now().Add(20 * time.Second)
		for {
			o, err := w.cli("show", "ports")
			if err == nil {
				out = o
				break
			}
			select {
			case <-w.done:
				t.Fatalf("round %d: the winner (%s) exited too: %v\n%s", round, names[win], w.exitErr, w.log)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the winner does not answer on %s: %v %s\n%s", round, sock, err, o, w.log)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !strings.Contains(out, names[win]+"1") || strings.Contains(out, names[lose]+"1") {
			t.Fatalf("round %d: show ports on the shared socket:\n%s\nwant the winner's port %s1 only", round, out, names[win])
		}
		var ports []struct{ Name string }
		if err := json.Unmarshal([]byte(w.mustCLI("show", "ports", "--json")), &ports); err != nil || len(ports) != 1 || ports[0].Name != names[win]+"1" {
			t.Fatalf("round %d: show ports --json %+v %v, want the winner's port %s1", round, ports, err, names[win])
		}
		if c, err := net.Dial("unix", filepath.Join(dir, names[win]+".sock")); err != nil {
			t.Fatalf("round %d: the winner's QEMU socket: %v", round, err)
		} else {
			c.Close()
		}
		if err := w.stop(); err != nil {
			t.Fatalf("round %d: the winner's exit: %v\n%s", round, err, w.log)
		}
		if _, err := os.Lstat(sock); err == nil {
			t.Fatalf("round %d: the control socket is left after the winner stopped", round)
		}
	}
}

// slowBind attaches strace to pid (and the program it execs), delaying
// every bind(2) by 300 ms; it returns once strace is attached.
func slowBind(t *testing.T, pid int) {
	t.Helper()
	cmd := exec.Command("strace", "-f", "-p", strconv.Itoa(pid), "-o", "/dev/null", "-e", "trace=bind", "-e", "inject=bind:delay_exit=300000")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	attached := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case attached <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-attached:
		if !strings.Contains(line, "attached") {
			t.Fatalf("strace: %s", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("strace did not attach")
	}
}

// qemuAsClient connects to a qemu port (a unix socket path, or host:port)
// and sends one framed broadcast; it prints "sent", or "denied" when the
// socket's permissions refuse the connection.
const qemuAsClient = `import socket,struct,sys
to = sys.argv[1]
try:
    if to.startswith("/"):
        s = socket.socket(socket.AF_UNIX); s.connect(to)
    else:
        h, p = to.rsplit(":", 1); s = socket.create_connection((h, int(p)))
except PermissionError:
    print("denied"); sys.exit(0)
f = b"\xff"*6 + bytes.fromhex("525400c0ff" + sys.argv[2]) + b"\x88\xb5" + bytes(46)
s.sendall(struct.pack(">I", len(f)) + f)
s.close()
print("sent")
`

// TestQEMUSocketOwnerE2E: what another local user (nobody) can reach: a
// qemu port's socket with the default mode (0600, vswitch's) refuses it;
// one with socket_owner: nobody lets it be the port's VM (its frame is
// counted on that port); a listen: port lets it in as well, as
// docs/security.md says. Root connects to the default socket (the
// positive control for the refusal).
func TestQEMUSocketOwnerE2E(t *testing.T) {
	requireE2E(t, "python3", "setpriv")
	dir := t.TempDir()
	// nobody must be able to reach the sockets' directory (TempDir makes
	// it and its parent 0700).
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	sockA, sockB := filepath.Join(dir, "a.sock"), filepath.Join(dir, "b.sock")
	listen := freeAddr(t)
	vs := startVswitch(t, fmt.Sprintf(`ports:
  - {name: a, type: qemu, socket: %s}
  - {name: b, type: qemu, socket: %s, socket_owner: nobody}
  - {name: c, type: qemu, listen: %q}
`, sockA, sockB, listen))
	// The python nobody can run (a root-only pyenv shim would not do).
	py, err := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", "PATH=/usr/local/bin:/usr/bin:/bin",
		"sh", "-c", "command -v python3").Output()
	if err != nil {
		t.Fatalf("no python3 that user nobody can run: %v", err)
	}
	as := func(nobody bool, to, mac string) string {
		t.Helper()
		argv := []string{strings.TrimSpace(string(py)), "-c", qemuAsClient, to, mac}
		if nobody {
			argv = append([]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}, argv...)
		}
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	rx := func() [3]uint64 {
		p := vs.ports()
		return [3]uint64{p["a"].RxPackets, p["b"].RxPackets, p["c"].RxPackets}
	}
	for _, tt := range []struct {
		nobody bool
		to     string
		want   string
		rx     [3]uint64
	}{
		{true, sockA, "denied", [3]uint64{0, 0, 0}},
		{true, sockB, "sent", [3]uint64{0, 1, 0}},
		{true, listen, "sent", [3]uint64{0, 1, 1}},
		{false, sockA, "sent", [3]uint64{1, 1, 1}},
	} {
		if got := as(tt.nobody, tt.to, "01"); got != tt.want {
			t.Fatalf("nobody=%v to %s: %q, want %q", tt.nobody, tt.to, got, tt.want)
		}
		testnet.WaitFor(t, 5*time.Second, fmt.Sprintf("rx_packets %v after %s", tt.rx, tt.to), func() bool { return rx() == tt.rx })
	}
}
