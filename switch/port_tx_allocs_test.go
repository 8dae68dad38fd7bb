//go:build !race

package vswitch

import (
	"testing"
	"time"
)

// TestDirectAllocs: a batch forwarded to a direct port, written by the
// forwarding goroutine, allocates nothing and sends on no channel.
func TestDirectAllocs(t *testing.T) {
	s, ports := benchSwitch(t, access("a", 1), access("b", 1))
	var written int
	ports[1].tw = nullTry{&written}
	now := time.Now().Unix()
	s.fdb.learn(ports[1], 1, mac(2), now)
	frames := make([]*Frame, BatchSize)
	for i := range frames {
		frames[i] = NewFrame()
	}
	tmpl := frame(mac(2), mac(1))
	allocs := testing.AllocsPerRun(100, func() {
		for _, f := range frames {
			f.reset()
			f.SetData(tmpl)
		}
		s.ingress(ports[0], frames, now)
	})
	if allocs != 0 {
		t.Errorf("%v allocs per batch, want 0", allocs)
	}
	if want := 101 * BatchSize; written != want || ports[1].stats.txPackets.Load() != uint64(want) {
		t.Errorf("%d frames written, %d counted, want %d", written, ports[1].stats.txPackets.Load(), want)
	}
	if ports[1].q.Len() != 0 || len(ports[1].handoff) != 0 {
		t.Error("a frame was left queued or the writer woken")
	}
}
