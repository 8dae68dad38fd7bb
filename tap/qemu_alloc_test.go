//go:build !race

package tap

import (
	"io"
	"net"
	"testing"

	vswitch "github.com/vswitch/vswitch/switch"
)

// qemuLoop is a QEMU port with a VM (a plain socket) connected and taken
// by the reader, and a frame of 64 bytes in both framings.
func qemuLoop(tb testing.TB) (q *QEMU, vm net.Conn, wire []byte, out, in []*vswitch.Frame) {
	tb.Helper()
	q = quietQEMU(tb)
	vm, err := net.Dial("unix", q.path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { vm.Close() })
	wire = qframe(7, 64)
	out, in = []*vswitch.Frame{vswitch.NewFrame()}, newFrames(vswitch.BatchSize)
	vm.Write(wire)
	if n, err := q.ReadBatch(in); n != 1 || err != nil { // takes the VM
		tb.Fatalf("first read: %d %v", n, err)
	}
	return q, vm, wire, out, in
}

// qemuRoundTrip writes a frame to the VM and reads one from it.
func qemuRoundTrip(q *QEMU, vm net.Conn, wire, back []byte, out, in []*vswitch.Frame) {
	out[0].SetData(wire[4:])
	q.WriteBatch(out)
	io.ReadFull(vm, back)
	vm.Write(wire)
	q.ReadBatch(in[:1])
}

// A WriteBatch+ReadBatch round trip through a QEMU port allocates
// nothing: the hand-over checks on the way are atomic loads.
func TestQEMUAllocs(t *testing.T) {
	q, vm, wire, out, in := qemuLoop(t)
	back := make([]byte, len(wire))
	allocs := testing.AllocsPerRun(200, func() { qemuRoundTrip(q, vm, wire, back, out, in) })
	if allocs != 0 {
		t.Fatalf("%.1f allocs per write+read round trip, want 0", allocs)
	}
}

func BenchmarkQEMURoundTrip(b *testing.B) {
	q, vm, wire, out, in := qemuLoop(b)
	back := make([]byte, len(wire))
	b.ReportAllocs()
	for b.Loop() {
		qemuRoundTrip(q, vm, wire, back, out, in)
	}
}
