package pkt

import "encoding/binary"

// VXLAN header (RFC 7348): flags (the I bit says the VNI is valid), 24
// reserved bits, the 24-bit VNI, 8 reserved bits.
const (
	VXLANLen     = 8
	VXLANPort    = 4789 // IANA's port; Linux's default is 8472 unless dstport is given
	VXLANFlagVNI = 0x08 // the I flag
	VXLANMaxVNI  = 1<<24 - 1
)

// VXLAN is a view of a VXLAN header.
type VXLAN []byte

// Valid reports whether v is long enough and has the I flag set. Other
// flag and reserved bits are ignored on receipt, as RFC 7348 says.
func (v VXLAN) Valid() bool { return len(v) >= VXLANLen && v[0]&VXLANFlagVNI != 0 }

// VNI is the network identifier.
func (v VXLAN) VNI() uint32 { return binary.BigEndian.Uint32(v[4:]) >> 8 }

// Encode writes a header with the I flag and vni.
func (v VXLAN) Encode(vni uint32) {
	binary.BigEndian.PutUint32(v[0:], VXLANFlagVNI<<24)
	binary.BigEndian.PutUint32(v[4:], vni<<8)
}
