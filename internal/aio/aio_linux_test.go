package aio

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vswitch/vswitch/internal/slowfs"
)

// TestSync: a file and a directory flush through AIO, and the file's
// data is there to read.
func TestSync(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatalf("no AIO here: %v", err)
	}
	defer s.Close()
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("lease")
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, g := range []*os.File{f, d, f} {
		if err := s.Sync(g); err != nil {
			t.Fatalf("sync %s: %v", g.Name(), err)
		}
	}
	if !s.Async() {
		t.Fatal("the fsyncs did not go through AIO")
	}
	if b, _ := os.ReadFile(f.Name()); string(b) != "lease" {
		t.Fatalf("read back %q", b)
	}
	// The process's Syncer, which the lease store uses, is the same.
	if err := Sync(f); err != nil {
		t.Fatal(err)
	}
	if err := Err(); err != nil {
		t.Fatalf("the process's fsyncs hold a thread: %v", err)
	}
}

// TestSyncNotSupported: a file that takes no fsync (a pipe) gets the
// error fsync(2) gives, and the Syncer keeps using AIO for the others.
func TestSyncNotSupported(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := s.Sync(w); !errorIs(err, unix.EINVAL) {
		t.Fatalf("sync of a pipe: %v, want EINVAL", err)
	}
	if !s.Async() {
		t.Fatal("one file without fsync turned AIO off")
	}
}

func errorIs(err error, errno unix.Errno) bool {
	pe, ok := err.(*os.PathError)
	return ok && pe.Err == errno || err == errno
}

// TestSyncClosed: after Close, Sync still flushes, through File.Sync.
func TestSyncClosed(t *testing.T) {
	s, _ := New()
	s.Close()
	f, err := os.Create(filepath.Join(t.TempDir(), "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := s.Sync(f); err != nil || s.Async() {
		t.Fatalf("sync after Close: %v, async %v", err, s.Async())
	}
}

// TestSyncHoldsNoThread: while the disk has not answered (a FUSE
// filesystem that holds the fsync), the goroutine in Sync is parked in
// Go's poller like one reading a socket ("IO wait"), not in a system call
// holding its thread ("syscall"), which is what File.Sync does.
func TestSyncHoldsNoThread(t *testing.T) {
	slow := slowfs.Mount(t)
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, err := os.Create(filepath.Join(slow.Dir, "leases.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("lease")
	defer slow.Release() // on a failure too, before Close waits for Sync
	done := make(chan error, 1)
	go func() { done <- s.Sync(f) }()
	for deadline := time.Now().Add(5 * time.Second); slow.Waiting() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the fsync never reached the filesystem")
		}
	}
	time.Sleep(50 * time.Millisecond) // the goroutine parks
	if st := syncState(t); !strings.HasPrefix(st, "IO wait") {
		t.Fatalf("the goroutine in Sync is in state %q while the disk works, want IO wait", st)
	}
	select {
	case err := <-done:
		t.Fatalf("Sync returned before the disk answered: %v", err)
	default:
	}
	slow.Release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// syncState is the state of the goroutine in Syncer.Sync, from a dump of
// every goroutine.
func syncState(t *testing.T) string {
	t.Helper()
	buf := make([]byte, 1<<20)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if !strings.Contains(g, "aio.(*Syncer).Sync") {
			continue
		}
		head := strings.SplitN(g, "\n", 2)[0] // goroutine 7 [IO wait]:
		if i, j := strings.Index(head, "["), strings.LastIndex(head, "]"); i >= 0 && j > i {
			return head[i+1 : j]
		}
	}
	t.Fatal("no goroutine in Syncer.Sync")
	return ""
}

// TestSyncFails: an fsync the disk fails (EIO, from the FUSE filesystem)
// is reported as failed, with its errno: never as done.
func TestSyncFails(t *testing.T) {
	slow := slowfs.Mount(t)
	slow.Fail(unix.EIO)
	slow.Release()
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, err := os.Create(filepath.Join(slow.Dir, "leases.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("lease")
	if err := s.Sync(f); !errorIs(err, unix.EIO) {
		t.Fatalf("sync on a failing disk: %v, want EIO", err)
	}
	if slow.Waiting() != 1 || !s.Async() {
		t.Fatalf("%d fsyncs reached the disk, async %v: want 1 through AIO", slow.Waiting(), s.Async())
	}
}
