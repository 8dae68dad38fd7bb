package tap

import (
	"bytes"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	vswitch "github.com/vswitch/vswitch/switch"
)

// readerPair is an mmsgReader on one end of a datagram socketpair and the
// other end to write to.
func readerPair(t *testing.T, r *mmsgReader) int {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.SetsockoptInt(fds[1], unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20)
	f := os.NewFile(uintptr(fds[0]), "reader")
	t.Cleanup(func() { f.Close(); unix.Close(fds[1]) })
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	r.init(rc)
	return fds[1]
}

// TestMMsgReader: datagrams land after their prefix, big ones promoted;
// a datagram shorter than an Ethernet header is counted as runt, one
// longer than the largest buffer (or cut by the kernel) as oversize, and
// both skipped, as is what decode refuses;
// kept frames come first in order, and a slot whose frame decode promoted
// and then refused holds the promoted frame, never the released one.
func TestMMsgReader(t *testing.T) {
	var d rxDrops
	r := &mmsgReader{prefix: 2, runt: &d.runt, oversize: &d.oversize}
	r.decode = func(i, n int) (*vswitch.Frame, bool) {
		f := r.land(i, n)
		return f, r.hdr[i][0] == 'k'
	}
	w := readerPair(t, r)
	big := bytes.Repeat([]byte{0xab}, 5000)
	dgrams := [][]byte{
		append([]byte("k:"), bytes.Repeat([]byte{1}, 60)...),
		[]byte("k:short"), // less than an Ethernet header
		append([]byte("k:"), make([]byte, vswitch.BigDataLen+1)...), // fits the spill, not a big frame
		append([]byte("k:"), make([]byte, 2*vswitch.BigDataLen)...), // MSG_TRUNC
		append([]byte("d:"), big...),
		append([]byte("k:"), big...),
		append([]byte("k:"), bytes.Repeat([]byte{2}, 100)...),
	}
	for _, d := range dgrams {
		if _, err := unix.Write(w, d); err != nil {
			t.Fatal(err)
		}
	}
	frames := newFrames(8)
	n, err := r.read(frames)
	if err != nil || n != 3 {
		t.Fatalf("read: %d, %v; want 3", n, err)
	}
	for i, want := range [][]byte{dgrams[0][2:], dgrams[5][2:], dgrams[6][2:]} {
		if !bytes.Equal(frames[i].Bytes(), want) {
			t.Fatalf("frame %d: %d bytes, want %d", i, frames[i].Len(), len(want))
		}
	}
	if d.runt.Load() != 1 || d.oversize.Load() != 2 {
		t.Fatalf("runt %d oversize %d, want 1 and 2", d.runt.Load(), d.oversize.Load())
	}
	// Two datagrams were promoted, the kept one and the refused one:
	// Promote released their small frames, so two slots hold big ones.
	bigs := 0
	for _, f := range frames {
		if len(f.RxBuf()) == vswitch.BigDataLen {
			bigs++
		}
	}
	if bigs != 2 {
		t.Fatalf("%d slots hold big frames, want 2 (a released frame left in a slot)", bigs)
	}
}
