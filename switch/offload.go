package vswitch

import (
	"encoding/binary"

	"github.com/vswitch/vswitch/internal/pkt"
)

// What a frame's virtio-net header asks of the egress port.
//
// A port that takes the header (TAP, AF_PACKET with PACKET_VNET_HDR, the
// gateway, which completes with Complete what it does not route) gets
// partial checksums and GSO super-frames as they are: its kernel finishes
// them, and a VLAN push or pop moves csum_start and hdr_len (vlan.go). The
// exception is a super-frame that names no checksum to finish: AF_PACKET
// and TAP hand GRO'd frames over as DATA_VALID with csum_start 0, and a
// kernel given such a GSO frame to send keeps the first segment's stale
// checksum for all of them. It is rewritten into the partial-checksum form
// (pseudo-header sum in the field) the kernel's own TSO frames have.
//
// Ports without the header (QEMU sockets) must get complete
// frames: a partial checksum is finished here, and a super-frame is cut
// into gso_size segments (TCP, or UDP for USO) with complete checksums, as
// the kernel's software GSO does for a device without offloads.
//
// Both find the headers themselves: csum_start is 0 on GRO'd frames, and a
// guest may put it anywhere. What does not parse, or would cut into more
// segments than a 64 KiB frame at the least MSS makes, is dropped and
// counted as bad_offload.

const (
	// maxGSOSegs bounds the segments one super-frame may be cut into: a
	// 64 KiB payload at 48 bytes, the least MSS Linux sends
	// (tcp_min_snd_mss). A crafted gso_size of 1 would otherwise make a
	// frame's worth of work for every payload byte.
	maxGSOSegs = 65536 / 48

	// maxIPv6ExtHdrs bounds the extension headers walked before the
	// transport header; GRO and GSO meet one or two at most.
	maxIPv6ExtHdrs = 4
)

// sendOffload queues f, which carries a virtio-net header, on p in a form
// p takes, or counts it as bad_offload. It takes ownership of f.
func (p *swPort) sendOffload(f *Frame, mode egressMode) {
	if p.feat&FeatVNetHdr != 0 {
		if f.VNet.IsGSO() && f.VNet.Flags&pkt.VirtioNetHdrFNeedsCsum == 0 && !partialFromValid(f) {
			p.drop(DropBadOffload)
			f.Release()
			return
		}
		p.enqueue(f, mode)
		return
	}
	if !f.VNet.IsGSO() {
		if !finishChecksum(f.Bytes(), f.VNet) {
			p.drop(DropBadOffload)
			f.Release()
			return
		}
		f.VNet = pkt.VirtioNetHdr{}
		p.enqueue(f, mode)
		return
	}
	segmentGSO(f, func(seg *Frame) { p.enqueue(seg, mode) }, p)
	f.Release()
}

