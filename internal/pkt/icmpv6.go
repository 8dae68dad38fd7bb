package pkt

import (
	"encoding/binary"
	"net/netip"
)

// ICMPv6 geometry: every message defined has at least type, code,
// checksum and a 4-byte field after them (RFC 4443 2.1, RFC 4861 4).
const (
	ICMPv6Len            = 8
	ICMPv6ChecksumOffset = 2
)

// ICMPv6 types (RFC 4443, RFC 4861, RFC 2710, RFC 3810) and the codes the
// gateway sends.
const (
	ICMPv6DstUnreach    = 1
	ICMPv6PacketTooBig  = 2
	ICMPv6TimeExceeded  = 3
	ICMPv6ParamProblem  = 4
	ICMPv6EchoRequest   = 128
	ICMPv6EchoReply     = 129
	ICMPv6MLDQuery      = 130
	ICMPv6MLDReport     = 131
	ICMPv6MLDDone       = 132
	ICMPv6RouterSolicit = 133
	ICMPv6RouterAdvert  = 134
	ICMPv6NeighSolicit  = 135
	ICMPv6NeighAdvert   = 136
	ICMPv6Redirect      = 137
	ICMPv6MLDv2Report   = 143

	ICMPv6CodeNoRoute       = 0 // destination unreachable
	ICMPv6CodeAdminProhibit = 1
	ICMPv6CodeAddrUnreach   = 3
	ICMPv6CodePortUnreach   = 4
	ICMPv6CodeHopLimit      = 0 // time exceeded in transit
	ICMPv6CodeUnknownNext   = 1 // parameter problem: unrecognized next header
)

// IsICMPv6Error reports whether typ is an error message (RFC 4443 2.1:
// types below 128), to which no error is ever sent back.
func IsICMPv6Error(typ uint8) bool { return typ < 128 }

// ICMPv6 is a view of an ICMPv6 message to the end of the IPv6 payload
// (the checksum covers all of it); check Valid first.
//
// The checksum covers the IPv6 pseudo-header (RFC 4443 2.3): ChecksumOK,
// ComputeChecksum and SetChecksum take its sum from
// IPv6.PseudoHeaderChecksum(ProtoICMPv6, uint16(len(c))). SetIdent and
// SetSeq update the checksum incrementally; after the IPv6 view's SetSrc
// or SetDst, UpdateChecksumPseudoHeaderAddress does.
type ICMPv6 []byte

func (c ICMPv6) Valid() bool      { return len(c) >= ICMPv6Len }
func (c ICMPv6) Type() uint8      { return c[0] }
func (c ICMPv6) Code() uint8      { return c[1] }
func (c ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(c[ICMPv6ChecksumOffset:]) }

// Ident is the identifier of an echo request or reply.
func (c ICMPv6) Ident() uint16 { return binary.BigEndian.Uint16(c[4:]) }

// Seq is the sequence number of an echo request or reply.
func (c ICMPv6) Seq() uint16 { return binary.BigEndian.Uint16(c[6:]) }

// Word is the 32-bit field after the checksum: the MTU of Packet Too Big,
// the pointer of Parameter Problem.
func (c ICMPv6) Word() uint32 { return binary.BigEndian.Uint32(c[4:]) }

// Payload is what follows the 8-byte header: echo data, or the quoted
// packet of an error.
func (c ICMPv6) Payload() []byte { return c[ICMPv6Len:] }

// ChecksumOK reports whether the message verifies with pseudo, the
// pseudo-header sum for len(c).
func (c ICMPv6) ChecksumOK(pseudo uint16) bool { return Checksum(c, pseudo) == 0xffff }

// ComputeChecksum is the checksum computed in full from pseudo (the field
// counted as zero), as it should be stored.
func (c ICMPv6) ComputeChecksum(pseudo uint16) uint16 {
	s := Checksum(c[:ICMPv6ChecksumOffset], pseudo)
	return ^Checksum(c[ICMPv6ChecksumOffset+2:], s)
}

// SetChecksum stores ComputeChecksum(pseudo).
func (c ICMPv6) SetChecksum(pseudo uint16) {
	binary.BigEndian.PutUint16(c[ICMPv6ChecksumOffset:], c.ComputeChecksum(pseudo))
}

// SetIdent writes the echo identifier and updates the checksum.
func (c ICMPv6) SetIdent(id uint16) { c.setWord(4, id) }

// SetSeq writes the echo sequence number and updates the checksum.
func (c ICMPv6) SetSeq(seq uint16) { c.setWord(6, seq) }

// SetType writes the type and code (one checksum word) and updates the
// checksum: an echo request turned into its reply.
func (c ICMPv6) SetType(typ, code uint8) { c.setWord(0, uint16(typ)<<8|uint16(code)) }

// setWord writes the 16-bit word at off (even) with an RFC 1624 update.
// The pseudo-header's next header (58) keeps the covered sum nonzero, so
// unlike ICMPv4 the incremental result is always the canonical one.
func (c ICMPv6) setWord(off int, v uint16) {
	old := binary.BigEndian.Uint16(c[off:])
	binary.BigEndian.PutUint16(c[off:], v)
	binary.BigEndian.PutUint16(c[ICMPv6ChecksumOffset:], ChecksumUpdate16(c.Checksum(), old, v))
}

// UpdateChecksumPseudoHeaderAddress updates the checksum for an address
// of the pseudo-header going from old to new (both IPv6).
func (c ICMPv6) UpdateChecksumPseudoHeaderAddress(old, new netip.Addr) {
	binary.BigEndian.PutUint16(c[ICMPv6ChecksumOffset:], ChecksumUpdateAddress(c.Checksum(), old, new))
}

// EncodeHeader writes type, code and the 32-bit word after the checksum,
// zeroing the checksum; the body follows at c[8:] and SetChecksum ends.
func (c ICMPv6) EncodeHeader(typ, code uint8, word uint32) {
	c[0], c[1], c[2], c[3] = typ, code, 0, 0
	binary.BigEndian.PutUint32(c[4:], word)
}
