//go:build !race

// The race detector makes sync.Pool drop items at random, so allocation
// budgets are only meaningful without it.

package vswitch

import (
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestSwitchPathAllocs holds the frame path to its promise of no
// allocation per frame: a batch through ingress, VLAN tagging, flooding,
// GSO segmentation and capture copies, and back to the pool from the
// egress queues, allocates nothing once the pools are warm. Each case also
// checks that the frames went where the path under test sends them.
func TestSwitchPathAllocs(t *testing.T) {
	gso := superFrame(t, false, pattern(4000), 1448, 0)
	tests := []struct {
		name    string
		pcs     []PortConfig
		plain   int // index of a port without a vnet header, or -1
		learn   map[int]uint16
		dst     pkt.MAC
		tmpl    memFrame
		capture bool
		want    []int // frames each port gets per batch
	}{
		{name: "unicast", pcs: []PortConfig{access("a", 1), access("b", 1), access("c", 1)}, plain: -1,
			learn: map[int]uint16{1: 1}, tmpl: memFrame{b: frame(mac(2), mac(1))}, want: []int{0, BatchSize, 0}},
		{name: "trunk to access", pcs: []PortConfig{trunk("t", 0, 10, 20), access("b", 20)}, plain: -1,
			learn: map[int]uint16{1: 20}, tmpl: memFrame{b: tagged(mac(2), mac(1), 3<<13|20)}, want: []int{0, BatchSize}},
		{name: "access to trunk", pcs: []PortConfig{access("a", 20), trunk("t", 0, 10, 20)}, plain: -1,
			learn: map[int]uint16{1: 20}, tmpl: memFrame{b: frame(mac(2), mac(1))}, want: []int{0, BatchSize}},
		{name: "out-of-band tag to trunk", pcs: []PortConfig{trunk("t", 0, 10, 20), trunk("u", 0, 20)}, plain: -1,
			learn: map[int]uint16{1: 20}, tmpl: memFrame{b: frame(mac(2), mac(1)), tci: 20, hasTCI: true}, want: []int{0, BatchSize}},
		{name: "flood", pcs: []PortConfig{access("a", 1), access("b", 1), access("c", 1), trunk("t", 0, 1)}, plain: -1,
			tmpl: memFrame{b: frame(pkt.Broadcast, mac(1))}, want: []int{0, BatchSize, BatchSize, BatchSize}},
		{name: "unicast captured both ways", pcs: []PortConfig{access("a", 1), access("b", 1)}, plain: -1,
			learn: map[int]uint16{1: 1}, tmpl: memFrame{b: frame(mac(2), mac(1))}, capture: true, want: []int{0, BatchSize}},
		{name: "trunk captured with out-of-band tag", pcs: []PortConfig{trunk("t", 0, 10), access("a", 10)}, plain: -1,
			learn: map[int]uint16{1: 10}, tmpl: memFrame{b: frame(mac(2), mac(1)), tci: 10, hasTCI: true}, capture: true, want: []int{0, BatchSize}},
		{name: "GSO segmented for a port without vnet header", pcs: []PortConfig{access("a", 1), access("p", 1)}, plain: 1,
			learn: map[int]uint16{1: 1}, tmpl: gso, want: []int{0, 3 * BatchSize}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ports := benchSwitch(t, tt.pcs...)
			if tt.plain >= 0 {
				ports[tt.plain].feat = 0
			}
			now := time.Now().Unix()
			for i, vid := range tt.learn {
				s.fdb.learn(ports[i], vid, pkt.Ethernet(tt.tmpl.b).Dst(), now)
			}
			var caps []*Capture
			if tt.capture {
				for _, p := range tt.pcs {
					c, err := s.StartCapture(p.Name)
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					caps = append(caps, c)
				}
			}
			frames := make([]*Frame, BatchSize)
			for i := range frames {
				frames[i] = NewFrame()
			}
			out := make([]*Frame, BatchSize)
			got := make([]int, len(ports))
			captured := 0
			batch := func() {
				for i, f := range frames {
					f.reset()
					fill(frames, i, tt.tmpl)
				}
				// What readLoop and writeLoop do around ingress.
				if list := ports[0].caps.Load(); list != nil {
					for _, f := range frames {
						captureFrame(*list, f, now)
					}
				}
				s.ingress(ports[0], frames, now)
				clear(got)
				for i, p := range ports {
					for k := p.q.Take(out); k > 0; k = p.q.Take(out) {
						if list := p.caps.Load(); list != nil {
							for _, f := range out[:k] {
								captureFrame(*list, f, now)
							}
						}
						for _, f := range out[:k] {
							f.Release()
						}
						got[i] += k
					}
				}
				captured = 0
				for _, c := range caps {
					for k := c.q.Take(out); k > 0; k = c.q.Take(out) {
						for _, f := range out[:k] {
							f.Release()
						}
						captured += k
					}
				}
			}
			if allocs := testing.AllocsPerRun(50, batch); allocs != 0 {
				t.Fatalf("%v allocations per batch of %d frames, want 0", allocs, BatchSize)
			}
			for i := range ports {
				if got[i] != tt.want[i] {
					t.Fatalf("port %s got %d frames per batch, want %d", ports[i].name, got[i], tt.want[i])
				}
			}
			if tt.capture && captured != 2*BatchSize {
				t.Fatalf("captured %d frames per batch, want %d", captured, 2*BatchSize)
			}
		})
	}
}

// A routed port's reader-to-router and router-to-writer path allocates
// nothing either.
func TestRoutedPathAllocs(t *testing.T) {
	batch := routedBatch(t, frame(mac(2), mac(1)))
	n := 0
	if allocs := testing.AllocsPerRun(50, func() { n = batch() }); allocs != 0 {
		t.Fatalf("%v allocations per batch of %d frames, want 0", allocs, BatchSize)
	}
	if n != BatchSize {
		t.Fatalf("%d frames out per batch, want %d", n, BatchSize)
	}
}
