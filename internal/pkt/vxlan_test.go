package pkt

import "testing"

// FuzzVXLAN: a header that is Valid keeps its VNI through Encode, and
// Encode always gives a Valid header with the I flag and nothing else.
func FuzzVXLAN(f *testing.F) {
	f.Add([]byte{0x08, 0, 0, 0, 0, 0x03, 0xf2, 0}, uint32(1010))
	f.Add([]byte{0x00, 0, 0, 0, 0, 0, 1, 0}, uint32(0))
	f.Add([]byte{0x08}, uint32(VXLANMaxVNI))
	f.Fuzz(func(t *testing.T, b []byte, vni uint32) {
		v := VXLAN(b)
		if v.Valid() != (len(b) >= VXLANLen && b[0]&VXLANFlagVNI != 0) {
			t.Fatalf("Valid(%x) = %v", b, v.Valid())
		}
		if v.Valid() {
			want := uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6])
			if v.VNI() != want {
				t.Fatalf("VNI(%x) = %d, want %d", b, v.VNI(), want)
			}
		}
		vni &= VXLANMaxVNI
		h := make(VXLAN, VXLANLen)
		h.Encode(vni)
		if !h.Valid() || h.VNI() != vni || h[0] != VXLANFlagVNI || h[1]|h[2]|h[3]|h[7] != 0 {
			t.Fatalf("Encode(%d) = %x", vni, []byte(h))
		}
	})
}
