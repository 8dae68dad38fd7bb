package pkt

import "testing"

func TestMACUint64RoundTrip(t *testing.T) {
	m := MAC{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef}
	if got := MACFromUint64(m.Uint64()); got != m {
		t.Fatalf("%v", got)
	}
	if m.String() != "52:54:00:ab:cd:ef" {
		t.Fatal(m.String())
	}
	if !Broadcast.IsMulticast() || m.IsMulticast() || !(MAC{}).IsZero() {
		t.Fatal("multicast/zero predicates")
	}
}

func TestVirtioRoundTrip(t *testing.T) {
	h := VirtioNetHdr{Flags: 1, GSOType: VirtioNetHdrGSOTCPv4, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	b := make([]byte, VirtioNetHdrLen)
	h.Encode(b)
	// Little-endian on the wire (gVisor's header/virtionet.go mixes the two).
	if b[2] != 66 || b[3] != 0 || b[4] != 0xa8 || b[5] != 5 {
		t.Fatalf("% x", b)
	}
	var g VirtioNetHdr
	g.Decode(b)
	if g != h {
		t.Fatalf("%+v", g)
	}
	if !g.IsGSO() {
		t.Fatal("IsGSO")
	}
}

func TestParseMACErrors(t *testing.T) {
	for _, s := range []string{"", "52:54:00:12:34", "52:54:00:12:34:5g", "52.54.00.12.34.56"} {
		if _, err := ParseMAC(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
