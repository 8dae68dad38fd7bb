package pkt

import (
	"encoding/binary"
	"net/netip"
)

// IPv6 geometry and the extension headers the walk knows (RFC 8200 4).
const (
	IPv6Len = 40

	ProtoHopByHop  = 0
	ProtoRouting   = 43
	ProtoFragment  = 44
	ProtoNoNext    = 59
	ProtoDestOpts  = 60
	IPv6FragHdrLen = 8

	// IPv6MaxExtHeaders bounds the extension-header walk: a chain longer
	// than this is malformed. Linux has no fixed limit but real traffic
	// carries at most a few; a bound keeps a hostile chain of thousands of
	// 8-byte headers from costing a walk per lookup.
	IPv6MaxExtHeaders = 8
)

// Well-known IPv6 multicast groups (RFC 4291 2.7.1).
var (
	IPv6AllNodes   = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 1})
	IPv6AllRouters = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 2})
)

// IPv6 is a view of an IPv6 header and what follows; check Valid first.
//
// IPv6 has no header checksum. The upper-layer checksums (TCP, UDP,
// ICMPv6) cover a pseudo-header with the addresses, so after SetSrc or
// SetDst the caller gives the old and new address to the L4 view's
// UpdateChecksumPseudoHeaderAddress, exactly as for IPv4.
//
// The packet is b[:IPv6Len+PayloadLen()]: bytes past it (an Ethernet
// trailer) are not part of it. Payload and PayloadProtocol are the
// upper layer after the extension headers (see ExtHeaders).
type IPv6 []byte

var _ Network = IPv6(nil)

// Valid checks the version and the payload length against len(b). A
// payload length of 0 reads as an empty payload: jumbograms (RFC 2675)
// are not carried on an Ethernet segment.
func (b IPv6) Valid() bool {
	return len(b) >= IPv6Len && b[0]>>4 == 6 && IPv6Len+int(binary.BigEndian.Uint16(b[4:])) <= len(b)
}

func (b IPv6) Version() uint8      { return b[0] >> 4 }
func (b IPv6) TrafficClass() uint8 { return uint8(binary.BigEndian.Uint16(b[0:]) >> 4) }
func (b IPv6) FlowLabel() uint32   { return binary.BigEndian.Uint32(b[0:]) & 0xfffff }
func (b IPv6) PayloadLen() int     { return int(binary.BigEndian.Uint16(b[4:])) }
func (b IPv6) NextHeader() uint8   { return b[6] }
func (b IPv6) HopLimit() uint8     { return b[7] }
func (b IPv6) Src() netip.Addr     { return netip.AddrFrom16([16]byte(b[8:24])) }
func (b IPv6) Dst() netip.Addr     { return netip.AddrFrom16([16]byte(b[24:40])) }

// Len is the length of the packet, header included.
func (b IPv6) Len() int { return IPv6Len + b.PayloadLen() }

// Rest is everything after the fixed header: extension headers and the
// upper layer.
func (b IPv6) Rest() []byte { return b[IPv6Len:b.Len()] }

// UpperLayer walks the extension headers and returns the upper-layer
// protocol and its offset in b. A malformed chain gives ok false. A
// fragment that is not atomic stops the walk with proto ProtoFragment:
// what follows it is a piece, not a header to parse.
func (b IPv6) UpperLayer() (proto uint8, off int, ok bool) {
	it := b.ExtHeaders()
	for it.Next() {
	}
	proto, off = it.Upper()
	return proto, off, !it.Malformed()
}

// PayloadProtocol is the upper-layer protocol after the extension
// headers: ProtoFragment for a piece of a fragmented packet and
// ProtoNoNext for a malformed chain, neither of which a caller parses.
func (b IPv6) PayloadProtocol() uint8 {
	p, _, ok := b.UpperLayer()
	if !ok {
		return ProtoNoNext
	}
	return p
}

// Payload is the upper-layer message after the extension headers (empty
// for a malformed chain).
func (b IPv6) Payload() []byte {
	_, off, ok := b.UpperLayer()
	if !ok {
		return b[b.Len():b.Len()]
	}
	return b[off:b.Len()]
}

