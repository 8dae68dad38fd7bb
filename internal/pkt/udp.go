package pkt

import (
	"encoding/binary"
	"net/netip"
)

// UDP geometry.
const (
	UDPLen            = 8
	UDPChecksumOffset = 6
)

// UDP is a view of a UDP header and payload; check Valid first. The
// datagram is u[:Length()]: bytes past it are not covered by the checksum.
//
// Over IPv4 a checksum field of 0 means "no checksum" (RFC 768): the
// setters leave such a complete checksum at 0, and a checksum that
// computes to 0 is stored as 0xffff, as Linux's CSUM_MANGLED_0 does.
type UDP []byte

// Valid reports whether u holds the header and the length it claims.
func (u UDP) Valid() bool {
	return len(u) >= UDPLen && int(binary.BigEndian.Uint16(u[4:])) >= UDPLen && int(binary.BigEndian.Uint16(u[4:])) <= len(u)
}
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[0:]) }
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[2:]) }
func (u UDP) Length() int     { return int(binary.BigEndian.Uint16(u[4:])) }
func (u UDP) Payload() []byte { return u[UDPLen:u.Length()] }

// SetLength writes the length field. The length is also in the
// pseudo-header, so no incremental update is made: a datagram whose
// length changes (a segment cut from a super-frame) gets SetChecksum.
func (u UDP) SetLength(n uint16) { binary.BigEndian.PutUint16(u[4:], n) }

// Checksum is the checksum field as stored.
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[UDPChecksumOffset:]) }

// ComputeChecksum is the checksum of the datagram computed in full (the
// field counted as zero) from pseudo, the pseudo-header sum for a length
// of Length() (IPv4.PseudoHeaderChecksum). It is never 0: a computed 0
// comes back as 0xffff.
func (u UDP) ComputeChecksum(pseudo uint16) uint16 {
	s := Checksum(u[:UDPChecksumOffset], pseudo)
	c := ^Checksum(u[UDPChecksumOffset+2:u.Length()], s)
	if c == 0 {
		c = 0xffff
	}
	return c
}

// SetChecksum stores ComputeChecksum(pseudo). The field is cleared
// first, so one pass sums the datagram: the same sum.
func (u UDP) SetChecksum(pseudo uint16) {
	u[UDPChecksumOffset], u[UDPChecksumOffset+1] = 0, 0
	u.storeFull(^Checksum(u[:u.Length()], pseudo))
}

// SetSrcPort writes the source port and, for a complete checksum, updates
// it (a partial one does not cover the ports).
func (u UDP) SetSrcPort(p uint16, fullChecksum bool) { u.setPort(0, p, fullChecksum) }

// SetDstPort writes the destination port; the checksum as for SetSrcPort.
func (u UDP) SetDstPort(p uint16, fullChecksum bool) { u.setPort(2, p, fullChecksum) }

func (u UDP) setPort(off int, p uint16, fullChecksum bool) {
	old := binary.BigEndian.Uint16(u[off:])
	binary.BigEndian.PutUint16(u[off:], p)
	if c := u.Checksum(); fullChecksum && c != 0 {
		u.storeFull(ChecksumUpdate16(c, old, p))
	}
}

// UpdateChecksumPseudoHeaderAddress updates the checksum for an address
// of the pseudo-header going from old to new (both IPv4 or both IPv6),
// after the network header's SetSrc or SetDst. A complete checksum gets
// the RFC 1624 update (and stays 0 if it was 0: none); a partial one, the
// uncomplemented pseudo-header sum, gets the change added.
func (u UDP) UpdateChecksumPseudoHeaderAddress(old, new netip.Addr, fullChecksum bool) {
	c := u.Checksum()
	if !fullChecksum {
		binary.BigEndian.PutUint16(u[UDPChecksumOffset:], sumUpdateAddress(c, old, new))
		return
	}
	if c != 0 {
		u.storeFull(ChecksumUpdateAddress(c, old, new))
	}
}

// storeFull stores an updated complete checksum, 0 as 0xffff.
func (u UDP) storeFull(c uint16) {
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(u[UDPChecksumOffset:], c)
}

// EncodeUDP writes a UDP header for a payload of n bytes already in place
// at u[8:], with the checksum over the pseudo-header of src and dst
// (both IPv4 or both IPv6).
func EncodeUDP(u []byte, src, dst netip.Addr, sport, dport uint16, n int) {
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(UDPLen+n))
	u[6], u[7] = 0, 0
	var ph uint16
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		ph = PseudoHeaderChecksum(ProtoUDP, s[:], d[:], uint16(UDPLen+n))
	} else {
		s, d := src.As16(), dst.As16()
		ph = PseudoHeaderChecksum(ProtoUDP, s[:], d[:], uint16(UDPLen+n))
	}
	c := ^Checksum(u[:UDPLen+n], ph)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], c)
}

// UDP4FrameHdrLen is the Ethernet, IPv4 (no options) and UDP headers in
// front of a datagram's payload in a frame.
const UDP4FrameHdrLen = EthernetLen + IPv4MinLen + UDPLen

// EncodeUDP4Frame writes the Ethernet, IPv4 and UDP headers of a frame
// from src to dst whose n-byte payload is already in place at
// b[UDP4FrameHdrLen:]. ip gives the addresses, ID, flags and TTL; its
// length and protocol are set here. It returns the frame's length.
func EncodeUDP4Frame(b []byte, dst, src MAC, ip IPv4Fields, sport, dport uint16, n int) int {
	Ethernet(b).Encode(&EthernetFields{Dst: dst, Src: src, Type: TypeIPv4})
	ip.TotalLen, ip.Protocol = uint16(IPv4MinLen+UDPLen+n), ProtoUDP
	IPv4(b[EthernetLen:]).Encode(&ip)
	EncodeUDP(b[EthernetLen+IPv4MinLen:], ip.Src, ip.Dst, sport, dport, n)
	return UDP4FrameHdrLen + n
}
