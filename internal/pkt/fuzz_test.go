package pkt

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func seedFrames(f *testing.F) {
	untagged := make([]byte, 60)
	Ethernet(untagged).Encode(&EthernetFields{Dst: Broadcast, Src: MAC{0x52, 0x54, 0, 0, 0, 1}, Type: TypeARP})
	f.Add(untagged)
	tag := make([]byte, 64)
	Ethernet(tag).Encode(&EthernetFields{Dst: Broadcast, Src: MAC{0x52, 0x54, 0, 0, 0, 1}, Type: TypeVLAN})
	binary.BigEndian.PutUint16(tag[14:], 0xa00a)
	binary.BigEndian.PutUint16(tag[16:], TypeIPv4)
	f.Add(tag)
	f.Add([]byte{})
	f.Add(make([]byte, 13))
	f.Add(tag[:17])
}

// FuzzEthernet checks the Ethernet and 802.1Q views against gopacket's
// decoder, which serves as the slow, obvious reference.
func FuzzEthernet(f *testing.F) {
	seedFrames(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		e := Ethernet(b)
		p := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.NoCopy)
		le, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if !e.Valid() {
			if le != nil {
				t.Fatalf("gopacket decoded a %d-byte frame we call invalid", len(b))
			}
			return
		}
		if le == nil {
			t.Fatalf("gopacket failed on a valid %d-byte header", len(b))
		}
		if !bytes.Equal(le.DstMAC, e.Dst().slice()) || !bytes.Equal(le.SrcMAC, e.Src().slice()) {
			t.Fatal("addresses differ from gopacket")
		}
		if e.Type() >= MinEtherType && uint16(le.EthernetType) != e.Type() {
			t.Fatalf("type %#x, gopacket %#x", e.Type(), le.EthernetType)
		}
		if e.Type() != TypeVLAN {
			return
		}
		v := VLAN(b)
		lq, _ := p.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
		if !v.Valid() {
			if lq != nil {
				t.Fatal("gopacket decoded a tag we call truncated")
			}
			return
		}
		if lq == nil {
			t.Fatal("gopacket did not decode a complete tag")
		}
		if lq.VLANIdentifier != v.VID() || lq.Priority != v.PCP() || uint16(lq.Type) != v.InnerType() {
			t.Fatalf("tag vid %d pcp %d type %#x, gopacket %+v", v.VID(), v.PCP(), v.InnerType(), lq)
		}
	})
}

func (m MAC) slice() []byte { return m[:] }

// FuzzTagRoundTrip pushes and pops a tag and expects the frame back.
func FuzzTagRoundTrip(f *testing.F) {
	seedFrames(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if !Ethernet(b).Valid() {
			return
		}
		buf := make([]byte, 8+len(b))
		copy(buf[8:], b)
		off := PushTag(buf, 8, TypeVLAN, 0x2abc)
		tv := VLAN(buf[off:])
		if !tv.Valid() || tv.TCI() != 0x2abc || tv.TPID() != TypeVLAN || tv.InnerType() != Ethernet(b).Type() {
			t.Fatalf("pushed tag reads back wrong: % x", buf[off:off+18])
		}
		off = PopTag(buf, off)
		if !bytes.Equal(buf[off:], b) {
			t.Fatal("push then pop changed the frame")
		}
	})
}

// FuzzVirtioNetHdr checks that decode and encode are inverses.
func FuzzVirtioNetHdr(f *testing.F) {
	f.Add([]byte{1, 1, 54, 0, 0xa8, 5, 34, 0, 16, 0})
	f.Add(make([]byte, VirtioNetHdrLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < VirtioNetHdrLen {
			return
		}
		var h VirtioNetHdr
		h.Decode(b)
		out := make([]byte, VirtioNetHdrLen)
		h.Encode(out)
		if !bytes.Equal(out, b[:VirtioNetHdrLen]) {
			t.Fatalf("round trip % x -> % x", b[:VirtioNetHdrLen], out)
		}
		if h.HdrLen > 0xffff-4 || h.CsumStart > 0xffff-4 {
			return // garbage offsets wrap; the kernel refuses such a header on write
		}
		h.Shift(4)
		h.Shift(-4)
		var h2 VirtioNetHdr
		h2.Decode(out)
		if h != h2 {
			t.Fatalf("shift +4 -4: %+v, want %+v", h, h2)
		}
	})
}

func FuzzParseMAC(f *testing.F) {
	f.Add("52:54:00:12:34:56")
	f.Add("52-54-00-12-34-5G")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMAC(s)
		if err != nil {
			return
		}
		m2, err := ParseMAC(m.String())
		if err != nil || m2 != m {
			t.Fatalf("%q -> %v -> %v, %v", s, m, m2, err)
		}
	})
}
