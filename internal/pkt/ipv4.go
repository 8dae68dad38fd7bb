package pkt

import (
	"encoding/binary"
	"net/netip"
)

// IPv4 geometry and flags.
const (
	IPv4MinLen         = 20
	IPv4ChecksumOffset = 10
	IPv4FlagDF         = 0x4000
	IPv4FlagMF         = 0x2000
	IPv4FragMask       = 0x1fff
)

// IPv4 is a view of an IPv4 header and what follows; check Valid first.
//
// Every setter keeps the header checksum right with an RFC 1624
// incremental update, so a header whose checksum verified still verifies,
// and one whose checksum was the canonical full computation still equals
// it. The L4 checksum is the caller's: after SetSrc or SetDst, give the
// old and new address to the TCP or UDP view's
// UpdateChecksumPseudoHeaderAddress.
type IPv4 []byte

var _ Network = IPv4(nil)

// Valid checks version, header length and total length against len(b).
func (b IPv4) Valid() bool {
	if len(b) < IPv4MinLen || b[0]>>4 != 4 {
		return false
	}
	hl := int(b[0]&0xf) * 4
	tl := int(binary.BigEndian.Uint16(b[2:]))
	return hl >= IPv4MinLen && hl <= tl && tl <= len(b)
}

func (b IPv4) Version() uint8         { return b[0] >> 4 }
func (b IPv4) HeaderLen() int         { return int(b[0]&0xf) * 4 }
func (b IPv4) TotalLen() int          { return int(binary.BigEndian.Uint16(b[2:])) }
func (b IPv4) ID() uint16             { return binary.BigEndian.Uint16(b[4:]) }
func (b IPv4) FlagsFrag() uint16      { return binary.BigEndian.Uint16(b[6:]) }
func (b IPv4) TTL() uint8             { return b[8] }
func (b IPv4) Protocol() uint8        { return b[9] }
func (b IPv4) Src() netip.Addr        { return netip.AddrFrom4([4]byte(b[12:16])) }
func (b IPv4) Dst() netip.Addr        { return netip.AddrFrom4([4]byte(b[16:20])) }
func (b IPv4) Payload() []byte        { return b[b.HeaderLen():b.TotalLen()] }
func (b IPv4) IsFragment() bool       { return b.FlagsFrag()&(IPv4FlagMF|IPv4FragMask) != 0 }
func (b IPv4) HeaderChecksumOK() bool { return Checksum(b[:b.HeaderLen()], 0) == 0xffff }

// Checksum is the header checksum field as stored.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[IPv4ChecksumOffset:]) }

// PayloadProtocol is the protocol of the payload (Protocol, for Network:
// IPv6 names it Next Header).
func (b IPv4) PayloadProtocol() uint8 { return b[9] }

// PseudoHeaderChecksum is the partial sum of the TCP/UDP pseudo-header
// for this header's addresses, protocol proto and an L4 length of length
// bytes: the initial sum of a TCP or UDP view's ComputeChecksum.
func (b IPv4) PseudoHeaderChecksum(proto uint8, length uint16) uint16 {
	return PseudoHeaderChecksum(proto, b[12:16], b[16:20], length)
}

// ComputeChecksum is the header checksum computed in full (the field
// itself counted as zero), as it should be stored.
func (b IPv4) ComputeChecksum() uint16 {
	s := Checksum(b[:IPv4ChecksumOffset], 0)
	return ^Checksum(b[IPv4ChecksumOffset+2:b.HeaderLen()], s)
}

// SetChecksum stores ComputeChecksum: for a header built or changed by
// hand, or one whose stored checksum was wrong to begin with (an
// incremental update keeps a wrong checksum wrong).
func (b IPv4) SetChecksum() {
	b[IPv4ChecksumOffset], b[IPv4ChecksumOffset+1] = 0, 0 // one pass: the same sum
	binary.BigEndian.PutUint16(b[IPv4ChecksumOffset:], ^Checksum(b[:b.HeaderLen()], 0))
}

// setWord writes the 16-bit word at off (even, inside the header) and
// updates the header checksum for it.
func (b IPv4) setWord(off int, v uint16) {
	old := binary.BigEndian.Uint16(b[off:])
	binary.BigEndian.PutUint16(b[off:], v)
	binary.BigEndian.PutUint16(b[IPv4ChecksumOffset:], ChecksumUpdate16(b.Checksum(), old, v))
}

// SetSrc writes the source address (IPv4) and updates the header checksum.
func (b IPv4) SetSrc(a netip.Addr) { b.setAddr(12, a) }

// SetDst writes the destination address (IPv4) and updates the header
// checksum.
func (b IPv4) SetDst(a netip.Addr) { b.setAddr(16, a) }

func (b IPv4) setAddr(off int, a netip.Addr) {
	old := netip.AddrFrom4([4]byte(b[off : off+4]))
	n := a.As4()
	copy(b[off:off+4], n[:])
	binary.BigEndian.PutUint16(b[IPv4ChecksumOffset:], ChecksumUpdateAddress(b.Checksum(), old, a))
}

// SetTTL writes the TTL and updates the header checksum.
func (b IPv4) SetTTL(ttl uint8) { b.setWord(8, uint16(ttl)<<8|uint16(b[9])) }

// DecTTL decrements the TTL and updates the header checksum, as a router
// does before forwarding. A TTL of 0 or 1 is left alone and DecTTL reports
// false: the packet must not be forwarded (RFC 1812 5.3.1).
func (b IPv4) DecTTL() bool {
	if b[8] <= 1 {
		return false
	}
	b.SetTTL(b[8] - 1)
	return true
}

// SetID writes the identification field and updates the header checksum.
func (b IPv4) SetID(id uint16) { b.setWord(4, id) }

// SetTotalLen writes the total length and updates the header checksum
// (the TCP/UDP pseudo-header length is the L4 view's to fix). The view
// keeps its own length: Valid and Payload read the new field.
func (b IPv4) SetTotalLen(n uint16) { b.setWord(2, n) }

// IPv4Fields describes a header (no options) for Encode.
type IPv4Fields struct {
	TotalLen uint16
	ID       uint16
	Flags    uint16 // IPv4FlagDF etc.
	TTL      uint8
	Protocol uint8
	Src, Dst netip.Addr
}

// Encode writes a 20-byte header with its checksum.
func (b IPv4) Encode(f *IPv4Fields) {
	b[0], b[1] = 0x45, 0
	binary.BigEndian.PutUint16(b[2:], f.TotalLen)
	binary.BigEndian.PutUint16(b[4:], f.ID)
	binary.BigEndian.PutUint16(b[6:], f.Flags)
	b[8], b[9] = f.TTL, f.Protocol
	b[10], b[11] = 0, 0
	s, d := f.Src.As4(), f.Dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	binary.BigEndian.PutUint16(b[10:], ^Checksum(b[:IPv4MinLen], 0))
}
