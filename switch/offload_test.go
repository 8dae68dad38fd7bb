package vswitch

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vswitch/vswitch/internal/pkt"
)

// tcpFrame serializes one TCP/IPv4 or IPv6 frame with gopacket, the
// reference encoder, with correct lengths and checksums.
func tcpFrame(t testing.TB, v6 bool, id uint16, seq uint32, fin, psh, cwr bool, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 2}}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: seq, Ack: 77, ACK: true, FIN: fin, PSH: psh, CWR: cwr, Window: 500,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)}}}
	var l3 gopacket.SerializableLayer
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, HopLimit: 64,
			SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}
		tcp.SetNetworkLayerForChecksum(ip)
		l3 = ip
	} else {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: id, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP,
			SrcIP: net.IPv4(10, 0, 0, 1), DstIP: net.IPv4(10, 0, 0, 2)}
		tcp.SetNetworkLayerForChecksum(ip)
		l3 = ip
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, l3, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSegmentTCPMatchesReference(t *testing.T) {
	payload := make([]byte, 5000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	const mss = 1448
	for _, v6 := range []bool{false, true} {
		super := tcpFrame(t, v6, 100, 1000, true, true, true, payload)
		f := NewBigFrame()
		f.SetData(super)
		l4 := uint16(14 + 20)
		gso := uint8(pkt.VirtioNetHdrGSOTCPv4)
		if v6 {
			l4, gso = 14+40, pkt.VirtioNetHdrGSOTCPv6
		}
		// A partial checksum as the kernel hands it: the field holds the
		// pseudo-header sum only. Segmentation must not depend on it.
		f.VNet = pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, GSOType: gso, HdrLen: l4 + 32, GSOSize: mss, CsumStart: l4, CsumOffset: 16}
		var segs [][]byte
		p := &swPort{}
		segmentTCP(f, func(s *Frame) { segs = append(segs, append([]byte(nil), s.Bytes()...)); s.Release() }, p)
		if len(segs) != 4 {
			t.Fatalf("v6=%v: %d segments, want 4", v6, len(segs))
		}
		for i, seg := range segs {
			off := i * mss
			end := min(off+mss, len(payload))
			last := i == len(segs)-1
			want := tcpFrame(t, v6, 100+uint16(i), 1000+uint32(off), last, last, i == 0, payload[off:end])
			if !bytes.Equal(seg, want) {
				t.Fatalf("v6=%v segment %d differs from the reference\n got % x\nwant % x", v6, i, seg[:74], want[:74])
			}
		}
		f.Release()
	}
}

func TestFinishChecksum(t *testing.T) {
	full := tcpFrame(t, false, 1, 1, false, true, false, []byte("hello, world"))
	partial := append([]byte(nil), full...)
	// Replace the checksum by the pseudo-header sum, as CHECKSUM_PARTIAL does.
	tcpLen := uint16(len(full) - 34)
	ph := pkt.PseudoHeaderChecksum(6, full[26:30], full[30:34], tcpLen)
	partial[34+16], partial[34+17] = byte(ph>>8), byte(ph)
	h := pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, CsumStart: 34, CsumOffset: 16}
	if !finishChecksum(partial, h) {
		t.Fatal("refused")
	}
	if !bytes.Equal(partial, full) {
		t.Fatalf("checksum % x, want % x", partial[50:52], full[50:52])
	}
	if finishChecksum(partial[:40], h) {
		t.Fatal("accepted a checksum field past the end")
	}
}

