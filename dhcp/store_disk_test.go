package dhcp

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/slowfs"
)

// TestStoreWaitsParked: while the disk has not answered a lease write's
// fsync (a FUSE filesystem holding it), the writing goroutine is parked
// in Go's poller ("IO wait"), holding no thread; with `cpus: 1` a thread
// held in fsync(2) ("syscall") stops every port's forwarding until the
// runtime hands the thread on. Both fsyncs (the file, then the
// directory) wait, and the lease is on disk once they are done.
func TestStoreWaitsParked(t *testing.T) {
	slow := slowfs.Mount(t)
	st, err := OpenStore(slow.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SyncErr(); err != nil {
		t.Fatalf("the store's fsyncs hold a thread: %v", err)
	}
	defer st.Close()
	defer slow.Release() // on a failure too, before Close waits for the write
	l := Lease{Network: "lab", ClientID: "mac:52:54:00:00:00:01", MAC: "52:54:00:00:00:01",
		IP: netip.MustParseAddr("10.9.0.10"), Expiry: time.Now().Add(time.Hour).Round(0), State: "bound"}
	done := make(chan error, 1)
	go func() { done <- st.Save("lab", []Lease{l}) }()
	slow.WaitFsync(t)
	time.Sleep(50 * time.Millisecond) // the goroutine parks
	if s := slowfs.State(slowfs.Dump(), "(*Store).writeAtomic"); !strings.HasPrefix(s, "IO wait") {
		t.Fatalf("the lease write waits for the disk in state %q, want IO wait", s)
	}
	slow.Release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := slow.Waiting(); n != 2 {
		t.Fatalf("%d fsyncs reached the disk, want 2 (the file, the directory)", n)
	}
	st2, err := OpenStore(slow.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if got := keys(st2.Load("lab")); len(got) != 1 || got[0] != keys([]Lease{l})[0] {
		t.Fatalf("stored %v, want %v", got, keys([]Lease{l}))
	}
}
