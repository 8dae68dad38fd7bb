package tap

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
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
	// not, it reads just that frame.
	tp.lone = true
	done := make(chan []byte)
	go func() { done <- seqs(8) }()
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
