package vswitch

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

func TestCaptureSeesRxAndTx(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("a", 1), access("b", 1))
	c, err := s.StartCapture("b")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := s.StartCapture("nope"); !errors.Is(err, ErrNoSuchPort) {
		t.Fatalf("unknown port: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out := frame(pkt.Broadcast, mac(1)) // a -> b: b sends it
	s.ports["a"].in <- out
	s.ports["b"].expect(t)
	_, got, err := c.Next(ctx)
	if err != nil || !bytes.Equal(got, out) {
		t.Fatalf("tx capture: %v % x", err, got)
	}
	in := frame(mac(1), mac(2)) // b receives it
	s.ports["b"].in <- in
	s.ports["a"].expect(t)
	ts, got, err := c.Next(ctx)
	if err != nil || !bytes.Equal(got, in) || time.Since(ts) > time.Minute {
		t.Fatalf("rx capture: %v % x %v", err, got, ts)
	}
}

func TestCaptureOverflowCountsAndForwardingGoesOn(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("a", 1), access("b", 1))
	c, _ := s.StartCapture("a")
	defer c.Close()
	for i := 0; i < CaptureQueue+100; i++ {
		s.ports["a"].in <- frame(pkt.Broadcast, mac(1))
		s.ports["b"].expect(t) // forwarding never waits for the capture
	}
	if c.Dropped() < 100 {
		t.Fatalf("dropped %d, want >= 100", c.Dropped())
	}
}

func TestCaptureEndsWhenPortGoes(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("a", 1))
	c, _ := s.StartCapture("a")
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Next(context.Background())
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	s.RemovePort("a")
	select {
	case err := <-done:
		if !errors.Is(err, ErrCaptureClosed) {
			t.Fatalf("%v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Next still blocked after the port was removed")
	}
	c.Close()
}