// FuzzSegmentTCP cuts arbitrary super-frames (seeded with well-formed
// ones) and checks the segments against the input: nothing emitted and one
// bad_offload drop exactly when the frame is malformed; otherwise the
// segments (at least one, even for no payload) carry the payload in
// order, MSS bytes each but the last, with
// sequence numbers stepping by MSS, IPv4 IDs by one, lengths set, FIN and
// PSH on the last segment only, CWR on the first only, every other header
// byte unchanged, and checksums that verify against a full recomputation.
// finishChecksum on the same input must complete the sum it was given.
func FuzzSegmentTCP(f *testing.F) {
	f.Add(make([]byte, 200), uint16(34), uint16(100), uint8(1))
	payload := pattern(3000)
	// 2111: header and payload just over the small class.
	for _, mss := range []uint16{1, 536, 1448, 2111, 2999, 3000, 4000} {
		for _, v6 := range []bool{false, true} {
			l4, gso := uint16(34), uint8(pkt.VirtioNetHdrGSOTCPv4)
			if v6 {
				l4, gso = 54, pkt.VirtioNetHdrGSOTCPv6
			}
			f.Add(tcpFrame(f, v6, 65535, 0xfffffff0, true, true, true, payload[:int(mss)%3000+1]), l4, mss, gso)
		}
	}
	// No TCP options (data offset 5), with and without payload, and a bare
	// header with options.
	noOpts := tcpFrame(f, false, 1, 1, true, false, false, pattern(100))
	noOpts[34+12] = 5 << 4
	f.Add(noOpts, uint16(34), uint16(50), uint8(pkt.VirtioNetHdrGSOTCPv4))
	f.Add(noOpts[:54], uint16(34), uint16(50), uint8(pkt.VirtioNetHdrGSOTCPv4))
	f.Add(tcpFrame(f, true, 1, 1, true, false, false, nil), uint16(54), uint16(50), uint8(pkt.VirtioNetHdrGSOTCPv6))
	// csum_start inside the IP header, and a frame that ends inside the
	// TCP header.
	v4 := tcpFrame(f, false, 1, 1, true, false, false, pattern(100))
	v6 := tcpFrame(f, true, 1, 1, true, false, false, pattern(100))
	// (with a plausible data offset where the short csum_start puts it).
	for _, sf := range []struct {
		b  []byte
		l4 uint16
		gt uint8
	}{{v4, 30, pkt.VirtioNetHdrGSOTCPv4}, {v6, 50, pkt.VirtioNetHdrGSOTCPv6}} {
		b := append([]byte(nil), sf.b...)
		b[sf.l4+12] = 5 << 4
		f.Add(b, sf.l4, uint16(50), sf.gt)
	}
	f.Add(v4[:34+10], uint16(34), uint16(50), uint8(pkt.VirtioNetHdrGSOTCPv4))
	// Segments of exactly the longest IP length, and one byte longer.
	f.Add(tcpFrame(f, false, 1, 1, true, true, false, pattern(65535-52)), uint16(34), uint16(65535), uint8(pkt.VirtioNetHdrGSOTCPv4))
	f.Add(tcpFrame(f, false, 1, 1, true, true, false, pattern(65500)), uint16(34), uint16(65535), uint8(pkt.VirtioNetHdrGSOTCPv4))
	f.Add(tcpFrame(f, true, 1, 1, true, true, false, pattern(65500)), uint16(54), uint16(65535), uint8(pkt.VirtioNetHdrGSOTCPv6))
	f.Fuzz(func(t *testing.T, b []byte, csumStart, gsoSize uint16, gsoType uint8) {
		if len(b) > BigDataLen {
			return
		}
		fr := NewBigFrame()
		defer fr.Release()
		fr.SetData(b)
		fr.VNet = pkt.VirtioNetHdr{Flags: 1, GSOType: gsoType, GSOSize: gsoSize, CsumStart: csumStart, CsumOffset: 16}
		// Cutting costs segments x header bytes; past 32 MiB an input only
		// repeats a smaller one, slowly.
		if gsoSize > 0 && (len(b)/int(gsoSize)+1)*(int(csumStart)+60) > 32<<20 {
			return
		}
		p := &swPort{}
		c := newSegmentChecker(t, b, int(csumStart), int(gsoSize))
		segmentTCP(fr, func(s *Frame) { c.segment(s.Bytes()); s.Release() }, p)
		if !bytes.Equal(fr.Bytes(), b) {
			t.Fatal("segmentTCP changed its input")
		}
		c.done(p.stats.drops[DropBadOffload].Load())

		if csumStart%2 == 0 && int(csumStart)+18 <= len(b) {
			in := append([]byte(nil), b...)
			ph := binary.BigEndian.Uint16(in[csumStart+16:])
			if !finishChecksum(in, fr.VNet) {
				t.Fatal("finishChecksum refused a field inside the frame")
			}
			if sum := onesAdd(sumRef(in[csumStart:]), ph); sum != 0xffff {
				t.Fatalf("finished checksum does not verify: sum %#04x", sum)
			}
			if !bytes.Equal(in[:csumStart+16], b[:csumStart+16]) || !bytes.Equal(in[csumStart+18:], b[csumStart+18:]) {
				t.Fatal("finishChecksum changed more than the checksum field")
			}
		}
	})
}

