package vswitch

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// FuzzSendOffload puts frames with arbitrary virtio-net headers (any
// flags, GSO type and size, csum_start, csum_offset, hdr_len) on a port
// without the header and on one with it, as the switch's egress does.
// Each frame either leaves or is dropped as exactly one bad_offload, and
// never both. Without a header: a non-GSO frame leaves with its partial
// checksum finished (verified by a full recomputation) and nothing else
// changed; a GSO frame leaves as the segments segmentChecker verifies.
// With a header: a frame leaves unchanged, except a GSO frame that names
// no partial checksum (DATA_VALID), which leaves in the partial form with
// csum_start, csum_offset and hdr_len from refLayout and a pseudo-header
// sum that completes to a verifying checksum.
func FuzzSendOffload(f *testing.F) {
	tcp4 := tcpFrame(f, false, 7, 1, true, true, false, pattern(3000))
	tcp6 := tcpFrame(f, true, 7, 1, true, true, false, pattern(3000))
	udp4 := udpFrame(f, false, 7, pattern(3000))
	udp6 := withHopByHop(udpFrame(f, true, 7, pattern(3000)))
	for _, sd := range []struct {
		b                   []byte
		flags, gso          uint8
		hdrLen, size, start uint16
		off                 uint16
	}{
		{tcp4, 1, 1, 66, 1448, 34, 16}, {tcp4, 2, 1, 0, 1448, 0, 0}, {tcp4, 2, 1, 66, 1, 0, 0},
		{tcp6, 1, 4, 86, 1428, 54, 16}, {tcp6, 2, 4, 0, 1428, 0, 0}, {tcp6, 0, 4, 0, 1428, 0, 0},
		{udp4, 1, 5, 42, 1200, 34, 6}, {udp4, 2, 5, 0, 1200, 0, 0}, {udp4, 2, 3, 0, 1200, 0, 0},
		{udp6, 1, 5, 70, 1200, 62, 6}, {udp6, 2, 5, 0, 1200, 0, 0},
		{tcp4, 1, 0, 0, 0, 34, 16}, {tcp4[:200], 1, 0, 0, 0, 34, 180}, {tcp4, 1, 0, 0, 0, 3000, 16},
		{tcp4, 2, 0x81, 9999, 1448, 0, 0}, {tcp4, 2, 4, 0, 1448, 0, 0}, {tcp4[:40], 2, 1, 0, 1448, 0, 0},
	} {
		f.Add(sd.b, sd.flags, sd.gso, sd.hdrLen, sd.size, sd.start, sd.off)
	}
	f.Fuzz(func(t *testing.T, b []byte, flags, gsoType uint8, hdrLen, gsoSize, csumStart, csumOffset uint16) {
		if len(b) > BigDataLen || len(b) < pkt.EthernetLen {
			return
		}
		h := pkt.VirtioNetHdr{Flags: flags, GSOType: gsoType, HdrLen: hdrLen, GSOSize: gsoSize, CsumStart: csumStart, CsumOffset: csumOffset}
		if h == (pkt.VirtioNetHdr{}) {
			return // the switch sends such frames as they are
		}
		for _, feat := range []Features{0, FeatVNetHdr} {
			p := newSwPort(PortConfig{Name: "out", Queue: 2048}, &memPort{feat: feat})
			fr := NewBigFrame()
			fr.SetData(b)
			fr.VNet = h
			var c *segmentChecker
			if feat == 0 && h.IsGSO() {
				c = newSegmentChecker(t, b, gsoType, int(gsoSize))
			}
			p.sendOffload(fr, egressUntagged)
			drops := p.stats.drops[DropBadOffload].Load()
			var out []*Frame
			var buf [BatchSize]*Frame
			for n := p.q.Take(buf[:]); n > 0; n = p.q.Take(buf[:]) {
				out = append(out, buf[:n]...)
			}
			if drops > 1 || drops == 1 && len(out) != 0 || drops == 0 && len(out) == 0 {
				t.Fatalf("feat %d: %d bad_offload drops and %d frames out", feat, drops, len(out))
			}
			switch {
			case c != nil:
				for _, s := range out {
					if s.VNet != (pkt.VirtioNetHdr{}) {
						t.Fatalf("a segment left with header %+v", s.VNet)
					}
					c.segment(s.Bytes())
				}
				c.done(drops)
			case feat == 0:
				checkFinished(t, b, h, out, drops)
			default:
				checkPassed(t, b, h, out, drops)
			}
			for _, s := range out {
				s.Release()
			}
		}
	})
}