// finishChecksum completes a CHECKSUM_PARTIAL frame: the field at
// csum_start+csum_offset holds the pseudo-header sum, and the sum over
// everything from csum_start on, inverted, is the checksum.
func finishChecksum(b []byte, h pkt.VirtioNetHdr) bool {
	if h.Flags&pkt.VirtioNetHdrFNeedsCsum == 0 {
		return true
	}
	start, field := int(h.CsumStart), int(h.CsumStart)+int(h.CsumOffset)
	if start >= len(b) || field+2 > len(b) {
		return false
	}
	sum := ^pkt.Checksum(b[start:], 0)
	if sum == 0 && h.CsumOffset == pkt.UDPChecksumOffset { // UDP: 0 means "no checksum"
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(b[field:], sum)
	return true
}

// gsoLayout is where the headers of an untagged super-frame are.
type gsoLayout struct {
	l4    int   // transport header offset
	hdr   int   // end of the headers: the payload's offset
	mss   int   // payload bytes per segment
	segs  int   // segments the payload makes (at least one)
	proto uint8 // pkt.ProtoTCP or pkt.ProtoUDP
	v4    bool
}

// parseGSO reads the headers of the untagged super-frame b, checks they
// are what h's GSO type says, and that cutting b is bounded: at most
// maxGSOSegs segments, each short enough for the IP length field.
func parseGSO(b []byte, h pkt.VirtioNetHdr) (gsoLayout, bool) {
	var g gsoLayout
	const l3 = pkt.EthernetLen
	if len(b) < l3+20 {
		return g, false
	}
	switch pkt.Ethernet(b).Type() {
	case pkt.TypeIPv4:
		// Not Valid: a GRO'd super-frame's total length may be anything
		// (0 past 64 KiB); segmenting rewrites it.
		ip := pkt.IPv4(b[l3:])
		ihl := ip.HeaderLen()
		if ip.Version() != 4 || ihl < pkt.IPv4MinLen || l3+ihl > len(b) {
			return g, false
		}
		// A fragment has no transport header to repeat.
		if ip.IsFragment() {
			return g, false
		}
		g.v4, g.l4, g.proto = true, l3+ihl, ip.Protocol()
	case pkt.TypeIPv6:
		ip := pkt.IPv6(b[l3:])
		if len(b) < l3+pkt.IPv6Len || ip.Version() != 6 {
			return g, false
		}
		next, off := ip.NextHeader(), l3+pkt.IPv6Len
		for range maxIPv6ExtHdrs {
			// Hop-by-hop and destination options only: past a routing
			// header the pseudo-header names another destination.
			if next != pkt.ProtoHopByHop && next != pkt.ProtoDestOpts {
				break
			}
			if off+8 > len(b) {
				return g, false
			}
			next, off = b[off], off+(int(b[off+1])+1)*8
		}
		g.l4, g.proto = off, next
	default:
		return g, false
	}
	switch gt := h.GSOType; {
	case gt&^pkt.VirtioNetHdrGSOECN == pkt.VirtioNetHdrGSOTCPv4 && g.v4,
		gt&^pkt.VirtioNetHdrGSOECN == pkt.VirtioNetHdrGSOTCPv6 && !g.v4:
		if g.proto != pkt.ProtoTCP || g.l4+pkt.TCPMinLen > len(b) {
			return g, false
		}
		thl := pkt.TCP(b[g.l4:]).DataOffset()
		if thl < pkt.TCPMinLen {
			return g, false
		}
		g.hdr = g.l4 + thl
	case gt == pkt.VirtioNetHdrGSOUDPL4:
		// Legacy UFO (VIRTIO_NET_HDR_GSO_UDP) is IP fragmentation, never
		// enabled on our devices; it falls to the default.
		if g.proto != pkt.ProtoUDP {
			return g, false
		}
		g.hdr = g.l4 + pkt.UDPLen
	default:
		return g, false
	}
	g.mss = int(h.GSOSize)
	if g.hdr > len(b) || g.mss == 0 {
		return g, false
	}
	payload := len(b) - g.hdr
	g.segs = max(1, (payload+g.mss-1)/g.mss)
	// The longest segment must fit the IP length field: the kernel never
	// makes a bigger super-frame, and a crafted one would leave with a
	// wrapped length.
	ipLen := g.hdr - l3 + min(g.mss, payload)
	if !g.v4 {
		ipLen -= pkt.IPv6Len
	}
	return g, g.segs <= maxGSOSegs && ipLen <= 0xffff
}

// pseudoSum is the (uninverted) pseudo-header sum of b's transport header
// for n bytes of transport header and payload. n may pass 16 bits (a GRO'd
// super-frame): the carry is folded in as the kernel's 32-bit sum does.
func pseudoSum(b []byte, g gsoLayout, n int) uint16 {
	var ph uint16
	if g.v4 {
		ph = pkt.IPv4(b[pkt.EthernetLen:]).PseudoHeaderChecksum(g.proto, uint16(n))
	} else {
		ph = pkt.IPv6(b[pkt.EthernetLen:]).PseudoHeaderChecksum(g.proto, uint16(n))
	}
	return pkt.ChecksumCombine(ph, uint16(n>>16))
}

// partialFromValid rewrites the GSO frame f, whose header names no partial
// checksum (DATA_VALID, or no flag at all), into the partial-checksum form
// a kernel finishes when it segments: NEEDS_CSUM with csum_start,
// csum_offset and hdr_len found from the headers and the pseudo-header
// sum in the checksum field. It reports false, changing nothing, when the
// headers do not parse.
func partialFromValid(f *Frame) bool {
	b := f.Bytes()
	g, ok := parseGSO(b, f.VNet)
	if !ok {
		return false
	}
	off := pkt.TCPChecksumOffset
	if g.proto == pkt.ProtoUDP {
		off = pkt.UDPChecksumOffset
	}
	binary.BigEndian.PutUint16(b[g.l4+off:], pseudoSum(b, g, len(b)-g.l4))
	f.VNet.Flags = pkt.VirtioNetHdrFNeedsCsum
	f.VNet.CsumStart, f.VNet.CsumOffset, f.VNet.HdrLen = uint16(g.l4), uint16(off), uint16(g.hdr)
	return true
}

// segmentGSO cuts the super-frame f into segments of gso_size payload bytes
// with complete checksums and passes each to emit. A malformed super-frame
// is counted on p and emits nothing.
func segmentGSO(f *Frame, emit func(*Frame), p *swPort) {
	if !segment(f, emit) {
		p.drop(DropBadOffload)
	}
}

// Complete passes f to emit as complete frames, for a Port or Router that
// acts on a frame's bytes but took it with its virtio-net header (the
// gateway, for what it answers itself): a partial checksum is finished in
// f, a super-frame cut into segments with complete checksums as for a port
// without the header. emit does not own what it gets: f stays the
// caller's, and each segment goes back to the pool once emit returns.
// Complete reports false, emitting nothing, when f's offload metadata
// does not parse (what an egress port counts as bad_offload).
func Complete(f *Frame, emit func(*Frame)) bool {
	if !f.VNet.IsGSO() {
		if !finishChecksum(f.Bytes(), f.VNet) {
			return false
		}
		f.VNet = pkt.VirtioNetHdr{}
		emit(f)
		return true
	}
	return segment(f, func(s *Frame) { emit(s); s.Release() })
}

// Segmentable reports whether the super-frame f parses as its virtio-net
// header's GSO type says, within the segment bound: what segmentGSO
// would cut rather than count as bad_offload. A Router that passes a
// guest's super-frames on whole checks them with it first.
func Segmentable(f *Frame) bool {
	_, ok := parseGSO(f.Bytes(), f.VNet)
	return ok
}

// segment is segmentGSO; it reports false when f does not parse.
func segment(f *Frame, emit func(*Frame)) bool {
	b := f.Bytes()
	g, ok := parseGSO(b, f.VNet)
	if !ok {
		return false
	}
	l4, hdr := g.l4, g.hdr
	payload := b[hdr:]
	var seq uint32
	var flags uint8
	if g.proto == pkt.ProtoTCP {
		t := pkt.TCP(b[l4:])
		seq, flags = t.Seq(), t.Flags()
	}
	// Segments copy their headers from head. An IPv4 header differs
	// between segments only in its ID and length, so its checksum is
	// computed in full once, in a copy (a guest's super-frame may carry
	// any checksum there), and each segment's gets RFC 1624 updates for
	// the two: from a full computation they give what a full computation
	// would.
	head := b[:hdr]
	var id uint16
	var v4head [pkt.EthernetLen + 2*60]byte // IPv4 and TCP headers at their longest
	if g.v4 {
		head = v4head[:copy(v4head[:], head)]
		ip := pkt.IPv4(head[pkt.EthernetLen:])
		id = ip.ID()
		ip.SetChecksum()
	}
	// A super-frame with no payload (a bare ACK or FIN) still leaves, as
	// one segment: Linux sends a GSO packet no longer than the MSS as is.
	for i := range g.segs {
		off := i * g.mss
		n := min(g.mss, len(payload)-off)
		s := NewFrameFor(hdr + n + 2*pkt.VLANTagLen)
		s.n = copy(s.buf[Headroom:], head)
		s.n += copy(s.buf[Headroom+hdr:], payload[off:off+n])
		s.vid, s.prio = f.vid, f.prio
		sb := s.Bytes()
		l3 := sb[pkt.EthernetLen:]
		if g.v4 {
			ip := pkt.IPv4(l3)
			ip.SetTotalLen(uint16(hdr - pkt.EthernetLen + n))
			ip.SetID(id + uint16(i))
		} else {
			pkt.IPv6(l3).SetPayloadLen(uint16(hdr - pkt.EthernetLen - pkt.IPv6Len + n))
		}
		pseudo := pseudoSum(sb, g, len(sb)-l4)
		if g.proto == pkt.ProtoTCP {
			t := pkt.TCP(sb[l4:])
			t.SetSeq(seq+uint32(off), false)
			fl := flags
			if i < g.segs-1 {
				fl &^= pkt.TCPFlagFIN | pkt.TCPFlagPSH
			}
			if i > 0 {
				fl &^= pkt.TCPFlagCWR
			}
			t.SetFlags(fl, false)
			t.SetChecksum(pseudo)
		} else {
			u := pkt.UDP(sb[l4:])
			u.SetLength(uint16(pkt.UDPLen + n))
			u.SetChecksum(pseudo) // a computed 0 goes as 0xffff: 0 is "none"
		}
		emit(s)
	}
	return true
}