func onesAdd(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s&0xffff + s>>16)
}

// segmentChecker checks what segmentTCP makes of b (see FuzzSegmentTCP),
// with its own reading of the headers, one segment at a time as they are
// emitted, so a super-frame cut into thousands of segments is never held.
type segmentChecker struct {
	t             *testing.T
	b             []byte
	l4, mss, hdr  int
	ok, v4        bool
	seq0          uint32
	flags0        uint8
	id0           uint16
	fixed         [][2]int // header ranges segmentTCP must leave alone
	segs, covered int
}

const segL3 = pkt.EthernetLen

func newSegmentChecker(t *testing.T, b []byte, l4, mss int) *segmentChecker {
	const l3 = segL3
	c := &segmentChecker{t: t, b: b, l4: l4, mss: mss}
	ok := len(b) >= l3 && mss > 0 && l4 > l3 && l4+20 <= len(b)
	v4 := ok && binary.BigEndian.Uint16(b[12:]) == pkt.TypeIPv4
	v6 := ok && binary.BigEndian.Uint16(b[12:]) == pkt.TypeIPv6
	ok = v4 && l4-l3 >= 20 && b[l3+9] == protoTCP || v6 && l4-l3 >= 40 && b[l3+6] == protoTCP
	thl := 0
	if ok {
		thl = int(b[l4+12]>>4) * 4
		ok = thl >= 20 && l4+thl <= len(b)
	}
	if ok {
		// The longest segment's IP length must fit 16 bits.
		ipLen := l4 + thl - l3 + min(mss, len(b)-l4-thl)
		if v6 {
			ipLen -= 40
		}
		ok = ipLen <= 0xffff
	}
	c.ok, c.v4, c.hdr = ok, v4, l4+thl
	if !ok {
		return c
	}
	c.seq0, c.flags0 = binary.BigEndian.Uint32(b[l4+4:]), b[l4+13]
	// Bytes segmentTCP may change: IPv4 length, ID and checksum (or the
	// IPv6 payload length), TCP seq, flags and checksum.
	var mutable [][2]int
	if v4 {
		c.id0 = binary.BigEndian.Uint16(b[l3+4:])
		mutable = append(mutable, [2]int{l3 + 2, l3 + 6}, [2]int{l3 + 10, l3 + 12})
	} else {
		mutable = append(mutable, [2]int{l3 + 4, l3 + 6})
	}
	mutable = append(mutable, [2]int{l4 + 4, l4 + 8}, [2]int{l4 + 13, l4 + 14}, [2]int{l4 + 16, l4 + 18})
	from := 0
	for _, m := range mutable {
		c.fixed = append(c.fixed, [2]int{from, m[0]})
		from = m[1]
	}
	c.fixed = append(c.fixed, [2]int{from, c.hdr})
	return c
}

