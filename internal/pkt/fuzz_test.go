package pkt

import (
	"bytes"
	"encoding/binary"
	"net"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// seedFrames are an untagged and a tagged frame, cut at the lengths where
// the views change their minds, and an 802.3 frame.
func seedFrames() [][]byte {
	untagged := make([]byte, 60)
	Ethernet(untagged).Encode(&EthernetFields{Dst: Broadcast, Src: MAC{0x52, 0x54, 0, 0, 0, 1}, Type: TypeARP})
	tag := make([]byte, 64)
	Ethernet(tag).Encode(&EthernetFields{Dst: Broadcast, Src: MAC{0x52, 0x54, 0, 0, 0, 1}, Type: TypeVLAN})
	binary.BigEndian.PutUint16(tag[14:], 0xa00a)
	binary.BigEndian.PutUint16(tag[16:], TypeIPv4)
	llc := append([]byte(nil), untagged...)
	binary.BigEndian.PutUint16(llc[12:], 46) // an 802.3 length
	return [][]byte{untagged, tag, {}, make([]byte, 13), tag[:14], tag[:17], tag[:18], llc}
}

// FuzzEthernet checks the Ethernet and 802.1Q views against gopacket's
// decoders, and the MAC helpers against the bytes they come from.
func FuzzEthernet(f *testing.F) {
	for _, b := range seedFrames() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e := Ethernet(b)
		var le layers.Ethernet
		err := le.DecodeFromBytes(b, gopacket.NilDecodeFeedback)
		if e.Valid() != (err == nil) {
			t.Fatalf("Valid %v on %d bytes, gopacket %v", e.Valid(), len(b), err)
		}
		if !e.Valid() {
			return
		}
		dst, src := e.Dst(), e.Src()
		if !bytes.Equal(le.DstMAC, dst[:]) || !bytes.Equal(le.SrcMAC, src[:]) {
			t.Fatalf("addresses %v %v, gopacket %v %v", dst, src, le.DstMAC, le.SrcMAC)
		}
		if e.Type() >= MinEtherType {
			if uint16(le.EthernetType) != e.Type() || le.Length != 0 {
				t.Fatalf("type %#x, gopacket %#x length %d", e.Type(), le.EthernetType, le.Length)
			}
		} else if le.Length != e.Type() || le.EthernetType != layers.EthernetTypeLLC {
			t.Fatalf("802.3 length %d, gopacket %d %v", e.Type(), le.Length, le.EthernetType)
		}
		if !bytes.Equal(e.Payload(), b[EthernetLen:]) {
			t.Fatal("payload is not what follows the header")
		}
		checkMAC(t, dst)
		checkMAC(t, src)

		// Encode and the setters write back exactly what was read.
		out := make([]byte, EthernetLen)
		Ethernet(out).Encode(&EthernetFields{Dst: dst, Src: src, Type: e.Type()})
		if !bytes.Equal(out, b[:EthernetLen]) {
			t.Fatalf("re-encode % x, want % x", out, b[:EthernetLen])
		}
		sw := Ethernet(make([]byte, EthernetLen))
		sw.SetDst(src)
		sw.SetSrc(dst)
		sw.SetType(^e.Type())
		if sw.Dst() != src || sw.Src() != dst || sw.Type() != ^e.Type() {
			t.Fatalf("setters: % x", sw)
		}

		if !IsTPID(e.Type()) {
			return
		}
		v := VLAN(b)
		var lq layers.Dot1Q
		qerr := lq.DecodeFromBytes(b[EthernetLen:], gopacket.NilDecodeFeedback)
		if v.Valid() != (qerr == nil) {
			t.Fatalf("tag Valid %v on %d bytes, gopacket %v", v.Valid(), len(b), qerr)
		}
		if !v.Valid() {
			return
		}
		dei := v.TCI()&0x1000 != 0
		if v.TPID() != e.Type() || lq.VLANIdentifier != v.VID() || lq.Priority != v.PCP() || lq.DropEligible != dei ||
			uint16(lq.Type) != v.InnerType() {
			t.Fatalf("tag vid %d pcp %d dei %v type %#x, gopacket %+v", v.VID(), v.PCP(), dei, v.InnerType(), lq)
		}
		if v.TCI() != uint16(v.PCP())<<13|v.TCI()&0x1000|v.VID() {
			t.Fatalf("TCI %#04x is not PCP|DEI|VID", v.TCI())
		}
	})
}

