package pkt

import "encoding/binary"

// VirtioNetHdrLen is the size of struct virtio_net_hdr, the header that
// IFF_VNET_HDR (TAP) and PACKET_VNET_HDR (AF_PACKET) put before each frame.
// Both are little-endian on the hosts we run on (x86-64, arm64).
const VirtioNetHdrLen = 10

// Flags and GSO types of struct virtio_net_hdr (linux/virtio_net.h).
const (
	VirtioNetHdrFNeedsCsum = 1
	VirtioNetHdrFDataValid = 2

	VirtioNetHdrGSONone  = 0
	VirtioNetHdrGSOTCPv4 = 1
	VirtioNetHdrGSOUDP   = 3
	VirtioNetHdrGSOTCPv6 = 4
	VirtioNetHdrGSOUDPL4 = 5
	VirtioNetHdrGSOECN   = 0x80
)

// VirtioNetHdr is the decoded offload metadata of one frame. The zero value
// means "a complete frame with a complete checksum".
type VirtioNetHdr struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
}

// Decode reads the header from b, which must be VirtioNetHdrLen long.
func (h *VirtioNetHdr) Decode(b []byte) {
	_ = b[VirtioNetHdrLen-1]
	h.Flags = b[0]
	h.GSOType = b[1]
	h.HdrLen = binary.LittleEndian.Uint16(b[2:])
	h.GSOSize = binary.LittleEndian.Uint16(b[4:])
	h.CsumStart = binary.LittleEndian.Uint16(b[6:])
	h.CsumOffset = binary.LittleEndian.Uint16(b[8:])
}

// Encode writes the header into b, which must be VirtioNetHdrLen long.
func (h *VirtioNetHdr) Encode(b []byte) {
	_ = b[VirtioNetHdrLen-1]
	b[0] = h.Flags
	b[1] = h.GSOType
	binary.LittleEndian.PutUint16(b[2:], h.HdrLen)
	binary.LittleEndian.PutUint16(b[4:], h.GSOSize)
	binary.LittleEndian.PutUint16(b[6:], h.CsumStart)
	binary.LittleEndian.PutUint16(b[8:], h.CsumOffset)
}

// IsGSO reports whether the frame is a segmentation-offload super-frame.
func (h *VirtioNetHdr) IsGSO() bool { return h.GSOType&^VirtioNetHdrGSOECN != VirtioNetHdrGSONone }

// Shift moves the offsets that point into the frame by delta bytes, for a
// VLAN tag pushed (+4) or popped (-4) in front of them.
func (h *VirtioNetHdr) Shift(delta int) {
	if h.Flags&VirtioNetHdrFNeedsCsum != 0 {
		h.CsumStart = uint16(int(h.CsumStart) + delta)
	}
	if h.IsGSO() && h.HdrLen != 0 {
		h.HdrLen = uint16(int(h.HdrLen) + delta)
	}
}
