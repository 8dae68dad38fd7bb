package tap

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	vswitch "github.com/vswitch/vswitch/switch"
)

// recvFrame waits for one frame from a readAsync channel.
func recvFrame(t *testing.T, got chan []byte, what string) []byte {
	t.Helper()
	select {
	case f, ok := <-got:
		if !ok {
			t.Fatalf("%s: the reader stopped", what)
		}
		return f
	case <-time.After(3 * time.Second):
		t.Fatalf("%s did not arrive", what)
	}
	return nil
}

// TestQEMUHandOver: a VM connected to a QEMU port stays connected while
// the port goes to another QEMU (a new process's): the half frame the old
// reader had goes along as pending bytes and the frame arrives whole at
// the new port, with the frames after it; the new port writes to the VM;
// the old port's Close leaves the socket file and the VM's connection; a
// second VM is refused by the new port, and once the first leaves, the
// listener it took over accepts the next.
func TestQEMUHandOver(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(dir string) QEMUConfig
		dial func(q *QEMU) (net.Conn, error)
	}{
		{"unix", func(dir string) QEMUConfig { return QEMUConfig{Socket: filepath.Join(dir, "vm.sock")} },
			func(q *QEMU) (net.Conn, error) { return net.Dial("unix", q.path) }},
		{"tcp", func(string) QEMUConfig { return QEMUConfig{Listen: "127.0.0.1:0"} },
			func(q *QEMU) (net.Conn, error) { return net.Dial("tcp", q.ln.Addr().String()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg(t.TempDir())
			cfg.Name, cfg.Log = "vm", slog.New(slog.DiscardHandler)
			old, err := OpenQEMU(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer old.Close()
			oldGot := readAsync(old)
			vm, err := tc.dial(old)
			if err != nil {
				t.Fatal(err)
			}
			defer vm.Close()
			f1, f2, f3 := qframe(1, 60), qframe(2, 1514), qframe(3, 100)
			vm.Write(append(f1, f2[:700]...)) // a whole frame and part of one
			if f := recvFrame(t, oldGot, "frame 1"); string(f) != string(f1[4:]) {
				t.Fatalf("frame 1: % x", f[:14])
			}
			waitFor(t, "the old reader to take the half frame", func() bool { return unread(old) == 0 })
			h, err := old.HandOver()
			if err != nil {
				t.Fatal(err)
			}
			if string(h.Pending) != string(f2[:700]) || h.Conn < 0 || h.Listener < 0 {
				t.Fatalf("handed over %d pending bytes, conn %d, listener %d; want the 700 of frame 2", len(h.Pending), h.Conn, h.Listener)
			}
			if _, ok := <-oldGot; ok {
				t.Fatal("the old reader passed on a frame after the hand over")
			}
			if n, err := old.WriteBatch(oneFrame(60)); n != 0 || !errors.Is(err, vswitch.ErrClosed) {
				t.Fatalf("old port wrote %d after the hand over, %v", n, err)
			}
			nq, err := AdoptQEMU(cfg, h)
			if err != nil {
				t.Fatal(err)
			}
			defer nq.Close()
			old.KeepDevice()
			old.Close()
			if cfg.Socket != "" {
				if _, err := os.Stat(cfg.Socket); err != nil {
					t.Fatalf("the old port's Close removed the socket: %v", err)
				}
			}
			got := readAsync(nq)
			vm.Write(append(f2[700:], f3...))
			if f := recvFrame(t, got, "frame 2"); string(f) != string(f2[4:]) {
				t.Fatalf("frame 2 across the hand over: %d bytes % x", len(f), f[:14])
			}
			if f := recvFrame(t, got, "frame 3"); string(f) != string(f3[4:]) {
				t.Fatalf("frame 3: %d bytes % x", len(f), f[:14])
			}
			if n, err := nq.WriteBatch(oneFrame(60)); n != 1 || err != nil {
				t.Fatalf("new port write: %d %v", n, err)
			}
			b := make([]byte, 64)
			vm.SetReadDeadline(time.Now().Add(3 * time.Second))
			if _, err := io.ReadFull(vm, b); err != nil || string(b) != string(qframe(0, 60)) {
				t.Fatalf("VM read from the new port: %v % x", err, b)
			}
			// The listener went over too: a second VM is refused, then
			// served once the first leaves.
			vm2, err := tc.dial(nq)
			if err != nil {
				t.Fatal(err)
			}
			vm2.SetReadDeadline(time.Now().Add(3 * time.Second))
			if _, err := vm2.Read(b); err == nil {
				t.Fatal("a second VM was not refused")
			}
			if nq.Refused() != 1 {
				t.Fatalf("refused %d, want 1", nq.Refused())
			}
			vm.Close()
			waitFor(t, "the new port to see the VM leave", func() bool { c := nq.cur.Load(); return c != nil && c.closed.Load() })
			vm3, err := tc.dial(nq)
			if err != nil {
				t.Fatal(err)
			}
			defer vm3.Close()
			vm3.Write(qframe(4, 60))
			if f := recvFrame(t, got, "frame 4 from the next VM"); string(f) != string(qframe(4, 60)[4:]) {
				t.Fatalf("frame 4: % x", f[:14])
			}
		})
	}
}

// TestQEMUHandOverNoVM: a port with no VM hands over its listener only,
// and the new port serves the next VM.
func TestQEMUHandOverNoVM(t *testing.T) {
	cfg := QEMUConfig{Name: "vm", Socket: filepath.Join(t.TempDir(), "vm.sock"), Log: slog.New(slog.DiscardHandler)}
	old, err := OpenQEMU(cfg)
	if err != nil {
		t.Fatal(err)
	}
	readAsync(old)
	h, err := old.HandOver()
	if err != nil || h.Conn != -1 || len(h.Pending) != 0 {
		t.Fatalf("handed over %+v, %v; want the listener only", h, err)
	}
	old.KeepDevice()
	old.Close()
	nq, err := AdoptQEMU(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	defer nq.Close()
	got := readAsync(nq)
	vm, err := net.Dial("unix", cfg.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	vm.Write(qframe(5, 60))
	if f := recvFrame(t, got, "frame 5"); string(f) != string(qframe(5, 60)[4:]) {
		t.Fatalf("frame 5: % x", f[:14])
	}
}

// TestAdoptQEMURefuses: pending bytes past the bound, pending bytes
// without a VM, and a listener of the wrong kind are refused, and the
// descriptors are closed.
func TestAdoptQEMURefuses(t *testing.T) {
	cfg := QEMUConfig{Name: "vm", Socket: filepath.Join(t.TempDir(), "vm.sock"), Log: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct {
		name    string
		cfg     QEMUConfig
		pending int
		conn    bool
	}{
		{"too much pending", cfg, QEMUMaxPending + 1, true},
		{"pending without a VM", cfg, 10, false},
		{"unix listener for a listen: port", QEMUConfig{Name: "vm", Listen: "127.0.0.1:1"}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, err := OpenQEMU(cfg)
			if err != nil {
				t.Fatal(err)
			}
			readAsync(old)
			var vm net.Conn
			if tc.conn {
				if vm, err = net.Dial("unix", cfg.Socket); err != nil {
					t.Fatal(err)
				}
				defer vm.Close()
				waitFor(t, "the VM to be taken", func() bool { return old.cur.Load() != nil })
			}
			h, err := old.HandOver()
			if err != nil {
				t.Fatal(err)
			}
			old.Close() // not kept: the socket file goes once the adopted listener is closed too
			h.Pending = make([]byte, tc.pending)
			if _, err := AdoptQEMU(tc.cfg, h); !errors.Is(err, ErrNotHandedOver) {
				t.Fatalf("adopted: %v", err)
			}
			for _, fd := range []int{h.Listener, h.Conn} {
				if fd >= 0 && isOpen(fd) {
					t.Fatalf("descriptor %d left open", fd)
				}
			}
			if vm != nil { // both copies closed: the VM sees the end
				vm.SetReadDeadline(time.Now().Add(3 * time.Second))
				if _, err := vm.Read(make([]byte, 1)); err != io.EOF {
					t.Fatalf("VM read %v, want EOF", err)
				}
			}
		})
	}
}

// unread is what waits in the socket of the VM connected to q.
func unread(q *QEMU) int {
	rc, err := q.cur.Load().c.(syscall.Conn).SyscallConn()
	if err != nil {
		return -1
	}
	n := -1
	rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
	return n
}

// isOpen says whether fd is an open descriptor.
func isOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

func oneFrame(n int) []*vswitch.Frame {
	f := vswitch.NewFrame()
	f.SetData(make([]byte, n))
	return []*vswitch.Frame{f}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
