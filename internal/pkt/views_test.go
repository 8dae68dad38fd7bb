package pkt

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// validCase is a buffer and whether a view's Valid must accept it.
type validCase struct {
	name string
	b    []byte
	want bool
}

// checkValid runs a view's Valid over cases.
func checkValid(t *testing.T, valid func([]byte) bool, cases []validCase) {
	t.Helper()
	for _, c := range cases {
		if got := valid(c.b); got != c.want {
			t.Errorf("%s: Valid %v, want %v", c.name, got, c.want)
		}
	}
}

func TestARP(t *testing.T) {
	a := make([]byte, ARPLen)
	f := ARPFields{Op: ARPReply, SenderMAC: MAC{0x52, 0x54, 0, 0, 0, 1}, TargetMAC: MAC{0x52, 0x54, 0, 0, 0, 2},
		SenderIP: netip.MustParseAddr("10.0.0.1"), TargetIP: netip.MustParseAddr("10.0.0.2")}
	ARP(a).Encode(&f)
	want := []byte{0, 1, 8, 0, 6, 4, 0, 2, 0x52, 0x54, 0, 0, 0, 1, 10, 0, 0, 1, 0x52, 0x54, 0, 0, 0, 2, 10, 0, 0, 2}
	if !bytes.Equal(a, want) {
		t.Fatalf("% x\nwant % x", a, want)
	}
	v := ARP(a)
	if v.Op() != ARPReply || v.SenderMAC() != f.SenderMAC || v.TargetMAC() != f.TargetMAC ||
		v.SenderIP() != f.SenderIP || v.TargetIP() != f.TargetIP {
		t.Fatalf("fields read back wrong: %d %v %v %v %v", v.Op(), v.SenderMAC(), v.SenderIP(), v.TargetMAC(), v.TargetIP())
	}
}

func TestARPValid(t *testing.T) {
	a := make([]byte, ARPLen)
	ARP(a).Encode(&ARPFields{Op: ARPRequest, SenderIP: netip.IPv4Unspecified(), TargetIP: netip.IPv4Unspecified()})
	with := func(i int, v byte) []byte {
		b := append([]byte(nil), a...)
		b[i] = v
		return b
	}
	checkValid(t, func(b []byte) bool { return ARP(b).Valid() }, []validCase{
		{"exactly ARPLen", a, true},
		{"one byte short", a[:ARPLen-1], false},
		{"longer (Ethernet padding)", append(append([]byte(nil), a...), 0, 0), true},
		{"hardware type high byte", with(0, 1), false},
		{"hardware type 6", with(1, 6), false},
		{"protocol IPv6", with(2, 0x86), false},
		{"protocol low byte", with(3, 1), false},
		{"hardware length 8", with(4, 8), false},
		{"protocol length 16", with(5, 16), false},
	})
}

func TestEthernetValid(t *testing.T) {
	b := make([]byte, EthernetLen)
	if !Ethernet(b).Valid() || Ethernet(b[:EthernetLen-1]).Valid() {
		t.Fatal("Valid at 14 / 13 bytes")
	}
	if len(Ethernet(b).Payload()) != 0 {
		t.Fatal("payload of a bare header")
	}
}

func TestVLANValid(t *testing.T) {
	b := make([]byte, VLANHeaderLen)
	if !VLAN(b).Valid() || VLAN(b[:VLANHeaderLen-1]).Valid() {
		t.Fatal("Valid at 18 / 17 bytes")
	}
}

func TestVLANTCI(t *testing.T) {
	for _, c := range []struct {
		tci uint16
		pcp uint8
		vid uint16
	}{
		{0x0000, 0, 0},
		{0xffff, 7, 0xfff},
		{0xe000, 7, 0},
		{0x2000, 1, 0},
		{0x1000, 0, 0}, // DEI alone: neither PCP nor VID
		{0x0fff, 0, 0xfff},
		{0x0001, 0, 1},
		{0x2abc, 1, 0xabc},
		{0xb00a, 5, 10},
	} {
		b := make([]byte, VLANHeaderLen)
		Ethernet(b).SetType(TypeVLAN)
		binary.BigEndian.PutUint16(b[16:], TypeIPv4)
		VLAN(b).SetTCI(c.tci)
		v := VLAN(b)
		if b[14] != byte(c.tci>>8) || b[15] != byte(c.tci) || v.TCI() != c.tci || v.PCP() != c.pcp || v.VID() != c.vid ||
			v.TPID() != TypeVLAN || v.InnerType() != TypeIPv4 {
			t.Errorf("tci %#04x: pcp %d vid %d tpid %#x inner %#x, want pcp %d vid %d",
				c.tci, v.PCP(), v.VID(), v.TPID(), v.InnerType(), c.pcp, c.vid)
		}
	}
}