// segment checks the next segment.
func (c *segmentChecker) segment(seg []byte) {
	t, b, l4, hdr := c.t, c.b, c.l4, c.hdr
	const l3 = segL3
	i := c.segs
	c.segs++
	if !c.ok {
		t.Fatalf("malformed super-frame: segment %d emitted", i)
	}
	payload := b[hdr:]
	off := i * c.mss
	if off > len(payload) || off > 0 && off == len(payload) {
		t.Fatalf("segment %d: past the end of a %d-byte payload at MSS %d", i, len(payload), c.mss)
	}
	n := min(c.mss, len(payload)-off)
	last := off+n == len(payload)
	c.covered = off + n
	if len(seg) != hdr+n || !bytes.Equal(seg[hdr:], payload[off:off+n]) {
		t.Fatalf("segment %d: %d bytes, want header %d + payload [%d:%d]", i, len(seg), hdr, off, off+n)
	}
	for _, r := range c.fixed {
		if !bytes.Equal(seg[r[0]:r[1]], b[r[0]:r[1]]) {
			t.Fatalf("segment %d: header bytes [%d:%d] changed", i, r[0], r[1])
		}
	}
	if c.v4 {
		if got := binary.BigEndian.Uint16(seg[l3+2:]); int(got) != hdr-l3+n {
			t.Fatalf("segment %d: IPv4 total length %d, want %d", i, got, hdr-l3+n)
		}
		if got := binary.BigEndian.Uint16(seg[l3+4:]); got != c.id0+uint16(i) {
			t.Fatalf("segment %d: IPv4 ID %d, want %d", i, got, c.id0+uint16(i))
		}
		if sumRef(seg[l3:l4]) != 0xffff {
			t.Fatalf("segment %d: IPv4 header checksum does not verify", i)
		}
	} else if got := binary.BigEndian.Uint16(seg[l3+4:]); int(got) != hdr-l3-40+n {
		t.Fatalf("segment %d: IPv6 payload length %d, want %d", i, got, hdr-l3-40+n)
	}
	if got := binary.BigEndian.Uint32(seg[l4+4:]); got != c.seq0+uint32(off) {
		t.Fatalf("segment %d: seq %d, want %d", i, got, c.seq0+uint32(off))
	}
	wantFlags := c.flags0
	if !last {
		wantFlags &^= tcpFlagFIN | tcpFlagPSH
	}
	if i > 0 {
		wantFlags &^= tcpFlagCWR
	}
	if seg[l4+13] != wantFlags {
		t.Fatalf("segment %d (last %v): flags %#02x, want %#02x", i, last, seg[l4+13], wantFlags)
	}
	tcpLen := len(seg) - l4
	var pseudo []byte
	if c.v4 {
		pseudo = append(append(make([]byte, 0, 40), seg[l3+12:l3+20]...), 0, protoTCP, byte(tcpLen>>8), byte(tcpLen))
	} else {
		pseudo = append(append(make([]byte, 0, 40), seg[l3+8:l3+40]...), 0, 0, byte(tcpLen>>8), byte(tcpLen), 0, 0, 0, protoTCP)
	}
	if sumRef(pseudo, seg[l4:]) != 0xffff {
		t.Fatalf("segment %d: TCP checksum does not verify", i)
	}
}

// done checks the totals once segmentTCP returned.
func (c *segmentChecker) done(drops uint64) {
	t := c.t
	if !c.ok {
		if c.segs != 0 || drops != 1 {
			t.Fatalf("malformed super-frame: %d segments, %d drops; want none and 1", c.segs, drops)
		}
		return
	}
	if drops != 0 {
		t.Fatalf("well-formed super-frame counted %d drops", drops)
	}
	if c.segs == 0 || c.covered != len(c.b)-c.hdr {
		t.Fatalf("%d segments covered %d of %d payload bytes", c.segs, c.covered, len(c.b)-c.hdr)
	}
}

