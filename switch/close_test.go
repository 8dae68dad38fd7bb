package vswitch

import (
	"fmt"
	"testing"
	"time"
)

// slowClose is a driver whose Close takes as long as removing a kernel
// device does.
type slowClose struct {
	*memPort
	d time.Duration
}

func (s slowClose) Close() error {
	time.Sleep(s.d)
	return s.memPort.Close()
}

// TestCloseInParallel: Close shuts the ports down side by side, so 32
// ports whose drivers each take 200 ms to close are gone in well under the
// 6.4 s one after another would take.
func TestCloseInParallel(t *testing.T) {
	s := New(Config{})
	for i := range 32 {
		if err := s.AddPort(access(fmt.Sprintf("p%d", i), 1), slowClose{newMemPort(), 200 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v, want the ports closed in parallel (under 2 s)", d)
	}
	if n := len(s.topo.Load().ports); n != 0 {
		t.Fatalf("%d ports left", n)
	}
}