func TestIsTPID(t *testing.T) {
	for _, c := range []struct {
		t    uint16
		want bool
	}{
		{TypeVLAN, true}, {TypeQinQ, true}, {TypeQinQOld, true},
		{TypeIPv4, false}, {TypeARP, false}, {TypeIPv6, false}, {0x8101, false}, {0x88a9, false}, {0x9101, false},
	} {
		if IsTPID(c.t) != c.want {
			t.Errorf("IsTPID(%#x) = %v", c.t, !c.want)
		}
	}
}

func TestPushPopTag(t *testing.T) {
	frame := []byte{1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16, 0x08, 0x00, 0xaa, 0xbb}
	buf := append([]byte{0xee, 0xee, 0xee, 0xee, 0xee}, frame...)
	off := PushTag(buf, 5, TypeVLAN, 0xb00a)
	want := []byte{0xee, 1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16, 0x81, 0x00, 0xb0, 0x0a, 0x08, 0x00, 0xaa, 0xbb}
	if off != 1 || !bytes.Equal(buf, want) {
		t.Fatalf("push: off %d % x\nwant % x", off, buf, want)
	}
	off = PopTag(buf, off)
	if off != 5 || !bytes.Equal(buf[off:], frame) || buf[0] != 0xee {
		t.Fatalf("pop: off %d % x", off, buf)
	}
}

func TestIPv4Valid(t *testing.T) {
	hdr := func(ihl byte, tl uint16, n int) []byte {
		b := make([]byte, n)
		b[0] = 0x40 | ihl
		binary.BigEndian.PutUint16(b[2:], tl)
		return b
	}
	v6 := hdr(5, 20, 20)
	v6[0] = 0x65
	checkValid(t, func(b []byte) bool { return IPv4(b).Valid() }, []validCase{
		{"20 bytes, no options", hdr(5, 20, 20), true},
		{"19 bytes", hdr(5, 19, 19), false},
		{"version 6", v6, false},
		{"IHL 4", hdr(4, 20, 20), false},
		{"IHL 6, 24 bytes", hdr(6, 24, 24), true},
		{"IHL 6, total 23", hdr(6, 23, 24), false},
		{"IHL 15, total 60", hdr(15, 60, 60), true},
		{"total one past the data", hdr(5, 41, 40), false},
		{"total shorter than the data", hdr(5, 30, 40), true},
		{"total 0", hdr(5, 0, 20), false},
	})
}

func TestIPv4Fields(t *testing.T) {
	b := []byte{
		0x46, 0xb8, 0, 30, 0x12, 0x34, 0x40 | 0x01, 0x02, 63, ProtoUDP, 0, 0,
		192, 168, 1, 2, 172, 16, 0, 9,
		1, 1, 1, 0, // NOP NOP NOP EOL
		0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6,
		0xff, 0xff, // beyond the total length
	}
	binary.BigEndian.PutUint16(b[10:], ^Checksum(b[:24], 0))
	ip := IPv4(b)
	if !ip.Valid() || ip.Version() != 4 || ip.HeaderLen() != 24 || ip.TotalLen() != 30 || ip.ID() != 0x1234 || ip.FlagsFrag() != 0x4102 ||
		ip.TTL() != 63 || ip.Protocol() != ProtoUDP || ip.Src() != netip.MustParseAddr("192.168.1.2") ||
		ip.Dst() != netip.MustParseAddr("172.16.0.9") {
		t.Fatalf("fields: %d %d %#x %#x %d %d %v %v", ip.HeaderLen(), ip.TotalLen(), ip.ID(), ip.FlagsFrag(),
			ip.TTL(), ip.Protocol(), ip.Src(), ip.Dst())
	}
	if !bytes.Equal(ip.Payload(), []byte{0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6}) {
		t.Fatalf("payload % x", ip.Payload())
	}
	if !ip.HeaderChecksumOK() {
		t.Fatal("checksum over the options does not verify")
	}
	b[21] ^= 1 // an option byte: covered by the checksum
	if ip.HeaderChecksumOK() {
		t.Fatal("a changed option byte still verifies")
	}
}