// sumRef is the Internet checksum of the concatenated pieces, computed the
// slow, obvious way (RFC 1071: 16-bit big-endian words, odd byte padded,
// carries folded at the end), independent of pkt.Checksum.
func sumRef(pieces ...[]byte) uint16 {
	var s uint64
	k := 0
	for _, p := range pieces {
		for _, x := range p {
			if k%2 == 0 {
				s += uint64(x) << 8
			} else {
				s += uint64(x)
			}
			k++
		}
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// checkSegmentSums verifies, by full recomputation, the IPv4 header
// checksum (v4) and the TCP checksum of one untagged TCP frame.
func checkSegmentSums(t *testing.T, seg []byte) {
	t.Helper()
	var pseudo []byte
	var l4 []byte
	switch binary.BigEndian.Uint16(seg[12:]) {
	case pkt.TypeIPv4:
		ihl := int(seg[14]&0xf) * 4
		if sumRef(seg[14:14+ihl]) != 0xffff {
			t.Fatalf("IPv4 header checksum does not verify: % x", seg[14:14+ihl])
		}
		l4 = seg[14+ihl:]
		pseudo = append(append([]byte(nil), seg[26:34]...), 0, protoTCP, byte(len(l4)>>8), byte(len(l4)))
	case pkt.TypeIPv6:
		l4 = seg[54:]
		pseudo = append(append([]byte(nil), seg[22:54]...), 0, 0, byte(len(l4)>>8), byte(len(l4)), 0, 0, 0, protoTCP)
	default:
		t.Fatalf("not IP: % x", seg[:14])
	}
	if sumRef(pseudo, l4) != 0xffff {
		t.Fatalf("TCP checksum does not verify (field % x)", l4[16:18])
	}
}

// superFrame is a TCP super-frame of payload as a vnet_hdr port hands it
// over: one header, a GSO type and size, and a partial checksum (the
// pseudo-header sum in the field). tag, if non-zero, is an 802.1Q TCI put
// in the buffer, and the offsets count it.
func superFrame(t *testing.T, v6 bool, payload []byte, mss uint16, tag uint16) memFrame {
	b := tcpFrame(t, v6, 100, 1000, true, true, false, payload)
	l4, gso := uint16(14+20), uint8(pkt.VirtioNetHdrGSOTCPv4)
	var ph uint16
	if v6 {
		l4, gso = 14+40, pkt.VirtioNetHdrGSOTCPv6
		ph = pkt.PseudoHeaderChecksum(protoTCP, b[22:38], b[38:54], uint16(len(b)-54))
	} else {
		ph = pkt.PseudoHeaderChecksum(protoTCP, b[26:30], b[30:34], uint16(len(b)-34))
	}
	binary.BigEndian.PutUint16(b[l4+16:], ph)
	h := pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, GSOType: gso, HdrLen: l4 + 32, GSOSize: mss, CsumStart: l4, CsumOffset: 16}
	if tag != 0 {
		b = withTCI(b, tag)
		h.Shift(pkt.VLANTagLen)
	}
	return memFrame{b: b, vnet: h}
}

// TestGSOToPortWithoutVNetHdr sends TCP super-frames across the switch.
// A port that takes the vnet header gets the super-frame whole, header and
// all; a port that does not gets MSS-sized segments, each within a
// 1500-byte MTU, identical to what a reference encoder makes of them (so
// every checksum verifies), tagged with the ingress PCP on a trunk.
func TestGSOToPortWithoutVNetHdr(t *testing.T) {
	payload := make([]byte, 5000)
	for i := range payload {
		payload[i] = byte(i*13 + 1)
	}
	const mss, tci = 1500 - 20 - 32, 5<<13 | 10
	for _, v6 := range []bool{false, true} {
		const mtu = 1514 // a 1500-byte IP packet in an untagged frame
		s := newTestSwitch(t, Config{}, trunk("src", 0, 10))
		plain := s.addPort(t, access("plain", 10), 0)
		plainTrunk := s.addPort(t, trunk("plaintrunk", 0, 10), 0)
		vnet := s.addPort(t, access("vnet", 10), FeatVNetHdr)
		vnet.hdrs = make(chan pkt.VirtioNetHdr, 16)
		segMSS := uint16(mss)
		if v6 {
			segMSS = 1500 - 40 - 32
		}
		sf := superFrame(t, v6, payload, segMSS, tci)
		s.ports["src"].inMeta <- sf

		var got []byte
		n := (len(payload) + int(segMSS) - 1) / int(segMSS)
		for i := range n {
			seg := plain.expect(t)
			if len(seg) > mtu {
				t.Fatalf("v6=%v segment %d is %d bytes, over the MTU", v6, i, len(seg))
			}
			checkSegmentSums(t, seg)
			off := i * int(segMSS)
			end := min(off+int(segMSS), len(payload))
			last := i == n-1
			want := tcpFrame(t, v6, 100+uint16(i), 1000+uint32(off), last, last, false, payload[off:end])
			if !bytes.Equal(seg, want) {
				t.Fatalf("v6=%v segment %d:\n got % x\nwant % x", v6, i, seg[:74], want[:74])
			}
			if tseg := plainTrunk.expect(t); !bytes.Equal(tseg, withTCI(want, tci)) {
				t.Fatalf("v6=%v trunk segment %d:\n got % x\nwant % x", v6, i, tseg[:78], withTCI(want, tci)[:78])
			}
			got = append(got, seg[len(seg)-(end-off):]...)
		}
		plain.expectNone(t)
		plainTrunk.expectNone(t)
		if !bytes.Equal(got, payload) {
			t.Fatalf("v6=%v: segments do not add up to the payload", v6)
		}
		// The vnet port gets the super-frame untagged, with the offsets
		// moved back by the tag.
		whole := vnet.expect(t)
		wantHdr := sf.vnet
		wantHdr.Shift(-pkt.VLANTagLen)
		if h := <-vnet.hdrs; h != wantHdr {
			t.Fatalf("v6=%v vnet header %+v, want %+v", v6, h, wantHdr)
		}
		if untag := append(append([]byte(nil), sf.b[:12]...), sf.b[16:]...); !bytes.Equal(whole, untag) {
			t.Fatalf("v6=%v: the vnet port got a changed super-frame", v6)
		}
		for _, p := range []string{"plain", "plaintrunk", "vnet"} {
			if st, _ := s.Port(p); st.Drops != ([NumDropReasons]uint64{}) {
				t.Fatalf("port %s drops %v", p, st.Drops)
			}
		}
	}
}

// TestOffloadToPortWithoutVNetHdr covers the other frames that need work
// before a port without a vnet header can take them: a partial checksum is
// finished, and what cannot be made complete is dropped as bad_offload.
func TestOffloadToPortWithoutVNetHdr(t *testing.T) {
	full := tcpFrame(t, false, 1, 1, false, true, false, []byte("hello, world"))
	partial := append([]byte(nil), full...)
	ph := pkt.PseudoHeaderChecksum(protoTCP, full[26:30], full[30:34], uint16(len(full)-34))
	binary.BigEndian.PutUint16(partial[50:], ph)
	csum := pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, CsumStart: 34, CsumOffset: 16}
	tests := []struct {
		name string
		in   memFrame
		want []byte // nil: dropped as bad_offload on the plain port
	}{
		{"partial checksum finished", memFrame{b: partial, vnet: csum}, full},
		{"data-valid flag only", memFrame{b: full, vnet: pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFDataValid}}, full},
		{"checksum field past the end", memFrame{b: partial, vnet: pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, CsumStart: 34, CsumOffset: uint16(len(partial) - 35)}}, nil},
		{"checksum start past the end", memFrame{b: partial, vnet: pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, CsumStart: uint16(len(partial)), CsumOffset: 0}}, nil},
		{"UDP GSO", memFrame{b: full, vnet: pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, GSOType: pkt.VirtioNetHdrGSOUDPL4, GSOSize: 8, CsumStart: 34, CsumOffset: 6}}, nil},
		{"GSO size 0", memFrame{b: full, vnet: pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, GSOType: pkt.VirtioNetHdrGSOTCPv4, CsumStart: 34, CsumOffset: 16}}, nil},
		{"GSO over UDP", memFrame{b: func() []byte { b := append([]byte(nil), full...); b[23] = protoUDP; return b }(),
			vnet: pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, GSOType: pkt.VirtioNetHdrGSOTCPv4, GSOSize: 4, CsumStart: 34, CsumOffset: 16}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSwitch(t, Config{}, access("src", 1))
			plain := s.addPort(t, access("plain", 1), 0)
			vnet := s.addPort(t, access("vnet", 1), FeatVNetHdr)
			s.ports["src"].inMeta <- tt.in
			if got := vnet.expect(t); !bytes.Equal(got, tt.in.b) {
				t.Fatalf("vnet port got % x, want it unchanged", got)
			}
			if tt.want == nil {
				s.waitDrop(t, "plain", DropBadOffload, 1)
				plain.expectNone(t)
				return
			}
			if got := plain.expect(t); !bytes.Equal(got, tt.want) {
				t.Fatalf("plain port got % x\nwant % x", got, tt.want)
			}
			if st, _ := s.Port("plain"); st.Drops[DropBadOffload] != 0 {
				t.Fatalf("bad_offload %d", st.Drops[DropBadOffload])
			}
		})
	}
}

