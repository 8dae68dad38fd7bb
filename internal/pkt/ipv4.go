package pkt

import (
	"encoding/binary"
	"net/netip"
)

// IPv4 geometry and protocol numbers.
const (
	IPv4MinLen   = 20
	ProtoICMP    = 1
	ProtoTCP     = 6
	ProtoUDP     = 17
	UDPLen       = 8
	ICMPLen      = 8
	IPv4FlagDF   = 0x4000
	IPv4FlagMF   = 0x2000
	IPv4FragMask = 0x1fff
)

// IPv4 is a view of an IPv4 header and what follows; check Valid first.
type IPv4 []byte

// Valid checks version, header length and total length against len(b).
func (b IPv4) Valid() bool {
	if len(b) < IPv4MinLen || b[0]>>4 != 4 {
		return false
	}
	hl := int(b[0]&0xf) * 4
	tl := int(binary.BigEndian.Uint16(b[2:]))
	return hl >= IPv4MinLen && hl <= tl && tl <= len(b)
}

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

// UDP is a view of a UDP header and payload.
type UDP []byte

func (u UDP) Valid() bool {
	return len(u) >= UDPLen && int(binary.BigEndian.Uint16(u[4:])) >= UDPLen && int(binary.BigEndian.Uint16(u[4:])) <= len(u)
}
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[0:]) }
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[2:]) }
func (u UDP) Length() int     { return int(binary.BigEndian.Uint16(u[4:])) }
func (u UDP) Payload() []byte { return u[UDPLen:u.Length()] }

// EncodeUDP writes a UDP header for a payload of n bytes already in place
// at u[8:], with the checksum over the pseudo-header.
func EncodeUDP(u []byte, src, dst netip.Addr, sport, dport uint16, n int) {
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(UDPLen+n))
	u[6], u[7] = 0, 0
	s, d := src.As4(), dst.As4()
	ph := PseudoHeaderChecksum(ProtoUDP, s[:], d[:], uint16(UDPLen+n))
	c := ^Checksum(u[:UDPLen+n], ph)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], c)
}

// ICMP types and codes the gateway uses.
const (
	ICMPEchoReply        = 0
	ICMPUnreachable      = 3
	ICMPEchoRequest      = 8
	ICMPTimeExceeded     = 11
	ICMPCodeProtoUnreach = 2
	ICMPCodePortUnreach  = 3
	ICMPCodeFragNeeded   = 4
)

// ICMP is a view of an ICMPv4 message.
type ICMP []byte

func (c ICMP) Valid() bool { return len(c) >= ICMPLen }
func (c ICMP) Type() uint8 { return c[0] }
func (c ICMP) Code() uint8 { return c[1] }
