package vswitch

import (
	"bytes"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestComplete: what a Router gets from Complete. A partial checksum is
// finished in f itself (one emit, the header cleared); a super-frame is
// cut into the reference segments; a checksum field past the end or a
// super-frame past the segment bound emits nothing and reports false,
// and Segmentable says so beforehand.
func TestComplete(t *testing.T) {
	full := tcpFrame(t, false, 1, 1, false, true, false, []byte("hello, world"))
	partial := bytes.Clone(full)
	ph := pkt.PseudoHeaderChecksum(6, full[26:30], full[30:34], uint16(len(full)-34))
	partial[34+16], partial[34+17] = byte(ph>>8), byte(ph)
	f := NewFrame()
	defer f.Release()
	f.SetData(partial)
	f.VNet = pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, CsumStart: 34, CsumOffset: 16}
	var got []*Frame
	if !Complete(f, func(s *Frame) { got = append(got, s) }) || len(got) != 1 || got[0] != f || !bytes.Equal(f.Bytes(), full) || f.VNet != (pkt.VirtioNetHdr{}) {
		t.Fatalf("partial: %d emitted, % x, %+v", len(got), f.Bytes(), f.VNet)
	}
	f.SetData(partial[:40])
	f.VNet = pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, CsumStart: 34, CsumOffset: 16}
	if Complete(f, func(*Frame) { t.Fatal("emitted a frame whose field is past its end") }) {
		t.Fatal("accepted a checksum field past the end")
	}

	payload := pattern(5000)
	super := NewBigFrame()
	defer super.Release()
	for _, tt := range []struct {
		mss  uint16
		want [][]byte // nil: refused
	}{
		{1448, segmentRef(t, false, false, payload, 1448)},
		{1, nil},
	} {
		super.SetData(tcpFrame(t, false, 100, 1000, true, true, true, payload))
		super.VNet = pkt.VirtioNetHdr{GSOType: pkt.VirtioNetHdrGSOTCPv4, GSOSize: tt.mss, Flags: pkt.VirtioNetHdrFDataValid}
		var segs [][]byte
		ok := Complete(super, func(s *Frame) { segs = append(segs, bytes.Clone(s.Bytes())) })
		if ok != (tt.want != nil) || Segmentable(super) != ok || len(segs) != len(tt.want) {
			t.Fatalf("mss %d: ok %v, %d segments, want %d", tt.mss, ok, len(segs), len(tt.want))
		}
		for i := range segs {
			if !bytes.Equal(segs[i], tt.want[i]) {
				t.Fatalf("mss %d: segment %d\n% x\nwant\n% x", tt.mss, i, segs[i], tt.want[i])
			}
		}
	}
}
