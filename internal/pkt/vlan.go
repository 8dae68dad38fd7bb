package pkt

import "encoding/binary"

// 802.1Q geometry.
const (
	VLANTagLen    = 4    // TPID(2) TCI(2)
	VLANHeaderLen = 18   // Ethernet header plus one tag
	MaxVID        = 4094 // 0 means priority-tagged, 4095 is reserved
	VIDMask       = 0x0fff
)

// VLAN is a view of an Ethernet header carrying one 802.1Q tag:
// dst(6) src(6) TPID(2) TCI(2) inner type(2). Check Valid first.
type VLAN []byte

// Valid reports whether v holds the full tagged header.
func (v VLAN) Valid() bool { return len(v) >= VLANHeaderLen }

// TPID is the tag protocol identifier (0x8100 for 802.1Q).
func (v VLAN) TPID() uint16 { return binary.BigEndian.Uint16(v[12:]) }

// TCI is the tag control information: PCP(3) DEI(1) VID(12).
func (v VLAN) TCI() uint16 { return binary.BigEndian.Uint16(v[14:]) }

// VID is the VLAN identifier.
func (v VLAN) VID() uint16 { return v.TCI() & VIDMask }

// PCP is the priority code point.
func (v VLAN) PCP() uint8 { return uint8(v.TCI() >> 13) }

// InnerType is the EtherType after the tag.
func (v VLAN) InnerType() uint16 { return binary.BigEndian.Uint16(v[16:]) }

// SetTCI writes the tag control information.
func (v VLAN) SetTCI(tci uint16) { binary.BigEndian.PutUint16(v[14:], tci) }

// IsTPID reports whether an EtherType is one of the tag protocol identifiers
// (802.1Q, 802.1ad, or the old 0x9100).
func IsTPID(t uint16) bool { return t == TypeVLAN || t == TypeQinQ || t == TypeQinQOld }

// PushTag inserts a tag after the MAC addresses of the frame that starts at
// buf[off:off+n]. It needs VLANTagLen bytes of headroom before off and
// returns the new start. The MAC addresses move; the payload stays put.
func PushTag(buf []byte, off int, tpid, tci uint16) int {
	off -= VLANTagLen
	copy(buf[off:off+12], buf[off+VLANTagLen:off+VLANTagLen+12])
	binary.BigEndian.PutUint16(buf[off+12:], tpid)
	binary.BigEndian.PutUint16(buf[off+14:], tci)
	return off
}

// PopTag removes the tag of the tagged frame that starts at buf[off:] and
// returns the new start (off+VLANTagLen).
func PopTag(buf []byte, off int) int {
	copy(buf[off+VLANTagLen:off+VLANTagLen+12], buf[off:off+12])
	return off + VLANTagLen
}
