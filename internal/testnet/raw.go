package testnet

import "encoding/binary"

// RawFrame is a frame read from a Raw socket.
type RawFrame struct {
	Data []byte // the frame as read (untagged when the kernel stripped it)
	// Tagged: the kernel reported a stripped 802.1Q tag; TCI and TPID are
	// that tag.
	Tagged bool
	TCI    uint16
	TPID   uint16
}

// VLAN returns the frame's tag: the stripped one, or else one still in
// the buffer; ok is false for an untagged frame.
func (f RawFrame) VLAN() (vid uint16, pcp uint8, tpid uint16, ok bool) {
	if f.Tagged {
		return f.TCI & 0xfff, uint8(f.TCI >> 13), f.TPID, true
	}
	if len(f.Data) >= 18 {
		if t := binary.BigEndian.Uint16(f.Data[12:]); t == 0x8100 || t == 0x88a8 {
			tci := binary.BigEndian.Uint16(f.Data[14:])
			return tci & 0xfff, uint8(tci >> 13), t, true
		}
	}
	return 0, 0, 0, false
}