// checkFinished checks what a port without a vnet header got of the
// non-GSO frame b with header h (see FuzzSendOffload).
func checkFinished(t *testing.T, b []byte, h pkt.VirtioNetHdr, out []*Frame, drops uint64) {
	start, field := int(h.CsumStart), int(h.CsumStart)+int(h.CsumOffset)
	partial := h.Flags&pkt.VirtioNetHdrFNeedsCsum != 0
	if partial && (start >= len(b) || field+2 > len(b)) {
		if drops != 1 {
			t.Fatalf("a checksum field outside the frame was not dropped (start %d field %d len %d)", start, field, len(b))
		}
		return
	}
	if drops != 0 || len(out) != 1 {
		t.Fatalf("%d drops, %d frames for a frame that can be finished", drops, len(out))
	}
	got := out[0].Bytes()
	if out[0].VNet != (pkt.VirtioNetHdr{}) {
		t.Fatalf("left with header %+v", out[0].VNet)
	}
	if !partial {
		if !bytes.Equal(got, b) {
			t.Fatal("a frame with no checksum to finish changed")
		}
		return
	}
	if !bytes.Equal(got[:field], b[:field]) || !bytes.Equal(got[field+2:], b[field+2:]) {
		t.Fatal("finishing changed more than the checksum field")
	}
	// The field held the pseudo-header sum; with the checksum in its place
	// everything from csum_start on must sum to zero (0xffff) with it. (A
	// field at an odd offset makes no checksum: the sender's fault.)
	ph := binary.BigEndian.Uint16(b[field:])
	if h.CsumOffset%2 == 0 && onesAdd(sumRef(got[start:]), ph) != 0xffff {
		t.Fatalf("checksum %#04x does not complete the pseudo-header sum %#04x", binary.BigEndian.Uint16(got[field:]), ph)
	}
}

// checkPassed checks what a vnet port got of b with header h (see
// FuzzSendOffload).
func checkPassed(t *testing.T, b []byte, h pkt.VirtioNetHdr, out []*Frame, drops uint64) {
	if !h.IsGSO() || h.Flags&pkt.VirtioNetHdrFNeedsCsum != 0 {
		if drops != 0 || len(out) != 1 || out[0].VNet != h || !bytes.Equal(out[0].Bytes(), b) {
			t.Fatalf("%d drops, %d frames: a frame the kernel finishes was not passed on unchanged", drops, len(out))
		}
		return
	}
	l4, hdr, proto, v4, ok := refLayout(b, h.GSOType, int(h.GSOSize))
	if !ok {
		if drops != 1 {
			t.Fatalf("a malformed DATA_VALID super-frame passed (%d drops)", drops)
		}
		return
	}
	if drops != 0 || len(out) != 1 {
		t.Fatalf("%d drops, %d frames for a well-formed DATA_VALID super-frame", drops, len(out))
	}
	off := 16
	if proto == pkt.ProtoUDP {
		off = 6
	}
	want := h
	want.Flags, want.CsumStart, want.CsumOffset, want.HdrLen = pkt.VirtioNetHdrFNeedsCsum, uint16(l4), uint16(off), uint16(hdr)
	got := out[0].Bytes()
	if out[0].VNet != want {
		t.Fatalf("header %+v, want %+v", out[0].VNet, want)
	}
	if !bytes.Equal(got[:l4+off], b[:l4+off]) || !bytes.Equal(got[l4+off+2:], b[l4+off+2:]) {
		t.Fatal("the super-frame changed beyond its checksum field")
	}
	// Finishing the partial sum as the kernel does must give a checksum
	// that verifies against the pseudo-header.
	fin := append([]byte(nil), got...)
	binary.BigEndian.PutUint16(fin[l4+off:], ^sumRef(fin[l4:]))
	if sumRef(pseudoRef(fin, v4, l4, proto), fin[l4:]) != 0xffff {
		t.Fatal("the partial sum does not complete to a verifying checksum")
	}
}