// checkMAC compares the MAC helpers with the standard library and plain
// byte arithmetic.
func checkMAC(t *testing.T, m MAC) {
	t.Helper()
	if s := net.HardwareAddr(m[:]).String(); m.String() != s {
		t.Fatalf("String %q, net %q", m.String(), s)
	}
	var w [8]byte
	copy(w[2:], m[:])
	if u := binary.BigEndian.Uint64(w[:]); m.Uint64() != u || MACFromUint64(u) != m {
		t.Fatalf("Uint64 %#x, want %#x", m.Uint64(), u)
	}
	if m.IsMulticast() != (m[0]&1 == 1) || m.IsZero() != (m == MAC{}) {
		t.Fatalf("predicates on %v", m)
	}
	txt, err := m.MarshalText()
	var back MAC
	if err != nil || back.UnmarshalText(txt) != nil || back != m {
		t.Fatalf("text round trip %q -> %v", txt, back)
	}
}

// FuzzTagRoundTrip pushes a fuzzed tag, checks it against gopacket's
// 802.1Q decoder (PCP, DEI and VID kept), pops it and expects the frame
// back; the headroom before and the payload after never move.
func FuzzTagRoundTrip(f *testing.F) {
	for i, b := range seedFrames() {
		f.Add(b, uint16(TypeVLAN), uint16(0xa00a+i), uint8(i))
	}
	f.Add(seedFrames()[0], uint16(TypeQinQ), uint16(0xffff), uint8(0))
	f.Add(seedFrames()[0], uint16(TypeVLAN), uint16(0x1000), uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, tpid, tci uint16, extra uint8) {
		if !Ethernet(b).Valid() {
			return
		}
		head := VLANTagLen + int(extra%16)
		buf := make([]byte, head+len(b))
		for i := range head {
			buf[i] = byte(0xa0 + i)
		}
		copy(buf[head:], b)
		orig := append([]byte(nil), buf...)
		off := PushTag(buf, head, tpid, tci)
		if off != head-VLANTagLen {
			t.Fatalf("PushTag returned %d, want %d", off, head-VLANTagLen)
		}
		if !bytes.Equal(buf[:off], orig[:off]) {
			t.Fatal("PushTag wrote into the headroom before the tag")
		}
		if !bytes.Equal(buf[head+12:], orig[head+12:]) {
			t.Fatal("PushTag moved the payload")
		}
		tv := VLAN(buf[off:])
		te := Ethernet(buf[off:])
		if !tv.Valid() || te.Dst() != Ethernet(b).Dst() || te.Src() != Ethernet(b).Src() || tv.TPID() != tpid ||
			tv.TCI() != tci || tv.InnerType() != Ethernet(b).Type() {
			t.Fatalf("pushed tag reads back wrong: % x", buf[off:off+VLANHeaderLen])
		}
		var lq layers.Dot1Q
		if err := lq.DecodeFromBytes(buf[off+EthernetLen:], gopacket.NilDecodeFeedback); err != nil {
			t.Fatal(err)
		}
		if tv.PCP() != uint8(tci>>13) || lq.Priority != tv.PCP() || lq.DropEligible != (tci&0x1000 != 0) ||
			tv.VID() != tci&0x0fff || lq.VLANIdentifier != tv.VID() {
			t.Fatalf("tci %#04x: pcp %d vid %d, gopacket %+v", tci, tv.PCP(), tv.VID(), lq)
		}
		tv.SetTCI(^tci)
		if tv.TCI() != ^tci || binary.BigEndian.Uint16(buf[off+14:]) != ^tci {
			t.Fatalf("SetTCI %#04x reads %#04x", ^tci, tv.TCI())
		}
		tv.SetTCI(tci)
		if got := PopTag(buf, off); got != head {
			t.Fatalf("PopTag returned %d, want %d", got, head)
		}
		if !bytes.Equal(buf[head:], b) {
			t.Fatalf("push then pop changed the frame:\n% x\nwant % x", buf[head:], b)
		}
		if !bytes.Equal(buf[:off], orig[:off]) {
			t.Fatal("PopTag wrote into the headroom")
		}
	})
}

