//go:build !race

package vswitch

import (
	"testing"
	"time"
)

// TestDirectAllocs: lone frames forwarded to a direct port, written by
// the forwarding goroutine, allocate nothing and send on no channel.
func TestDirectAllocs(t *testing.T) {
	s, in, out, written := nullTrySwitch(t)
	now := time.Now().Unix()
	frames := []*Frame{NewFrame()}
	tmpl := frame(mac(2), mac(1))
	allocs := testing.AllocsPerRun(100, func() {
		for range BatchSize {
			frames[0].reset()
			frames[0].SetData(tmpl)
			s.ingress(in, frames, now)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocs per %d frames, want 0", allocs, BatchSize)
	}
	if want := 101 * BatchSize; *written != want || out.stats.txPackets.Load() != uint64(want) {
		t.Errorf("%d frames written, %d counted, want %d", *written, out.stats.txPackets.Load(), want)
	}
	if out.q.Len() != 0 || out.tx.Load() != txFree {
		t.Error("a frame was left queued or the writer woken")
	}
}