// TestFinishChecksumZero covers the one sum that is written differently:
// a UDP checksum that comes out 0 goes on the wire as 0xffff (0 means "no
// checksum"), a TCP one stays 0.
func TestFinishChecksumZero(t *testing.T) {
	for _, tt := range []struct {
		name      string
		udp       bool
		wantField uint16
	}{{"tcp", false, 0}, {"udp", true, 0xffff}} {
		t.Run(tt.name, func(t *testing.T) {
			payload := make([]byte, 20) // the last word is chosen below; no Ethernet padding
			copy(payload, "zero checksum")
			var b []byte
			off := uint16(16) // TCP checksum offset
			if tt.udp {
				eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
				ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IPv4(10, 0, 0, 1), DstIP: net.IPv4(10, 0, 0, 2)}
				udp := &layers.UDP{SrcPort: 5353, DstPort: 53}
				udp.SetNetworkLayerForChecksum(ip)
				buf := gopacket.NewSerializeBuffer()
				if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(payload)); err != nil {
					t.Fatal(err)
				}
				b, off = buf.Bytes(), 6
			} else {
				b = tcpFrame(t, false, 1, 1, false, true, false, payload)
			}
			h := pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, CsumStart: 34, CsumOffset: off}
			ph := pkt.PseudoHeaderChecksum(b[23], b[26:30], b[30:34], uint16(len(b)-34))
			// First an ordinary sum: finished, it is what the reference wrote.
			partial := append([]byte(nil), b...)
			binary.BigEndian.PutUint16(partial[34+off:], ph)
			if !finishChecksum(partial, h) || !bytes.Equal(partial, b) {
				t.Fatalf("checksum % x, want % x", partial[34+off:36+off], b[34+off:36+off])
			}
			// With the last payload word 0 the checksum is c = ^S; putting c
			// in that word makes the sum 0xffff and the checksum 0.
			c := binary.BigEndian.Uint16(b[34+off:])
			binary.BigEndian.PutUint16(b[len(b)-2:], c)
			binary.BigEndian.PutUint16(b[34+off:], ph)
			if !finishChecksum(b, h) {
				t.Fatal("refused")
			}
			if got := binary.BigEndian.Uint16(b[34+off:]); got != tt.wantField {
				t.Fatalf("checksum field %#04x, want %#04x", got, tt.wantField)
			}
		})
	}
}

// TestFinishChecksumBounds: the checksum field may be the frame's last two
// bytes, and not one byte further.
func TestFinishChecksumBounds(t *testing.T) {
	b := pattern(40)
	h := pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, CsumStart: 20, CsumOffset: 18}
	ph := binary.BigEndian.Uint16(b[38:])
	if !finishChecksum(b, h) {
		t.Fatal("refused a field in the last two bytes")
	}
	if sum := onesAdd(sumRef(b[20:]), ph); sum != 0xffff {
		t.Fatalf("sum %#04x", sum)
	}
	h.CsumOffset = 19
	if finishChecksum(b, h) {
		t.Fatal("accepted a field one byte past the end")
	}
	h.CsumStart, h.CsumOffset = 40, 0
	if finishChecksum(pattern(42), h) != true || finishChecksum(b, h) {
		t.Fatal("csum_start at the end of the frame")
	}
}
