//go:build !race

package vswitch

import "testing"

// TestSendOffloadAllocs: what egress does to a super-frame (cut it for a
// port without a vnet header, TCP or UDP; rewrite a DATA_VALID one for a
// port with it) allocates nothing once the pools are warm.
func TestSendOffloadAllocs(t *testing.T) {
	for _, c := range offloadCases(t) {
		t.Run(c.name, func(t *testing.T) {
			p := newSwPort(PortConfig{Name: "out", Queue: 256}, &memPort{feat: c.feat})
			run := func() { c.send(p) }
			run()
			if d := p.stats.drops[DropBadOffload].Load(); d != 0 {
				t.Fatalf("%d bad_offload drops", d)
			}
			if a := testing.AllocsPerRun(100, run); a != 0 {
				t.Fatalf("%.1f allocs per super-frame, want 0", a)
			}
		})
	}
}
