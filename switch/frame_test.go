package vswitch

import (
	"bytes"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// pattern returns n bytes that differ from their neighbours, so a lost,
// doubled or shifted byte shows.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// TestPromote reads frames longer than the small buffer the way drivers
// do (head into RxBuf, the rest into a spill) and checks that Promote keeps
// every byte and the metadata; a frame too long for the big class is cut
// to exactly BigDataLen.
func TestPromote(t *testing.T) {
	for _, n := range []int{SmallDataLen + 1, SmallDataLen + 1000, 9018, 65535, BigDataLen, BigDataLen + 100} {
		want := pattern(n)
		f := NewFrame()
		rx := f.RxBuf()
		if len(rx) != SmallDataLen {
			t.Fatalf("RxBuf is %d bytes, want %d", len(rx), SmallDataLen)
		}
		copy(rx, want)
		f.VNet = pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, GSOType: pkt.VirtioNetHdrGSOTCPv4, GSOSize: 1448, CsumStart: 34, CsumOffset: 16, HdrLen: 66}
		f.SetRxTCI(3<<13 | 42)
		b := f.Promote(want[SmallDataLen:])
		keep := min(n, BigDataLen)
		if b.Len() != keep || !bytes.Equal(b.Bytes(), want[:keep]) {
			t.Fatalf("%d bytes: promoted frame has %d, first difference at %d", n, b.Len(), firstDiff(b.Bytes(), want))
		}
		if !b.big || b.off != Headroom {
			t.Fatalf("%d bytes: big %v off %d", n, b.big, b.off)
		}
		if tci, ok := b.RxTCI(); !ok || tci != 3<<13|42 || b.VNet.GSOSize != 1448 || b.VNet.CsumStart != 34 || b.VNet.HdrLen != 66 {
			t.Fatalf("%d bytes: metadata lost: tci %#x %v vnet %+v", n, tci, ok, b.VNet)
		}
		b.Release()
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestJumboCrossesSwitch sends frames longer than the small buffer through
// the switch: they are promoted on read, keep every byte, take a tag on a
// trunk and are flooded as big clones.
func TestJumboCrossesSwitch(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("a", 10), access("b", 10), trunk("t", 0, 10))
	for _, n := range []int{SmallDataLen - 2, SmallDataLen + 1, 9018} {
		b := pattern(n)
		copy(b, frame(pkt.Broadcast, mac(1))[:14])
		s.ports["a"].in <- b
		if got := s.ports["b"].expect(t); !bytes.Equal(got, b) {
			t.Fatalf("%d bytes: access port got %d, first difference at %d", n, len(got), firstDiff(got, b))
		}
		if got, want := s.ports["t"].expect(t), withTCI(b, 10); !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: trunk got %d, first difference at %d", n, len(got), firstDiff(got, want))
		}
	}
	// Back from the trunk: the tag is popped from a big frame.
	b := pattern(9018)
	copy(b, frame(pkt.Broadcast, mac(2))[:14])
	s.ports["t"].in <- withTCI(b, 10)
	for _, p := range []string{"a", "b"} {
		if got := s.ports[p].expect(t); !bytes.Equal(got, b) {
			t.Fatalf("port %s got %d bytes, first difference at %d", p, len(got), firstDiff(got, b))
		}
	}
}
