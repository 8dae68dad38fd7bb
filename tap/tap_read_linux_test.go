package tap

import (
	"encoding/binary"
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
	vswitch "github.com/vswitch/vswitch/switch"
)

// TestTAPLoneReads: while frames come alone, a frame the poller woke the
// reader for is handed on at once; frames already waiting when ReadBatch
// begins are read as one batch all the same, to EAGAIN.
func TestTAPLoneReads(t *testing.T) {
	testnet.RequireRoot(t)
	ns := testnet.NewNetns(t, "tl")
	name := testnet.Name("tl")
	tp, err := OpenTAP(TAPConfig{Name: name, Netns: ns.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	ns.Run("sysctl", "-qw", "net.ipv6.conf."+name+".disable_ipv6=1")
	ns.Run("ip", "addr", "add", "10.212.0.1/24", "dev", name)
	ns.Run("ip", "neigh", "add", "10.212.0.2", "lladdr", ourMAC.String(), "dev", name, "nud", "permanent")
	var fd int
	if err := inNetns(ns.Name, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	send := func(i byte) {
		if err := unix.Sendto(fd, []byte{i}, 0, &unix.SockaddrInet4{Port: 9, Addr: [4]byte{10, 212, 0, 2}}); err != nil {
			t.Fatal(err)
		}
	}
	// seqs reads one batch and returns the datagrams' bytes, skipping
	// anything else the kernel sends.
	seqs := func(frames int) []byte {
		fs := newFrames(frames)
		n, err := tp.ReadBatch(fs)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		for _, f := range fs[:n] {
			b := f.Bytes()
			if len(b) == 14+20+8+1 && pkt.Ethernet(b).Type() == pkt.TypeIPv4 && binary.BigEndian.Uint16(b[36:]) == 9 {
				got = append(got, b[42])
			}
		}
		return got
	}

	// One frame at a time: whether the reader was already waiting or
	// not, it reads just that frame. A frame of the kernel's own (a
	// report as the address comes up) may wake the reader first and is
	// handed on alone: read again.
	tp.lone = true
	done := make(chan []byte)
	go func() {
		for range 4 {
			if got := seqs(8); len(got) > 0 {
				done <- got
				return
			}
		}
		done <- nil
	}()
	send(1)
	if got := <-done; len(got) != 1 || got[0] != 1 {
		t.Fatalf("one frame: read %v, want [1]", got)
	}

	// A backlog: five frames wait before ReadBatch begins.
	tp.lone = true
	for i := range byte(5) {
		send(10 + i)
	}
	if got := seqs(8); string(got) != "\x0a\x0b\x0c\x0d\x0e" {
		t.Fatalf("backlog of five: read %v in one batch, want [10 11 12 13 14]", got)
	}
	if tp.lone {
		t.Error("still reading frames one at a time after a backlog")
	}
}

// TestTAPOversize: the TAP's reader (on a datagram socketpair standing in
// for the device: one readv, one frame) drops a read shorter than an
// Ethernet header as runt and one longer than the largest buffer as
// oversize, whether it ran into the spill of a small frame or of a big
// one, and the switch reads both counts (RxDrops). The frames around them
// arrive whole, the largest one that fits included.
func TestTAPOversize(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	unix.SetsockoptInt(fds[1], unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20)
	tp, err := newTAP("tapover", os.NewFile(uintptr(fds[0]), "tapover"), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	tp.keep.Store(true) // no device to unpersist: Close just closes the socket
	defer tp.Close()

	frame := func(n int, b byte) []byte {
		d := make([]byte, pkt.VirtioNetHdrLen+max(n, pkt.EthernetLen))
		pkt.Ethernet(d[pkt.VirtioNetHdrLen:]).Encode(&pkt.EthernetFields{Dst: pkt.Broadcast, Src: ourMAC, Type: 0x88b5})
		d[len(d)-1] = b
		return d
	}
	writes := [][]byte{
		frame(60, 1),
		frame(5, 0)[:pkt.VirtioNetHdrLen+5], // runt
		frame(vswitch.BigDataLen+1, 0),      // fits a small frame and its spill, but too long
		frame(vswitch.BigDataLen, 2),        // the longest that fits; the next read goes into a big frame
		frame(2*vswitch.BigDataLen, 0),      // fills a big frame and its spill
		frame(60, 3),
	}
	for _, w := range writes {
		if _, err := unix.Write(fds[1], w); err != nil {
			t.Fatal(err)
		}
	}
	fs := newFrames(vswitch.BatchSize)
	var got []int
	for len(got) < 3 {
		n, err := tp.ReadBatch(fs)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs[:n] {
			b := f.Bytes()
			got = append(got, len(b))
			if b[len(b)-1] != byte(len(got)) {
				t.Fatalf("frame %d of %d bytes ends in %d: not the one sent", len(got), len(b), b[len(b)-1])
			}
		}
	}
	if want := []int{60, vswitch.BigDataLen, 60}; !slices.Equal(got, want) {
		t.Fatalf("read frames of %v bytes, want %v", got, want)
	}
	var d [vswitch.NumDropReasons]uint64
	tp.RxDrops(&d)
	want := [vswitch.NumDropReasons]uint64{vswitch.DropRunt: 1, vswitch.DropOversize: 2}
	if d != want {
		t.Fatalf("RxDrops %v, want runt 1, oversize 2", d)
	}
}
