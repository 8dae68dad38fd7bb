//go:build !race

// The race detector changes sync.Pool and allocates on its own: allocation
// budgets are checked without it.

package tap

import (
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
	vswitch "github.com/vswitch/vswitch/switch"
)

// A WriteBatch+ReadBatch round trip between AF_PACKET ports allocates
// nothing in steady state.
func TestAFPacketAllocs(t *testing.T) {
	testnet.RequireRoot(t)
	pa, pb := afpacketPair(t, "al")
	frame := make([]byte, 64)
	pkt.Ethernet(frame).Encode(&pkt.EthernetFields{Dst: pkt.Broadcast, Src: ourMAC, Type: 0x88b5})
	out := []*vswitch.Frame{vswitch.NewFrame()}
	in := newFrames(vswitch.BatchSize)
	// Warm up: the first frames may be the kernel's own (IPv6 on the veth).
	for range 20 {
		out[0].SetData(frame)
		pa.WriteBatch(out)
		pb.ReadBatch(in)
	}
	allocs := testing.AllocsPerRun(200, func() {
		out[0].SetData(frame)
		pa.WriteBatch(out)
		pb.ReadBatch(in[:1])
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocs per write+read round trip, want 0", allocs)
	}
}

// A VXLAN WriteBatch (a learned unicast and a replicated broadcast) and
// ReadBatch round trip allocates nothing in steady state.
func TestVXLANAllocs(t *testing.T) {
	a := openVX(t, "127.0.0.1", map[uint16]uint32{10: 1010}, "127.0.0.2")
	b := openVX(t, "127.0.0.2", map[uint16]uint32{10: 1010}, "127.0.0.1")
	macA, macB := pkt.MAC{0x52, 0x54, 0, 0, 0, 0xa}, pkt.MAC{0x52, 0x54, 0, 0, 0, 0xb}
	bc, uc := taggedFrame(pkt.Broadcast, macA, 10, "broadcast"), taggedFrame(macA, macB, 10, "unicast")
	out := []*vswitch.Frame{vswitch.NewFrame()}
	in := newFrames(1)
	out[0].SetData(bc)
	a.WriteBatch(out)
	b.ReadBatch(in) // b learns macA behind a
	allocs := testing.AllocsPerRun(200, func() {
		out[0].SetData(uc)
		b.WriteBatch(out)
		a.ReadBatch(in)
		out[0].SetData(bc)
		a.WriteBatch(out)
		b.ReadBatch(in)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocs per round trip, want 0", allocs)
	}
}

// A TSO super-frame written as UDP-GSO runs and read back as its 45
// segments allocates nothing in steady state.
func TestVXLANGSOAllocs(t *testing.T) {
	a, b := gsoPair(t)
	f := tsoFrame(t, 10, 1400, make([]byte, 63000))
	defer f.Release()
	out, in := []*vswitch.Frame{f}, newFrames(vswitch.BatchSize)
	roundTrip := func() {
		a.WriteBatch(out)
		for got := 0; got < 45; {
			n, err := b.ReadBatch(in)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	}
	for range 5 {
		roundTrip()
	}
	if allocs := testing.AllocsPerRun(50, roundTrip); allocs != 0 {
		t.Fatalf("%.1f allocs per super-frame round trip, want 0", allocs)
	}
}
