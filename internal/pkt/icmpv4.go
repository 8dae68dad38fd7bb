package pkt

import "encoding/binary"

// ICMPv4 geometry.
const (
	ICMPLen            = 8
	ICMPChecksumOffset = 2
)

// ICMP types and codes the gateway uses.
const (
	ICMPEchoReply        = 0
	ICMPUnreachable      = 3
	ICMPEchoRequest      = 8
	ICMPTimeExceeded     = 11
	ICMPParamProblem     = 12
	ICMPCodeProtoUnreach = 2
	ICMPCodePortUnreach  = 3
	ICMPCodeFragNeeded   = 4
)

// ICMPv4 is a view of an ICMPv4 message, header and body to the end of
// the IP payload (the checksum covers all of it); check Valid first.
// ICMPv6 is the same shape, with a pseudo-header in its checksum.
type ICMPv4 []byte

// ICMP is the first name of ICMPv4, kept for the callers that use it.
type ICMP = ICMPv4

func (c ICMPv4) Valid() bool      { return len(c) >= ICMPLen }
func (c ICMPv4) Type() uint8      { return c[0] }
func (c ICMPv4) Code() uint8      { return c[1] }
func (c ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(c[ICMPChecksumOffset:]) }

// Ident is the identifier of an echo request or reply.
func (c ICMPv4) Ident() uint16 { return binary.BigEndian.Uint16(c[4:]) }

// Seq is the sequence number of an echo request or reply.
func (c ICMPv4) Seq() uint16 { return binary.BigEndian.Uint16(c[6:]) }

// Payload is what follows the 8-byte header: echo data, or the quoted
// packet of an error.
func (c ICMPv4) Payload() []byte { return c[ICMPLen:] }

// ComputeChecksum is the checksum of the message computed in full (the
// field counted as zero), as it should be stored.
func (c ICMPv4) ComputeChecksum() uint16 {
	return ^Checksum(c[ICMPChecksumOffset+2:], Checksum(c[:ICMPChecksumOffset], 0))
}

// SetChecksum stores ComputeChecksum.
func (c ICMPv4) SetChecksum() {
	binary.BigEndian.PutUint16(c[ICMPChecksumOffset:], c.ComputeChecksum())
}

// SetIdent writes the echo identifier and updates the checksum.
func (c ICMPv4) SetIdent(id uint16) { c.setWord(4, id) }

// SetSeq writes the echo sequence number and updates the checksum.
func (c ICMPv4) SetSeq(seq uint16) { c.setWord(6, seq) }

// setWord writes the 16-bit word at off (even) with an RFC 1624 update of
// the checksum. Unlike the IPv4 header and TCP/UDP (whose sums include a
// nonzero version or protocol), an ICMP message can be all zeros, whose
// checksum is 0xffff; the incremental update gives 0 there, so a result of
// 0 (1 in 65536) is checked by a full computation.
func (c ICMPv4) setWord(off int, v uint16) {
	old := binary.BigEndian.Uint16(c[off:])
	binary.BigEndian.PutUint16(c[off:], v)
	s := ChecksumUpdate16(c.Checksum(), old, v)
	if s == 0 {
		s = c.ComputeChecksum()
	}
	binary.BigEndian.PutUint16(c[ICMPChecksumOffset:], s)
}