// FuzzVirtioNetHdr decodes against a byte-by-byte little-endian reading,
// checks that encode is decode's inverse, and that Shift moves exactly the
// offsets the flags say are in use.
func FuzzVirtioNetHdr(f *testing.F) {
	f.Add([]byte{1, 1, 54, 0, 0xa8, 5, 34, 0, 16, 0}, int8(4))
	f.Add(make([]byte, VirtioNetHdrLen), int8(-4))
	f.Add([]byte{0, 0x81, 54, 0, 0xa8, 5, 34, 0, 16, 0}, int8(4))
	f.Add([]byte{1, 0x80, 54, 0, 0xa8, 5, 34, 0, 16, 0}, int8(-4))
	f.Add([]byte{3, 4, 0, 0, 0xa8, 5, 2, 0, 16, 0}, int8(-4))
	f.Fuzz(func(t *testing.T, b []byte, delta int8) {
		if len(b) < VirtioNetHdrLen {
			return
		}
		le := func(i int) uint16 { return uint16(b[i]) | uint16(b[i+1])<<8 }
		var h VirtioNetHdr
		h.Decode(b)
		want := VirtioNetHdr{Flags: b[0], GSOType: b[1], HdrLen: le(2), GSOSize: le(4), CsumStart: le(6), CsumOffset: le(8)}
		if h != want {
			t.Fatalf("decode % x: %+v, want %+v", b[:VirtioNetHdrLen], h, want)
		}
		if h.IsGSO() != (b[1]&0x7f != 0) {
			t.Fatalf("IsGSO %v for type %#x", h.IsGSO(), b[1])
		}
		out := make([]byte, VirtioNetHdrLen)
		h.Encode(out)
		if !bytes.Equal(out, b[:VirtioNetHdrLen]) {
			t.Fatalf("round trip % x -> % x", b[:VirtioNetHdrLen], out)
		}

		d := int(delta)
		s := h
		s.Shift(d)
		want = h
		if h.Flags&VirtioNetHdrFNeedsCsum != 0 {
			want.CsumStart = uint16(int(h.CsumStart) + d)
		}
		if h.IsGSO() && h.HdrLen != 0 {
			want.HdrLen = uint16(int(h.HdrLen) + d)
		}
		if s != want {
			t.Fatalf("Shift(%d) of %+v: %+v, want %+v", d, h, s, want)
		}
		// Shifting back restores the header unless an offset wrapped or
		// HdrLen became 0 ("unknown"): garbage the kernel refuses anyway.
		if int(h.CsumStart)+d < 0 || int(h.CsumStart)+d > 0xffff || int(h.HdrLen)+d <= 0 || int(h.HdrLen)+d > 0xffff {
			return
		}
		s.Shift(-d)
		if s != h {
			t.Fatalf("Shift(%d) then back: %+v, want %+v", d, s, h)
		}
	})
}

// FuzzParseMAC checks ParseMAC against net.ParseMAC and that parse, format,
// parse is the identity.
func FuzzParseMAC(f *testing.F) {
	f.Add("52:54:00:12:34:56")
	f.Add("52-54-00-12-34-5G")
	f.Add("52-54-00-ab-CD-eF")
	f.Add("52:54-00:12:34:56")
	f.Add("5254.0012.3456")
	f.Add("52:54:00:12:34:5")
	f.Add("52:54:00:12:34:567")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMAC(s)
		// net.ParseMAC wants one separator throughout; we take either at
		// each position, so give it the colon form.
		colons := s
		if len(s) == 17 {
			c := []byte(s)
			for i := 2; i < 17; i += 3 {
				if c[i] == '-' {
					c[i] = ':'
				}
			}
			colons = string(c)
		}
		hw, nerr := net.ParseMAC(colons)
		if nerr == nil && len(hw) == 6 && len(s) == 17 {
			if err != nil || !bytes.Equal(hw, m[:]) {
				t.Fatalf("%q: %v, %v; net says %v", s, m, err, hw)
			}
		} else if err == nil {
			t.Fatalf("%q accepted as %v; net says %v", s, m, nerr)
		}
		if err != nil {
			return
		}
		if m.String() != strings.ToLower(colons) {
			t.Fatalf("%q formats as %q", s, m.String())
		}
		m2, err := ParseMAC(m.String())
		if err != nil || m2 != m {
			t.Fatalf("%q -> %v -> %v, %v", s, m, m2, err)
		}
	})
}
