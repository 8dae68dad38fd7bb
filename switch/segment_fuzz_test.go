package vswitch

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// FuzzSegmentGSO cuts arbitrary super-frames (seeded with well-formed TCP
// and UDP ones) and checks the segments against the test's own reading
// of the headers (refLayout): nothing emitted and one bad_offload drop
// exactly when the frame is malformed or would cut into more than
// maxGSOSegs segments; otherwise the segments (at least one, even for no
// payload) carry the payload in order, MSS bytes each but the last, with
// IPv4 IDs stepping by one and lengths set; for TCP, sequence numbers
// stepping by MSS, FIN and PSH on the last segment only, CWR on the first
// only; every other header byte unchanged, and checksums that verify
// against a full recomputation. csum_start is only a hint segmentation
// must not trust. finishChecksum on the same input must complete the sum
// it was given.
func FuzzSegmentGSO(f *testing.F) {
	f.Add(make([]byte, 200), uint16(34), uint16(100), uint8(1))
	payload := pattern(3000)
	// 2111: header and payload just over the small class.
	for _, mss := range []uint16{1, 48, 536, 1448, 2111, 2999, 3000, 4000} {
		for _, v6 := range []bool{false, true} {
			l4, gso := uint16(34), uint8(pkt.VirtioNetHdrGSOTCPv4)
			if v6 {
				l4, gso = 54, pkt.VirtioNetHdrGSOTCPv6
			}
			f.Add(tcpFrame(f, v6, 65535, 0xfffffff0, true, true, true, payload[:int(mss)%3000+1]), l4, mss, gso)
			f.Add(udpFrame(f, v6, 65535, payload[:int(mss)%3000+1]), l4, mss, uint8(pkt.VirtioNetHdrGSOUDPL4))
		}
	}
	// No TCP options (data offset 5), with and without payload, and a bare
	// header with options.
	noOpts := tcpFrame(f, false, 1, 1, true, false, false, pattern(100))
	noOpts[34+12] = 5 << 4
	f.Add(noOpts, uint16(34), uint16(50), uint8(pkt.VirtioNetHdrGSOTCPv4))
	f.Add(noOpts[:54], uint16(34), uint16(50), uint8(pkt.VirtioNetHdrGSOTCPv4))
	f.Add(tcpFrame(f, true, 1, 1, true, false, false, nil), uint16(54), uint16(50), uint8(pkt.VirtioNetHdrGSOTCPv6))
	// csum_start pointing elsewhere (0 as on a GRO'd frame, inside the IP
	// header), and a frame that ends inside the TCP header.
	v4 := tcpFrame(f, false, 1, 1, true, false, false, pattern(100))
	f.Add(v4, uint16(0), uint16(50), uint8(pkt.VirtioNetHdrGSOTCPv4))
	f.Add(v4, uint16(30), uint16(50), uint8(pkt.VirtioNetHdrGSOTCPv4))
	f.Add(v4[:34+10], uint16(34), uint16(50), uint8(pkt.VirtioNetHdrGSOTCPv4))
	// IPv4 options, an IPv6 hop-by-hop header, a fragment, ECN.
	f.Add(withIPv4Options(tcpFrame(f, false, 1, 1, true, true, false, pattern(1000))), uint16(38), uint16(100), uint8(pkt.VirtioNetHdrGSOTCPv4))
	f.Add(withHopByHop(tcpFrame(f, true, 1, 1, true, true, false, pattern(1000))), uint16(62), uint16(100), uint8(pkt.VirtioNetHdrGSOTCPv6))
	f.Add(withHopByHop(udpFrame(f, true, 1, pattern(1000))), uint16(62), uint16(100), uint8(pkt.VirtioNetHdrGSOUDPL4))
	destOpts := withHopByHop(tcpFrame(f, true, 1, 1, true, true, false, pattern(1000)))
	destOpts[20] = 60 // the same 8 bytes as a destination-options header
	f.Add(destOpts, uint16(62), uint16(100), uint8(pkt.VirtioNetHdrGSOTCPv6))
	routing := append([]byte(nil), destOpts...)
	routing[20] = 43 // a routing header: not walked, so not TCP
	f.Add(routing, uint16(62), uint16(100), uint8(pkt.VirtioNetHdrGSOTCPv6))
	frag := tcpFrame(f, false, 1, 1, true, true, false, pattern(1000))
	frag[20] |= 0x20 // more fragments
	f.Add(frag, uint16(34), uint16(100), uint8(pkt.VirtioNetHdrGSOTCPv4))
	f.Add(tcpFrame(f, false, 1, 1, true, true, true, pattern(1000)), uint16(34), uint16(100), uint8(pkt.VirtioNetHdrGSOTCPv4|pkt.VirtioNetHdrGSOECN))
	// Segments of exactly the longest IP length, and one byte longer.
	f.Add(tcpFrame(f, false, 1, 1, true, true, false, pattern(65535-52)), uint16(34), uint16(65535), uint8(pkt.VirtioNetHdrGSOTCPv4))
	f.Add(tcpFrame(f, false, 1, 1, true, true, false, pattern(65500)), uint16(34), uint16(65535), uint8(pkt.VirtioNetHdrGSOTCPv4))
	f.Add(tcpFrame(f, true, 1, 1, true, true, false, pattern(65500)), uint16(54), uint16(65535), uint8(pkt.VirtioNetHdrGSOTCPv6))
	// The segment bound: 64 KiB at MSS 48 is allowed, at 47 not, and MSS 1
	// is refused at once instead of making 65000 segments.
	f.Add(tcpFrame(f, false, 1, 1, true, true, false, pattern(65000)), uint16(34), uint16(47), uint8(pkt.VirtioNetHdrGSOTCPv4))
	f.Add(tcpFrame(f, false, 1, 1, true, true, false, pattern(65000)), uint16(34), uint16(48), uint8(pkt.VirtioNetHdrGSOTCPv4))
	f.Add(udpFrame(f, false, 1, pattern(65000)), uint16(34), uint16(1), uint8(pkt.VirtioNetHdrGSOUDPL4))
	f.Fuzz(func(t *testing.T, b []byte, csumStart, gsoSize uint16, gsoType uint8) {
		if len(b) > BigDataLen {
			return
		}
		fr := NewBigFrame()
		defer fr.Release()
		fr.SetData(b)
		fr.VNet = pkt.VirtioNetHdr{Flags: 1, GSOType: gsoType, GSOSize: gsoSize, CsumStart: csumStart, CsumOffset: 16}
		p := &swPort{}
		c := newSegmentChecker(t, b, gsoType, int(gsoSize))
		segmentGSO(fr, func(s *Frame) { c.segment(s.Bytes()); s.Release() }, p)
		if !bytes.Equal(fr.Bytes(), b) {
			t.Fatal("segmentGSO changed its input")
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

// refLayout is the test's own reading of a super-frame's headers, written
// from the rules rather than from parseGSO: IPv4 (version 4, IHL at least
// 5, not a fragment) or IPv6 (version 6, up to 4 hop-by-hop or
// destination-options headers), TCP for the TCP GSO type of that IP
// version (ECN bit allowed) with a data offset of at least 5, or UDP for
// USO; all headers inside b; gso_size not 0; at most 65536/48 segments;
// the longest segment's IP length within 16 bits.
func refLayout(b []byte, gsoType uint8, mss int) (l4, hdr int, proto uint8, v4, ok bool) {
	if len(b) < 34 {
		return
	}
	ethType, ip := int(b[12])<<8|int(b[13]), b[14:]
	switch {
	case ethType == 0x0800 && ip[0]>>4 == 4:
		ihl := int(ip[0]&0xf) * 4
		fragment := (int(ip[6])<<8|int(ip[7]))&0x3fff != 0
		if ihl < 20 || ihl > len(ip) || fragment {
			return
		}
		l4, proto, v4 = 14+ihl, ip[9], true
	case ethType == 0x86dd && ip[0]>>4 == 6 && len(ip) >= 40:
		l4, proto = 54, ip[6]
		for n := 0; (proto == 0 || proto == 60) && n < 4; n++ {
			if l4+8 > len(b) {
				return
			}
			proto, l4 = b[l4], l4+8+8*int(b[l4+1])
		}
	default:
		return
	}
	switch base := gsoType & 0x7f; {
	case proto == 6 && (base == 1 && v4 || base == 4 && !v4):
		if l4+20 > len(b) || b[l4+12]>>4 < 5 {
			return
		}
		hdr = l4 + int(b[l4+12]>>4)*4
	case proto == 17 && gsoType == 5:
		hdr = l4 + 8
	default:
		return
	}
	if hdr > len(b) || mss == 0 {
		return
	}
	pay := len(b) - hdr
	segs := max(1, (pay+mss-1)/mss)
	longest := hdr - 14 + min(pay, mss)
	if !v4 {
		longest -= 40
	}
	ok = segs <= 65536/48 && longest <= 65535
	return
}

// segmentChecker checks what segmentGSO makes of b (see FuzzSegmentGSO),
// one segment at a time as they are emitted, so a super-frame cut into
// thousands of segments is never held.
type segmentChecker struct {
	t             *testing.T
	b             []byte
	l4, mss, hdr  int
	proto         uint8
	ok, v4        bool
	seq0          uint32
	flags0        uint8
	id0           uint16
	fixed         [][2]int // header ranges segmentGSO must leave alone
	segs, covered int
}

const segL3 = pkt.EthernetLen

func newSegmentChecker(t *testing.T, b []byte, gsoType uint8, mss int) *segmentChecker {
	const l3 = segL3
	c := &segmentChecker{t: t, b: b, mss: mss}
	c.l4, c.hdr, c.proto, c.v4, c.ok = refLayout(b, gsoType, mss)
	if !c.ok {
		return c
	}
	l4 := c.l4
	// Bytes segmentGSO may change: IPv4 length, ID and checksum (or the
	// IPv6 payload length); TCP seq, flags and checksum, or UDP length and
	// checksum.
	var mutable [][2]int
	if c.v4 {
		c.id0 = binary.BigEndian.Uint16(b[l3+4:])
		mutable = append(mutable, [2]int{l3 + 2, l3 + 6}, [2]int{l3 + 10, l3 + 12})
	} else {
		mutable = append(mutable, [2]int{l3 + 4, l3 + 6})
	}
	if c.proto == pkt.ProtoTCP {
		c.seq0, c.flags0 = binary.BigEndian.Uint32(b[l4+4:]), b[l4+13]
		mutable = append(mutable, [2]int{l4 + 4, l4 + 8}, [2]int{l4 + 13, l4 + 14}, [2]int{l4 + 16, l4 + 18})
	} else {
		mutable = append(mutable, [2]int{l4 + 4, l4 + 8})
	}
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
	if c.proto == pkt.ProtoTCP {
		if got := binary.BigEndian.Uint32(seg[l4+4:]); got != c.seq0+uint32(off) {
			t.Fatalf("segment %d: seq %d, want %d", i, got, c.seq0+uint32(off))
		}
		wantFlags := c.flags0
		if !last {
			wantFlags &^= pkt.TCPFlagFIN | pkt.TCPFlagPSH
		}
		if i > 0 {
			wantFlags &^= pkt.TCPFlagCWR
		}
		if seg[l4+13] != wantFlags {
			t.Fatalf("segment %d (last %v): flags %#02x, want %#02x", i, last, seg[l4+13], wantFlags)
		}
	} else {
		if got := binary.BigEndian.Uint16(seg[l4+4:]); int(got) != 8+n {
			t.Fatalf("segment %d: UDP length %d, want %d", i, got, 8+n)
		}
		if seg[l4+6] == 0 && seg[l4+7] == 0 {
			t.Fatalf("segment %d: UDP checksum 0 (none) written", i)
		}
	}
	if sumRef(pseudoRef(seg, c.v4, l4, c.proto), seg[l4:]) != 0xffff {
		t.Fatalf("segment %d: transport checksum does not verify", i)
	}
}

// pseudoRef is the pseudo-header of the transport header at l4 in b, its
// length counting to the end of b (32 bits for both versions: an IPv4
// pseudo-header's 16-bit length sums the same while it fits).
func pseudoRef(b []byte, v4 bool, l4 int, proto uint8) []byte {
	n := len(b) - l4
	length := []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	if v4 {
		return append(append(append([]byte(nil), b[26:34]...), 0, proto), length...)
	}
	return append(append(append([]byte(nil), b[22:54]...), length...), 0, 0, 0, proto)
}

// done checks the totals once segmentGSO returned.
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
		pseudo = append(append([]byte(nil), seg[26:34]...), 0, pkt.ProtoTCP, byte(len(l4)>>8), byte(len(l4)))
	case pkt.TypeIPv6:
		l4 = seg[54:]
		pseudo = append(append([]byte(nil), seg[22:54]...), 0, 0, byte(len(l4)>>8), byte(len(l4)), 0, 0, 0, pkt.ProtoTCP)
	default:
		t.Fatalf("not IP: % x", seg[:14])
	}
	if sumRef(pseudo, l4) != 0xffff {
		t.Fatalf("TCP checksum does not verify (field % x)", l4[16:18])
	}
}
