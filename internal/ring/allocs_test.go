//go:build !race

package ring

import "testing"

// The frame path's use of a queue allocates nothing.
func TestQueueAllocs(t *testing.T) {
	q := NewQueue[Frame](64)
	f := &Frame{}
	out := make([]*Frame, 8)
	if a := testing.AllocsPerRun(1000, func() {
		for range 4 {
			q.Put(f)
		}
		q.Wait(out, nil)
	}); a != 0 {
		t.Fatalf("%v allocs per put+wait, want 0", a)
	}
}
