//go:build !race

package daemon

import (
	"testing"

	vswitch "github.com/vswitch/vswitch/switch"
)

// TestGatedAllocs: once its gate opened, a handed-over port's read costs
// no allocation.
func TestGatedAllocs(t *testing.T) {
	open := make(chan struct{})
	close(open)
	g := &gated{Port: nullPort{}, open: open, closed: make(chan struct{})}
	frames := make([]*vswitch.Frame, vswitch.BatchSize)
	if n := testing.AllocsPerRun(1000, func() { g.ReadBatch(frames) }); n != 0 {
		t.Fatalf("%v allocations per batch, want 0", n)
	}
}

func BenchmarkGatedReadBatch(b *testing.B) {
	open := make(chan struct{})
	close(open)
	g := &gated{Port: nullPort{}, open: open, closed: make(chan struct{})}
	frames := make([]*vswitch.Frame, vswitch.BatchSize)
	b.ReportAllocs()
	for b.Loop() {
		g.ReadBatch(frames)
	}
}
