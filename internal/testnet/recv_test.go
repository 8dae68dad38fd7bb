package testnet

import (
	"testing"
	"time"
)

// TestPoll: a value sent in time is given; none within the bound is not
// ok; a closed channel counts as arrived, as a select would take it.
func TestPoll(t *testing.T) {
	ch := make(chan int, 1)
	go func() { time.Sleep(10 * time.Millisecond); ch <- 7 }()
	if v, ok := Poll(ch, 5*time.Second); !ok || v != 7 {
		t.Fatalf("Poll = %d, %v; want 7, true", v, ok)
	}
	start := time.Now()
	if v, ok := Poll(ch, 30*time.Millisecond); ok {
		t.Fatalf("Poll on an empty channel gave %d", v)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("Poll gave up after %v, before its 30 ms", d)
	}
	close(ch)
	if v, ok := Poll(ch, 5*time.Second); !ok || v != 0 {
		t.Fatalf("Poll on a closed channel = %d, %v; want 0, true", v, ok)
	}
	if v := Recv(t, ch, time.Second, "the closed channel"); v != 0 {
		t.Fatalf("Recv = %d", v)
	}
}
