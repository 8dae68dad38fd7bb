package tap

import (
	"testing"

	"golang.org/x/sys/unix"

	vswitch "github.com/vswitch/vswitch/switch"
)

// BenchmarkVXLANWrite sends a 63000-byte TCP stream chunk over loopback:
// as one TSO super-frame (cut by the segmenter, sent as UDP-GSO runs) and
// as the 45 complete segments the switch hands a port without offloads
// (one datagram each; their segmentation not counted).
func BenchmarkVXLANWrite(b *testing.B) {
	a := openVX(b, "127.0.0.1", map[uint16]uint32{10: 1010}, "127.0.0.2")
	// The far port is open but not read: its kernel segments what comes
	// in and drops it once the buffer is full, the same for both ways.
	openVX(b, "127.0.0.2", map[uint16]uint32{10: 1010}, "127.0.0.1")
	payload := make([]byte, 63000)
	b.Run("gso", func(b *testing.B) {
		if !a.gso {
			b.Skip("no UDP_SEGMENT")
		}
		f := tsoFrame(b, 10, 1400, payload)
		defer f.Release()
		out := []*vswitch.Frame{f}
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			a.WriteBatch(out)
		}
	})
	b.Run("segments", func(b *testing.B) {
		var out []*vswitch.Frame
		for _, s := range refSegments(b, 1400, payload) {
			f := vswitch.NewFrame()
			f.SetData(append(append(append([]byte(nil), s[:12]...), 0x81, 0, 0, 10), s[12:]...))
			out = append(out, f)
		}
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			a.WriteBatch(out)
		}
	})
}

// BenchmarkSyscallFloor is the cost of entering and leaving the kernel
// for nothing (getppid): the part of each TAP read and write that
// batching system calls (io_uring) could save; the work inside them
// (copies, the receiving host's stack) it could not.
func BenchmarkSyscallFloor(b *testing.B) {
	for b.Loop() {
		unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	}
}
