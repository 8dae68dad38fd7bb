package pkt

import (
	"encoding/binary"
	"net/netip"
)

// MLD message types (ICMPv6 types, RFC 2710 and RFC 3810) and geometry.
const (
	MLDQuery      = 130
	MLDv1Report   = 131
	MLDv1Done     = 132
	MLDv2Report   = 143
	MLDMinLen     = 24 // v1 messages and the v2 query's fixed part less 4
	MLDv2QueryLen = 28 // a v2 query without sources
	mldV2RepHead  = 8
)

// MLD is a view of an MLD message (the ICMPv6 message after the IPv6
// header and its extension headers); check Valid first.
type MLD []byte

// Valid checks the length its type needs: 24 octets for v1 messages and
// queries, 8 for a v2 report's fixed part (records are checked as they are
// read).
func (b MLD) Valid() bool {
	if len(b) < mldV2RepHead {
		return false
	}
	return b[0] == MLDv2Report || len(b) >= MLDMinLen
}

func (b MLD) Type() uint8 { return b[0] }

// MaxRespDelay is the maximum response delay in milliseconds (v1, and v2
// codes below 32768).
func (b MLD) MaxRespDelay() uint16 { return binary.BigEndian.Uint16(b[4:]) }

// MaxRespMillis decodes a query's maximum response delay: v2 codes from
// 32768 on are floating point (RFC 3810 5.1.3).
func (b MLD) MaxRespMillis() int {
	c := int(b.MaxRespDelay())
	if c < 32768 || !b.IsV2Query() {
		return c
	}
	return (c&0xfff | 0x1000) << ((c>>12)&7 + 3)
}

// Group is the multicast address of a v1 message or a query (:: in a
// general query).
func (b MLD) Group() netip.Addr { return netip.AddrFrom16([16]byte(b[8:24])) }

// IsV2Query reports whether a query is MLDv2's (RFC 3810 8.1: 28 octets or
// more).
func (b MLD) IsV2Query() bool { return b[0] == MLDQuery && len(b) >= MLDv2QueryLen }

// ChecksumOK verifies the ICMPv6 checksum with the IPv6 pseudo-header of
// src and dst.
func (b MLD) ChecksumOK(src, dst netip.Addr) bool {
	s, d := src.As16(), dst.As16()
	ph := PseudoHeaderChecksum(ProtoICMPv6, s[:], d[:], uint16(len(b)))
	return Checksum(b, ph) == 0xffff
}

// Records walks a v2 report's multicast address records.
func (b MLD) Records() GroupRecords {
	return GroupRecords{b: b[mldV2RepHead:], left: int(binary.BigEndian.Uint16(b[6:])), addrLen: 16}
}

// MLDQueryFields describe an MLDv2 query to build.
type MLDQueryFields struct {
	Group        netip.Addr // zero or ::, a general query
	MaxRespDelay uint16     // milliseconds (below 32768: literal)
	QRV          uint8
	QQIC         uint8 // seconds below 128
}

// EncodeMLDv2Query writes an MLDv2 query (MLDv2QueryLen bytes) into b with
// the checksum for src -> dst and returns its length.
func EncodeMLDv2Query(b []byte, f *MLDQueryFields, src, dst netip.Addr) int {
	n := MLDv2QueryLen
	clear(b[:n])
	b[0] = MLDQuery
	binary.BigEndian.PutUint16(b[4:], f.MaxRespDelay)
	if f.Group.Is6() {
		g := f.Group.As16()
		copy(b[8:24], g[:])
	}
	b[24], b[25] = f.QRV&7, f.QQIC
	s, d := src.As16(), dst.As16()
	ph := PseudoHeaderChecksum(ProtoICMPv6, s[:], d[:], uint16(n))
	binary.BigEndian.PutUint16(b[2:], ^Checksum(b[:n], ph))
	return n
}

// MLD returns the MLD message of a valid IPv6 packet, if it carries one:
// an ICMPv6 message of an MLD type after the extension headers. A
// fragment or a malformed chain carries none.
func (b IPv6) MLD() (MLD, bool) {
	proto, off, ok := b.UpperLayer()
	if !ok || proto != ProtoICMPv6 || off >= b.Len() {
		return nil, false
	}
	switch b[off] {
	case MLDQuery, MLDv1Report, MLDv1Done, MLDv2Report:
		return MLD(b[off:b.Len()]), true
	}
	return nil, false
}
