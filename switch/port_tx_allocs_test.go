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

// TestIngressAllocs: a frame forwarded through an Ingress to a direct
// port allocates nothing.
func TestIngressAllocs(t *testing.T) {
	s, a, _, written := nullTrySwitch(t)
	in := &Ingress{s, a}
	tmpl := frame(mac(2), mac(1))
	now := time.Now()
	allocs := testing.AllocsPerRun(100, func() {
		for range BatchSize {
			f := NewFrame()
			f.SetData(tmpl)
			in.Forward(f, now)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocs per %d frames, want 0", allocs, BatchSize)
	}
	if want := 101 * BatchSize; *written != want {
		t.Errorf("%d frames written, want %d", *written, want)
	}
}