func TestIPv4IsFragment(t *testing.T) {
	for _, c := range []struct {
		ff   uint16
		want bool
	}{
		{0, false},
		{IPv4FlagDF, false},
		{IPv4FlagMF, true},
		{1, true},
		{IPv4FragMask, true},
		{IPv4FlagDF | 1, true},
		{0x8000, false}, // the reserved bit is not a fragment
	} {
		b := make([]byte, IPv4MinLen)
		binary.BigEndian.PutUint16(b[6:], c.ff)
		if IPv4(b).IsFragment() != c.want {
			t.Errorf("flags/frag %#04x: IsFragment %v", c.ff, !c.want)
		}
	}
}

// TestUDPSetLength: SetLength writes the length field, which Length,
// Valid and Payload then read, and nothing else.
func TestUDPSetLength(t *testing.T) {
	b := []byte{0x14, 0xe9, 0, 53, 0, 12, 0xab, 0xcd, 1, 2, 3, 4, 5, 6}
	u := UDP(b)
	u.SetLength(10)
	want := []byte{0x14, 0xe9, 0, 53, 0, 10, 0xab, 0xcd, 1, 2, 3, 4, 5, 6}
	if !bytes.Equal(b, want) || u.Length() != 10 || !u.Valid() || !bytes.Equal(u.Payload(), []byte{1, 2}) {
		t.Fatalf("after SetLength(10): % x, length %d", b, u.Length())
	}
	u.SetLength(0x1234)
	if b[4] != 0x12 || b[5] != 0x34 || u.Valid() {
		t.Fatalf("after SetLength(0x1234): % x", b[4:6])
	}
}

func TestUDPValid(t *testing.T) {
	udp := func(length uint16, n int) []byte {
		b := make([]byte, n)
		binary.BigEndian.PutUint16(b[4:], length)
		return b
	}
	checkValid(t, func(b []byte) bool { return UDP(b).Valid() }, []validCase{
		{"header only", udp(8, 8), true},
		{"7 bytes", make([]byte, 7), false},
		{"length 7", udp(7, 8), false},
		{"length 0", udp(0, 8), false},
		{"length equals data", udp(12, 12), true},
		{"length one past the data", udp(13, 12), false},
		{"length shorter than the data", udp(9, 12), true},
	})
	u := UDP([]byte{0, 68, 0, 67, 0, 10, 0, 0, 0xaa, 0xbb, 0xcc})
	if u.SrcPort() != 68 || u.DstPort() != 67 || u.Length() != 10 || !bytes.Equal(u.Payload(), []byte{0xaa, 0xbb}) {
		t.Fatalf("%d %d %d % x", u.SrcPort(), u.DstPort(), u.Length(), u.Payload())
	}
}

func TestEncodeUDP(t *testing.T) {
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	u := make([]byte, UDPLen+3)
	copy(u[UDPLen:], []byte{1, 2, 3})
	EncodeUDP(u, src, dst, 68, 67, 3)
	// Sum: 0a00+0001+0a00+0002 + 0011 + 000b (pseudo) + 0044+0043+000b (header) + 0102+0300 = 0x18b3,
	// so the checksum is ^0x18b3 = 0xe74c.
	want := []byte{0, 68, 0, 67, 0, 11, 0xe7, 0x4c, 1, 2, 3}
	if !bytes.Equal(u, want) {
		t.Fatalf("% x\nwant % x", u, want)
	}

	// A datagram whose checksum computes to 0 goes out as 0xffff.
	copy(u[UDPLen:], []byte{0, 0, 0})
	EncodeUDP(u, src, dst, 68, 67, 3)
	c := binary.BigEndian.Uint16(u[6:]) // the sum of everything else, inverted
	binary.BigEndian.PutUint16(u[UDPLen:], c)
	EncodeUDP(u, src, dst, 68, 67, 3)
	if got := binary.BigEndian.Uint16(u[6:]); got != 0xffff {
		t.Fatalf("zero checksum sent as %#04x, want 0xffff", got)
	}
}

