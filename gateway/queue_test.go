package gateway

import (
	"testing"
	"time"

	vswitch "github.com/vswitch/vswitch/switch"
)

// wait parks on an empty queue until a frame comes, and returns 0 only
// when done closes.
func TestFrameQueueWait(t *testing.T) {
	q := newFrameQueue(4)
	done := make(chan struct{})
	got := make(chan int)
	out := make([]*vswitch.Frame, 4)
	go func() { got <- q.wait(out, done) }()
	waitFor(t, q.sleeping.Load)
	select {
	case n := <-got:
		t.Fatalf("wait returned %d on an empty queue", n)
	case <-time.After(20 * time.Millisecond):
	}
	f := vswitch.NewFrame()
	if !q.put(f) {
		t.Fatal("put refused")
	}
	if n := <-got; n != 1 || out[0] != f {
		t.Fatalf("wait: %d", n)
	}
	f.Release()
	for range 4 {
		if !q.put(vswitch.NewFrame()) {
			t.Fatal("put refused below capacity")
		}
	}
	if q.put(vswitch.NewFrame()) {
		t.Fatal("put past capacity")
	}
	if n := q.wait(out, done); n != 4 {
		t.Fatalf("wait took %d", n)
	}
	for _, f := range out {
		f.Release()
	}
	go func() { got <- q.wait(out, done) }()
	close(done)
	if n := <-got; n != 0 {
		t.Fatalf("wait after done: %d", n)
	}
}
