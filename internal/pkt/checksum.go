package pkt

import (
	"encoding/binary"
	"net/netip"
)

// Checksum folds b into the running one's-complement sum (RFC 1071) and
// returns the new 16-bit partial sum; start with initial 0. Odd-length
// input is padded with a zero byte, as the Internet checksum requires, so
// only the last piece of a sum may be odd-length.
func Checksum(b []byte, initial uint16) uint16 {
	sum := uint64(initial)
	for len(b) >= 8 {
		// Summing 32-bit halves into 64 bits defers the carries.
		sum += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	if len(b) >= 4 {
		sum += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// ChecksumCombine adds two partial sums.
func ChecksumCombine(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s&0xffff + s>>16)
}

// PseudoHeaderChecksum is the partial sum of the TCP/UDP pseudo-header for
// IPv4 (4-byte addresses) or IPv6 (16-byte addresses).
func PseudoHeaderChecksum(proto uint8, src, dst []byte, length uint16) uint16 {
	s := Checksum(src, 0)
	s = Checksum(dst, s)
	return ChecksumCombine(s, ChecksumCombine(uint16(proto), length))
}

// ChecksumUpdate16 returns checksum hc (as stored in a header) after one
// 16-bit word of the covered data changed from old to new (RFC 1624 eqn. 3:
// HC' = ~(~HC + ~m + m')).
func ChecksumUpdate16(hc, old, new uint16) uint16 {
	return ^ChecksumCombine(ChecksumCombine(^hc, ^old), new)
}

// sumUpdateAddress adds the change of an address from old to new to an
// uncomplemented one's-complement sum s (RFC 1624: s + ~m + m' per word).
// Both addresses must be IPv4, or both IPv6; the address must start at an
// even offset of the covered data, as it does in every header and
// pseudo-header. Zero allocations: As4/As16 return arrays.
func sumUpdateAddress(s uint16, old, new netip.Addr) uint16 {
	if old.Is4() {
		o, n := old.As4(), new.As4()
		s = sumUpdate16(s, binary.BigEndian.Uint16(o[0:]), binary.BigEndian.Uint16(n[0:]))
		return sumUpdate16(s, binary.BigEndian.Uint16(o[2:]), binary.BigEndian.Uint16(n[2:]))
	}
	o, n := old.As16(), new.As16()
	for i := 0; i < 16; i += 2 {
		s = sumUpdate16(s, binary.BigEndian.Uint16(o[i:]), binary.BigEndian.Uint16(n[i:]))
	}
	return s
}

// sumUpdate16 is s + ~old + new in one's complement: the uncomplemented
// sum after one 16-bit word changed. A nonzero s stays nonzero, so a sum
// that was the canonical fold of nonzero data stays canonical.
func sumUpdate16(s, old, new uint16) uint16 {
	return ChecksumCombine(ChecksumCombine(s, ^old), new)
}

// ChecksumUpdateAddress returns checksum hc (as stored in a header) after
// an address in the covered data (or its pseudo-header) changed from old
// to new: ChecksumUpdate16 for each of its words. Both addresses must be
// IPv4, or both IPv6.
func ChecksumUpdateAddress(hc uint16, old, new netip.Addr) uint16 {
	return ^sumUpdateAddress(^hc, old, new)
}
