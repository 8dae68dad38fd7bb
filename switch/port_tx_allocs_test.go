//go:build !race

package vswitch

import (
	"testing"
	"time"
)

// TestDirectAllocs: lone frames forwarded to a direct port, written by
// the forwarding goroutine, allocate nothing and send on no channel.
func TestDirectAllocs(t *testing.T) {
	s, ports := benchSwitch(t, access("a", 1), access("b", 1))
	var written int
	ports[1].tw = nullTry{&written}
	now := time.Now().Unix()
	s.fdb.learn(ports[1], 1, mac(2), now)
	frames := []*Frame{NewFrame()}
	tmpl := frame(mac(2), mac(1))
	allocs := testing.AllocsPerRun(100, func() {
		for range BatchSize {
			frames[0].reset()
			frames[0].SetData(tmpl)
			s.ingress(ports[0], frames, now)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocs per %d frames, want 0", allocs, BatchSize)
	}
	if want := 101 * BatchSize; written != want || ports[1].stats.txPackets.Load() != uint64(want) {
		t.Errorf("%d frames written, %d counted, want %d", written, ports[1].stats.txPackets.Load(), want)
	}
	if ports[1].q.Len() != 0 || ports[1].tx.Load() != txFree {
		t.Error("a frame was left queued or the writer woken")
	}
}
