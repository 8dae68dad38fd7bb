package pkt

import (
	"encoding/binary"
	"fmt"
)

// Ethernet header geometry and the EtherTypes the switch looks at.
const (
	EthernetLen  = 14 // dst(6) src(6) type(2)
	MACLen       = 6
	EtherTypeOff = 12
	MinFrameLen  = EthernetLen
	TypeIPv4     = 0x0800
	TypeARP      = 0x0806
	TypeVLAN     = 0x8100 // IEEE 802.1Q C-tag
	TypeQinQ     = 0x88a8 // IEEE 802.1ad S-tag
	TypeQinQOld  = 0x9100 // pre-standard double tagging
	TypeIPv6     = 0x86dd
	MinEtherType = 0x0600 // below this the field is an 802.3 length
)

// MAC is an Ethernet address as a comparable value.
type MAC [6]byte

// Broadcast is ff:ff:ff:ff:ff:ff.
var Broadcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// IsMulticast reports whether the group bit is set (broadcast included).
func (m MAC) IsMulticast() bool { return m[0]&1 == 1 }

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

// Uint64 packs the address into the low 48 bits, for map keys.
func (m MAC) Uint64() uint64 {
	return uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 |
		uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5])
}

// MACFromUint64 is the inverse of Uint64.
func MACFromUint64(u uint64) MAC {
	return MAC{byte(u >> 40), byte(u >> 32), byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)}
}

// String formats m as lower-case colon-separated hex. Not for the frame path.
func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// MarshalText implements encoding.TextMarshaler (JSON output of the API).
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *MAC) UnmarshalText(b []byte) error {
	v, err := ParseMAC(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ParseMAC parses the colon or dash separated form "52:54:00:ab:cd:ef".
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) != 17 {
		return m, fmt.Errorf("bad MAC address %q: want 6 hex bytes like 52:54:00:12:34:56", s)
	}
	for i := 0; i < 6; i++ {
		if i > 0 && s[3*i-1] != ':' && s[3*i-1] != '-' {
			return m, fmt.Errorf("bad MAC address %q: bytes must be separated by ':'", s)
		}
		hi, ok1 := fromHex(s[3*i])
		lo, ok2 := fromHex(s[3*i+1])
		if !ok1 || !ok2 {
			return m, fmt.Errorf("bad MAC address %q: %q is not hex", s, s[3*i:3*i+2])
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Ethernet is a view of an Ethernet II header; check Valid first.
type Ethernet []byte

// Valid reports whether e is long enough to hold the header.
func (e Ethernet) Valid() bool { return len(e) >= EthernetLen }

// Dst is the destination address.
func (e Ethernet) Dst() MAC { return MAC(e[0:6]) }

// Src is the source address.
func (e Ethernet) Src() MAC { return MAC(e[6:12]) }

// Type is the EtherType (or the first tag's TPID).
func (e Ethernet) Type() uint16 { return binary.BigEndian.Uint16(e[EtherTypeOff:]) }

// SetDst writes the destination address.
func (e Ethernet) SetDst(m MAC) { copy(e[0:6], m[:]) }

// SetSrc writes the source address.
func (e Ethernet) SetSrc(m MAC) { copy(e[6:12], m[:]) }

// SetType writes the EtherType.
func (e Ethernet) SetType(t uint16) { binary.BigEndian.PutUint16(e[EtherTypeOff:], t) }

// Payload is what follows the 14-byte header.
func (e Ethernet) Payload() []byte { return e[EthernetLen:] }

// EthernetFields describes a header for Encode.
type EthernetFields struct {
	Dst, Src MAC
	Type     uint16
}

// Encode writes f into e, which must be at least EthernetLen long.
func (e Ethernet) Encode(f *EthernetFields) {
	e.SetDst(f.Dst)
	e.SetSrc(f.Src)
	e.SetType(f.Type)
}
