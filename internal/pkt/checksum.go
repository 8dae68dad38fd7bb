package pkt

import "encoding/binary"

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
