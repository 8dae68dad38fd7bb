package vswitch

import (
	"slices"
	"testing"
)

// TestVLANSetEach checks the word-skipping walk against the members put
// in, at the edges of words and of the VLAN range.
func TestVLANSetEach(t *testing.T) {
	var s vlanSet
	in := []uint16{0, 1, 63, 64, 65, 127, 128, 2048, 4094, 4095}
	for _, v := range in {
		s.add(v)
	}
	var got []uint16
	s.each(func(vid uint16) { got = append(got, vid) })
	want := []uint16{1, 63, 64, 65, 127, 128, 2048, 4094} // 0 and 4095 are no VLANs
	if !slices.Equal(got, want) {
		t.Fatalf("each = %v, want %v", got, want)
	}
}