// IsFragment reports whether the packet carries a fragment header that
// is not atomic (offset or more-fragments set).
func (b IPv6) IsFragment() bool {
	p, _, ok := b.UpperLayer()
	return ok && p == ProtoFragment
}

// PseudoHeaderChecksum is the partial sum of the upper-layer
// pseudo-header (RFC 8200 8.1) for this header's addresses, protocol
// proto and an upper-layer length of length bytes. The 32-bit length and
// the zero-padded next header sum to the same words as IPv4's.
func (b IPv6) PseudoHeaderChecksum(proto uint8, length uint16) uint16 {
	return PseudoHeaderChecksum(proto, b[8:24], b[24:40], length)
}

// SetSrc writes the source address (IPv6); the L4 checksum is the
// caller's (see the type).
func (b IPv6) SetSrc(a netip.Addr) { s := a.As16(); copy(b[8:24], s[:]) }

// SetDst writes the destination address (IPv6); as SetSrc.
func (b IPv6) SetDst(a netip.Addr) { d := a.As16(); copy(b[24:40], d[:]) }

// SetHopLimit writes the hop limit (no checksum covers it).
func (b IPv6) SetHopLimit(h uint8) { b[7] = h }

// DecHopLimit decrements the hop limit as a router does before
// forwarding. A hop limit of 0 or 1 is left alone and DecHopLimit reports
// false: the packet must not be forwarded (RFC 8200 3; the router sends
// Time Exceeded).
func (b IPv6) DecHopLimit() bool {
	if b[7] <= 1 {
		return false
	}
	b[7]--
	return true
}

// SetPayloadLen writes the payload length (the pseudo-header length is
// the L4 view's to fix). The view keeps its own length.
func (b IPv6) SetPayloadLen(n uint16) { binary.BigEndian.PutUint16(b[4:], n) }

// SetTrafficClass writes the traffic class, keeping version and flow label.
func (b IPv6) SetTrafficClass(tc uint8) {
	w := binary.BigEndian.Uint32(b[0:])
	binary.BigEndian.PutUint32(b[0:], w&^0x0ff00000|uint32(tc)<<20)
}

// SetFlowLabel writes the low 20 bits of fl as the flow label.
func (b IPv6) SetFlowLabel(fl uint32) {
	w := binary.BigEndian.Uint32(b[0:])
	binary.BigEndian.PutUint32(b[0:], w&^0xfffff|fl&0xfffff)
}

// IPv6Fields describes a header for Encode.
type IPv6Fields struct {
	TrafficClass uint8
	FlowLabel    uint32
	PayloadLen   uint16
	NextHeader   uint8
	HopLimit     uint8
	Src, Dst     netip.Addr
}

