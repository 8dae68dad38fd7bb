//go:build !race

package nat

import (
	"testing"
)

// TestNoAllocsGSO: translating a super-frame of a known flow, either way,
// allocates nothing.
func TestNoAllocsGSO(t *testing.T) {
	tb, out, in, o, i := gsoEstablished()
	var vo, vi Verdict
	if allocs := testing.AllocsPerRun(1000, func() {
		o.SetData(out.Bytes())
		vo, _ = tb.Outbound(gsoPacket(o), uplink, now)
		i.SetData(in.Bytes())
		vi, _ = tb.Inbound(gsoPacket(i), now)
	}); allocs != 0 || vo != Translated || vi != Translated {
		t.Fatalf("%v allocs per super-frame out and in (%v, %v)", allocs, vo, vi)
	}
}