// TestEncodeUDP4Frame: the frame is byte for byte what gopacket
// serializes from the same fields, checksums computed.
func TestEncodeUDP4Frame(t *testing.T) {
	dst, src := MAC{0x52, 0x54, 0, 0, 0, 1}, MAC{0x52, 0x54, 0, 0, 0, 2}
	payload := []byte("query")
	b := make([]byte, 100)
	copy(b[UDP4FrameHdrLen:], payload)
	n := EncodeUDP4Frame(b, dst, src, IPv4Fields{ID: 0x1234, Flags: IPv4FlagDF, TTL: 64, Src: addrA, Dst: addrB}, 5353, 53, len(payload))
	ip := refPacket(t, refIPv4(layers.IPProtocolUDP, addrA, addrB), refUDP(), payload)
	want := append([]byte{0x52, 0x54, 0, 0, 0, 1, 0x52, 0x54, 0, 0, 0, 2, 0x08, 0x00}, ip...)
	if n != len(want) || !bytes.Equal(b[:n], want) {
		t.Fatalf("length %d\n% x\nwant %d\n% x", n, b[:n], len(want), want)
	}
}

func TestICMP(t *testing.T) {
	c := ICMP([]byte{ICMPUnreachable, ICMPCodePortUnreach, 0, 0, 0, 0, 0, 0})
	if !c.Valid() || c[:ICMPLen-1].Valid() || c.Type() != ICMPUnreachable || c.Code() != ICMPCodePortUnreach {
		t.Fatalf("valid %v/%v type %d code %d", c.Valid(), c[:7].Valid(), c.Type(), c.Code())
	}
}

func TestVirtioShift(t *testing.T) {
	base := VirtioNetHdr{HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	for _, c := range []struct {
		name           string
		flags, gso     uint8
		hdrLen         uint16
		wantHdr, wantC uint16 // after Shift(+4)
	}{
		{"nothing in use", 0, VirtioNetHdrGSONone, 54, 54, 34},
		{"checksum only", VirtioNetHdrFNeedsCsum, VirtioNetHdrGSONone, 54, 54, 38},
		{"data valid is not needs csum", VirtioNetHdrFDataValid, VirtioNetHdrGSONone, 54, 54, 34},
		{"TCPv4 GSO with checksum", VirtioNetHdrFNeedsCsum, VirtioNetHdrGSOTCPv4, 54, 58, 38},
		{"GSO, hdr_len unknown", VirtioNetHdrFNeedsCsum, VirtioNetHdrGSOTCPv4, 0, 0, 38},
		{"UDP L4 GSO without checksum flag", 0, VirtioNetHdrGSOUDPL4, 42, 46, 34},
		{"ECN bit alone is not GSO", 0, VirtioNetHdrGSOECN, 54, 54, 34},
		{"ECN with TCPv6", 0, VirtioNetHdrGSOECN | VirtioNetHdrGSOTCPv6, 74, 78, 34},
	} {
		h := base
		h.Flags, h.GSOType, h.HdrLen = c.flags, c.gso, c.hdrLen
		h.Shift(VLANTagLen)
		want := base
		want.Flags, want.GSOType, want.HdrLen, want.CsumStart = c.flags, c.gso, c.wantHdr, c.wantC
		if h != want {
			t.Errorf("%s: %+v, want %+v", c.name, h, want)
		}
		h.Shift(-VLANTagLen)
		want.HdrLen, want.CsumStart = c.hdrLen, base.CsumStart
		if h != want {
			t.Errorf("%s: back %+v, want %+v", c.name, h, want)
		}
	}
}

func TestVirtioDecodeFields(t *testing.T) {
	b := []byte{0x03, 0x84, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}
	var h VirtioNetHdr
	h.Decode(b)
	want := VirtioNetHdr{Flags: 3, GSOType: 0x84, HdrLen: 0x0201, GSOSize: 0x0403, CsumStart: 0x0605, CsumOffset: 0x0807}
	if h != want || !h.IsGSO() {
		t.Fatalf("%+v, want %+v", h, want)
	}
	out := make([]byte, VirtioNetHdrLen)
	h.Encode(out)
	if !bytes.Equal(out, b) {
		t.Fatalf("% x", out)
	}
}
