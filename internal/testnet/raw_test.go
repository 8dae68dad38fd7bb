package testnet

import "testing"

func TestRawFrameVLAN(t *testing.T) {
	eth := func(typ ...byte) []byte {
		f := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1}, typ...)
		return append(f, make([]byte, 60-len(f))...)
	}
	tests := []struct {
		name   string
		f      RawFrame
		vid    uint16
		pcp    uint8
		tpid   uint16
		tagged bool
	}{
		{name: "untagged", f: RawFrame{Data: eth(0x08, 0x00)}},
		{name: "stripped", f: RawFrame{Data: eth(0x08, 0x00), Tagged: true, TCI: 5<<13 | 10, TPID: 0x8100}, vid: 10, pcp: 5, tpid: 0x8100, tagged: true},
		{name: "stripped S-tag", f: RawFrame{Data: eth(0x08, 0x00), Tagged: true, TCI: 4095, TPID: 0x88a8}, vid: 4095, tpid: 0x88a8, tagged: true},
		{name: "in the buffer", f: RawFrame{Data: eth(0x81, 0x00, 7<<5|0x0f, 0xff, 0x08, 0x00)}, vid: 0xfff, pcp: 7, tpid: 0x8100, tagged: true},
		{name: "S-tag in the buffer", f: RawFrame{Data: eth(0x88, 0xa8, 0x00, 20, 0x08, 0x00)}, vid: 20, tpid: 0x88a8, tagged: true},
		{name: "stripped wins", f: RawFrame{Data: eth(0x81, 0x00, 0, 20), Tagged: true, TCI: 30, TPID: 0x8100}, vid: 30, tpid: 0x8100, tagged: true},
		{name: "too short for a tag", f: RawFrame{Data: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0, 20}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vid, pcp, tpid, ok := tt.f.VLAN()
			if vid != tt.vid || pcp != tt.pcp || tpid != tt.tpid || ok != tt.tagged {
				t.Errorf("VLAN() = %d, %d, %#x, %v; want %d, %d, %#x, %v", vid, pcp, tpid, ok, tt.vid, tt.pcp, tt.tpid, tt.tagged)
			}
		})
	}
}