// Encode writes the 40-byte header.
func (b IPv6) Encode(f *IPv6Fields) {
	binary.BigEndian.PutUint32(b[0:], 6<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(b[4:], f.PayloadLen)
	b[6], b[7] = f.NextHeader, f.HopLimit
	b.SetSrc(f.Src)
	b.SetDst(f.Dst)
}

// IsIPv6ExtHeader reports whether proto names an extension header the
// walk steps over.
func IsIPv6ExtHeader(proto uint8) bool {
	return proto == ProtoHopByHop || proto == ProtoRouting || proto == ProtoFragment || proto == ProtoDestOpts
}

// IPv6ExtHeaders walks the extension headers of a valid IPv6 packet:
//
//	it := ip.ExtHeaders()
//	for it.Next() {
//		switch it.Proto() { ... it.Data() ... }
//	}
//	if it.Malformed() { drop }
//	proto, off := it.Upper()
//
// The walk stops at the first protocol that is not an extension header,
// after a fragment header that is not atomic, or on a malformed chain: a
// header running past the payload, a hop-by-hop header anywhere but
// first (RFC 8200 4.1), or more than IPv6MaxExtHeaders headers. It reads
// only inside the payload and never allocates.
type IPv6ExtHeaders struct {
	b     []byte // the packet, to the end of its payload
	next  uint8  // protocol at off
	off   int
	n     int
	proto uint8
	data  []byte
	bad   bool
	stop  bool
}

// ExtHeaders starts a walk of b's extension headers.
func (b IPv6) ExtHeaders() IPv6ExtHeaders {
	return IPv6ExtHeaders{b: b[:b.Len()], next: b[6], off: IPv6Len}
}

// Next steps to the next extension header; false at the upper layer or
// on a malformed chain.
func (it *IPv6ExtHeaders) Next() bool {
	if it.bad || it.stop || !IsIPv6ExtHeader(it.next) {
		return false
	}
	if it.n == IPv6MaxExtHeaders || (it.next == ProtoHopByHop && it.n > 0) || it.off+8 > len(it.b) {
		it.bad = true
		return false
	}
	l := IPv6FragHdrLen
	if it.next != ProtoFragment {
		l = (int(it.b[it.off+1]) + 1) * 8
	}
	if it.off+l > len(it.b) {
		it.bad = true
		return false
	}
	it.proto, it.data = it.next, it.b[it.off:it.off+l]
	it.next = it.data[0]
	it.off += l
	it.n++
	if it.proto == ProtoFragment && !IPv6FragmentHeader(it.data).Atomic() {
		it.stop = true
	}
	return true
}

// Proto is the current extension header's protocol number.
func (it *IPv6ExtHeaders) Proto() uint8 { return it.proto }

// Data is the current extension header, its next-header byte included.
func (it *IPv6ExtHeaders) Data() []byte { return it.data }

// Malformed reports whether the walk ended on a malformed chain.
func (it *IPv6ExtHeaders) Malformed() bool { return it.bad }

// Upper is the protocol and offset where the walk ended: the upper layer
// once Next has returned false (ProtoFragment after a non-atomic
// fragment header).
func (it *IPv6ExtHeaders) Upper() (proto uint8, off int) {
	if it.stop {
		return ProtoFragment, it.off
	}
	return it.next, it.off
}

// IPv6FragmentHeader is a view of the 8-byte fragment header (the Data of
// an ExtHeaders step with Proto ProtoFragment).
type IPv6FragmentHeader []byte

func (f IPv6FragmentHeader) NextHeader() uint8 { return f[0] }

// Offset is the fragment offset in 8-byte units.
func (f IPv6FragmentHeader) Offset() uint16      { return binary.BigEndian.Uint16(f[2:]) >> 3 }
func (f IPv6FragmentHeader) MoreFragments() bool { return f[3]&1 != 0 }
func (f IPv6FragmentHeader) ID() uint32          { return binary.BigEndian.Uint32(f[4:]) }

// Atomic reports a fragment header on a whole packet (offset 0, no more
// fragments; RFC 6946), whose payload is parsed as usual.
func (f IPv6FragmentHeader) Atomic() bool { return f.Offset() == 0 && !f.MoreFragments() }

// LinkLocalFromMAC is the fe80::/64 address with the modified EUI-64
// interface identifier of m (RFC 4291 2.5.1, appendix A).
func LinkLocalFromMAC(m MAC) netip.Addr {
	return netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80,
		8: m[0] ^ 0x02, 9: m[1], 10: m[2], 11: 0xff, 12: 0xfe, 13: m[3], 14: m[4], 15: m[5]})
}

// SolicitedNode is the solicited-node multicast group of a
// (ff02::1:ffXX:XXXX, RFC 4291 2.7.1), where neighbour solicitations for
// a are sent.
func SolicitedNode(a netip.Addr) netip.Addr {
	s := a.As16()
	return netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 11: 1, 12: 0xff, 13: s[13], 14: s[14], 15: s[15]})
}

// MulticastMAC6 is the Ethernet group address an IPv6 multicast group
// maps to: 33:33 and its low 32 bits (RFC 2464 7).
func MulticastMAC6(a netip.Addr) MAC {
	s := a.As16()
	return MAC{0x33, 0x33, s[12], s[13], s[14], s[15]}
}
