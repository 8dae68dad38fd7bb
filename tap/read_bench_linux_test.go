package tap

import (
	"net/netip"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
	vswitch "github.com/vswitch/vswitch/switch"
)

// The read paths of the drivers, a batch of 64 frames a round:
// written by one port, read by the other. The helpers are this file's
// own, so the same file measures an older tree too.

func benchFrames(n int, b []byte) []*vswitch.Frame {
	fs := make([]*vswitch.Frame, n)
	for i := range fs {
		fs[i] = vswitch.NewFrame()
		fs[i].SetData(b)
	}
	return fs
}

// benchRead writes out from w and reads as many frames at r, per op.
func benchRead(b *testing.B, w, r vswitch.Port, out []*vswitch.Frame) {
	in := benchFrames(len(out), nil)
	b.SetBytes(int64(len(out[0].Bytes()) * len(out)))
	b.ReportAllocs()
	// CPU time as well as wall time: on a loaded machine the wall clock
	// measures the neighbours.
	var r0, r1 unix.Rusage
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	unix.Getrusage(unix.RUSAGE_THREAD, &r0)
	for b.Loop() {
		if _, err := w.WriteBatch(out); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < len(out); {
			n, err := r.ReadBatch(in)
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
	unix.Getrusage(unix.RUSAGE_THREAD, &r1)
	cpu := (r1.Utime.Nano() + r1.Stime.Nano()) - (r0.Utime.Nano() + r0.Stime.Nano())
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}

func BenchmarkAFPacketRead(b *testing.B) {
	testnet.RequireRoot(b)
	da, db := testnet.Veth(b, "rb", nil)
	pa, err := OpenAFPacket(AFPacketConfig{Device: da})
	if err != nil {
		b.Fatal(err)
	}
	defer pa.Close()
	pb, err := OpenAFPacket(AFPacketConfig{Device: db})
	if err != nil {
		b.Fatal(err)
	}
	defer pb.Close()
	frame := make([]byte, 1000)
	pkt.Ethernet(frame).Encode(&pkt.EthernetFields{Dst: pkt.Broadcast, Src: pkt.MAC{2, 0, 0, 0, 0, 1}, Type: 0x88b5})
	benchRead(b, pa, pb, benchFrames(vswitch.BatchSize, frame))
}

func BenchmarkVXLANRead(b *testing.B) {
	port := uint16(40000 + os.Getpid()%20000)
	open := func(local, remote string) *VXLAN {
		v, err := OpenVXLAN(VXLANConfig{Name: "rb", Local: netip.MustParseAddr(local), Port: port,
			VNIs: map[uint16]uint32{10: 1010}, Remotes: []netip.Addr{netip.MustParseAddr(remote)}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { v.Close() })
		return v
	}
	va, vb := open("127.0.0.1", "127.0.0.2"), open("127.0.0.2", "127.0.0.1")
	frame := make([]byte, 1000)
	pkt.Ethernet(frame).Encode(&pkt.EthernetFields{Dst: pkt.Broadcast, Src: pkt.MAC{2, 0, 0, 0, 0, 1}, Type: pkt.TypeVLAN})
	frame[14], frame[15], frame[16], frame[17] = 0, 10, 0x88, 0xb5
	benchRead(b, va, vb, benchFrames(vswitch.BatchSize, frame))
}

// BenchmarkTAPRead: the TAP's readv path, on a datagram socketpair
// standing in for the device (one read, one frame), written by a second
// TAP on the other end.
func BenchmarkTAPRead(b *testing.B) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20)
	ports := [2]*TAP{}
	for i, fd := range fds {
		if ports[i], err = newTAP("rb", os.NewFile(uintptr(fd), "rb"), 0, false); err != nil {
			b.Fatal(err)
		}
		ports[i].keep.Store(true) // no device: Close only closes the socket
		defer ports[i].Close()
	}
	frame := make([]byte, 1000)
	pkt.Ethernet(frame).Encode(&pkt.EthernetFields{Dst: pkt.Broadcast, Src: pkt.MAC{2, 0, 0, 0, 0, 1}, Type: 0x88b5})
	benchRead(b, ports[0], ports[1], benchFrames(vswitch.BatchSize, frame))
}
