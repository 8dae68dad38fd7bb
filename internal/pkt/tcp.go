package pkt

import (
	"encoding/binary"
	"net/netip"
)

// TCP geometry.
const (
	TCPMinLen         = 20
	TCPFlagsOffset    = 13
	TCPChecksumOffset = 16
)

// TCP flag bits, as in the flags byte (offset 13) and Flags: the one
// place they are defined.
const (
	TCPFlagFIN = 0x01
	TCPFlagSYN = 0x02
	TCPFlagRST = 0x04
	TCPFlagPSH = 0x08
	TCPFlagACK = 0x10
	TCPFlagURG = 0x20
	TCPFlagECE = 0x40
	TCPFlagCWR = 0x80
)

// TCP is a view of a TCP segment, header and payload, ending where the
// network header says the payload ends (the checksum covers all of it);
// check Valid first.
type TCP []byte

// Valid reports whether t holds a header whose data offset is at least
// 20 bytes and no more than t.
func (t TCP) Valid() bool {
	if len(t) < TCPMinLen {
		return false
	}
	off := int(t[12]>>4) * 4
	return off >= TCPMinLen && off <= len(t)
}

func (t TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(t[0:]) }
func (t TCP) DstPort() uint16 { return binary.BigEndian.Uint16(t[2:]) }
func (t TCP) Seq() uint32     { return binary.BigEndian.Uint32(t[4:]) }
func (t TCP) Ack() uint32     { return binary.BigEndian.Uint32(t[8:]) }

// DataOffset is the header length in bytes, options included.
func (t TCP) DataOffset() int { return int(t[12]>>4) * 4 }

// Flags is the flags byte: TCPFlagFIN and the rest.
func (t TCP) Flags() uint8     { return t[TCPFlagsOffset] }
func (t TCP) Window() uint16   { return binary.BigEndian.Uint16(t[14:]) }
func (t TCP) Checksum() uint16 { return binary.BigEndian.Uint16(t[TCPChecksumOffset:]) }
func (t TCP) Urgent() uint16   { return binary.BigEndian.Uint16(t[18:]) }
func (t TCP) Options() []byte  { return t[TCPMinLen:t.DataOffset()] }
func (t TCP) Payload() []byte  { return t[t.DataOffset():] }

// ComputeChecksum is the checksum of the segment computed in full (the
// field counted as zero) from pseudo, the pseudo-header sum for a length
// of len(t) (IPv4.PseudoHeaderChecksum).
func (t TCP) ComputeChecksum(pseudo uint16) uint16 {
	s := Checksum(t[:TCPChecksumOffset], pseudo)
	return ^Checksum(t[TCPChecksumOffset+2:], s)
}

// SetChecksum stores ComputeChecksum(pseudo). The field is cleared
// first, so one pass sums the segment: the same sum.
func (t TCP) SetChecksum(pseudo uint16) {
	t[TCPChecksumOffset], t[TCPChecksumOffset+1] = 0, 0
	binary.BigEndian.PutUint16(t[TCPChecksumOffset:], ^Checksum(t, pseudo))
}

// SetSrcPort writes the source port and, for a complete checksum, updates
// it (a partial one does not cover the header, only the pseudo-header).
// To build or cut a segment, set the fields with false and SetChecksum
// once at the end.
func (t TCP) SetSrcPort(p uint16, fullChecksum bool) { t.setWord(0, p, fullChecksum) }

// SetDstPort writes the destination port; the checksum as for SetSrcPort.
func (t TCP) SetDstPort(p uint16, fullChecksum bool) { t.setWord(2, p, fullChecksum) }

// SetSeq writes the sequence number; the checksum as for SetSrcPort.
func (t TCP) SetSeq(seq uint32, fullChecksum bool) { t.setWord32(4, seq, fullChecksum) }

// SetAck writes the acknowledgment number; the checksum as for SetSrcPort.
func (t TCP) SetAck(ack uint32, fullChecksum bool) { t.setWord32(8, ack, fullChecksum) }

// SetFlags writes the flags byte; the checksum as for SetSrcPort.
func (t TCP) SetFlags(f uint8, fullChecksum bool) {
	t.setWord(12, uint16(t[12])<<8|uint16(f), fullChecksum)
}

// SetWindow writes the window; the checksum as for SetSrcPort.
func (t TCP) SetWindow(w uint16, fullChecksum bool) { t.setWord(14, w, fullChecksum) }

// setWord writes the 16-bit word at off (even, in the header) and updates
// a complete checksum for it.
func (t TCP) setWord(off int, v uint16, fullChecksum bool) {
	if !fullChecksum {
		binary.BigEndian.PutUint16(t[off:], v) // a partial sum does not cover the header
		return
	}
	old := binary.BigEndian.Uint16(t[off:])
	binary.BigEndian.PutUint16(t[off:], v)
	binary.BigEndian.PutUint16(t[TCPChecksumOffset:], ChecksumUpdate16(t.Checksum(), old, v))
}

// setWord32 is setWord for the 32-bit field at off (two words).
func (t TCP) setWord32(off int, v uint32, fullChecksum bool) {
	if !fullChecksum {
		binary.BigEndian.PutUint32(t[off:], v)
		return
	}
	t.setWord(off, uint16(v>>16), true)
	t.setWord(off+2, uint16(v), true)
}

// UpdateChecksumPseudoHeaderAddress updates the checksum for an address
// of the pseudo-header going from old to new (both IPv4 or both IPv6),
// after the network header's SetSrc or SetDst. A complete checksum gets
// the RFC 1624 update; a partial one, the uncomplemented pseudo-header
// sum, gets the change added.
func (t TCP) UpdateChecksumPseudoHeaderAddress(old, new netip.Addr, fullChecksum bool) {
	c := t.Checksum()
	if fullChecksum {
		c = ChecksumUpdateAddress(c, old, new)
	} else {
		c = sumUpdateAddress(c, old, new)
	}
	binary.BigEndian.PutUint16(t[TCPChecksumOffset:], c)
}

// TCPFields describes a header for Encode: no options, or only MSS.
type TCPFields struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8 // TCPFlagSYN etc.
	Window           uint16
	MSS              uint16 // non-zero: an MSS option (a SYN's), 4 bytes more
}

// TCPMSSOptionLen is the length of the MSS option (kind 2, length 4).
const TCPMSSOptionLen = 4

// EncodedLen is the header length Encode writes for f.
func (f *TCPFields) EncodedLen() int {
	if f.MSS != 0 {
		return TCPMinLen + TCPMSSOptionLen
	}
	return TCPMinLen
}

// Encode writes a header of f.EncodedLen() bytes: urgent pointer 0 and
// checksum 0, to be set with SetChecksum once the payload is in place.
func (t TCP) Encode(f *TCPFields) {
	hl := f.EncodedLen()
	binary.BigEndian.PutUint16(t[0:], f.SrcPort)
	binary.BigEndian.PutUint16(t[2:], f.DstPort)
	binary.BigEndian.PutUint32(t[4:], f.Seq)
	binary.BigEndian.PutUint32(t[8:], f.Ack)
	t[12], t[13] = byte(hl/4<<4), f.Flags
	binary.BigEndian.PutUint16(t[14:], f.Window)
	clear(t[16:20])
	if f.MSS != 0 {
		t[20], t[21] = 2, TCPMSSOptionLen // RFC 9293 3.2
		binary.BigEndian.PutUint16(t[22:], f.MSS)
	}
}
