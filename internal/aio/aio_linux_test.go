package aio

import (
	"os"
	"path/filepath"
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

// slowFile is a Syncer and a file with data to sync on a slow
// filesystem; the fsyncs are let through when the test ends, before the
// Syncer closes (its Close waits for a Sync in progress).
func slowFile(t *testing.T) (*slowfs.FS, *Syncer, *os.File) {
	t.Helper()
	slow := slowfs.Mount(t)
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f, err := os.Create(filepath.Join(slow.Dir, "leases.json"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	t.Cleanup(slow.Release)
	f.WriteString("lease")
	return slow, s, f
}

// TestSyncHoldsNoThread: while the disk has not answered (a FUSE
// filesystem that holds the fsync), the goroutine in Sync is parked in
// Go's poller like one reading a socket ("IO wait"), not in a system call
// holding its thread ("syscall"), which is what File.Sync does.
func TestSyncHoldsNoThread(t *testing.T) {
	slow, s, f := slowFile(t)
	done := make(chan error, 1)
	go func() { done <- s.Sync(f) }()
	slow.WaitFsync(t)
	time.Sleep(50 * time.Millisecond) // the goroutine parks
	if st := slowfs.State(slowfs.Dump(), "aio.(*Syncer).Sync"); !strings.HasPrefix(st, "IO wait") {
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

// TestSyncFails: an fsync the disk fails (EIO, from the FUSE filesystem)
// is reported as failed, with its errno: never as done.
func TestSyncFails(t *testing.T) {
	slow, s, f := slowFile(t)
	slow.Fail(unix.EIO)
	slow.Release()
	if err := s.Sync(f); !errorIs(err, unix.EIO) {
		t.Fatalf("sync on a failing disk: %v, want EIO", err)
	}
	if slow.Waiting() != 1 || !s.Async() {
		t.Fatalf("%d fsyncs reached the disk, async %v: want 1 through AIO", slow.Waiting(), s.Async())
	}
}
