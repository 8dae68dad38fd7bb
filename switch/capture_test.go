package vswitch

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// startCapture starts a capture of port, closed when the test ends.
func (s *testSwitch) startCapture(t *testing.T, port string) *Capture {
	t.Helper()
	c, err := s.StartCapture(port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// captured checks that the next frame c captures, within 2 s, is want,
// and returns its timestamp.
func captured(t *testing.T, c *Capture, what string, want []byte) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ts, got, err := c.Next(ctx)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s capture: %v\n% x\nwant\n% x", what, err, got, want)
	}
	return ts
}

func TestCaptureSeesRxAndTx(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("a", 1), access("b", 1))
	c := s.startCapture(t, "b")
	if _, err := s.StartCapture("nope"); !errors.Is(err, ErrNoSuchPort) {
		t.Fatalf("unknown port: %v", err)
	}
	out := frame(pkt.Broadcast, mac(1)) // a -> b: b sends it
	s.ports["a"].in <- out
	s.ports["b"].expect(t)
	captured(t, c, "tx", out)
	in := frame(mac(1), mac(2)) // b receives it
	s.ports["b"].in <- in
	s.ports["a"].expect(t)
	if ts := captured(t, c, "rx", in); time.Since(ts) > time.Minute {
		t.Fatalf("rx capture at %v", ts)
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
	// The reader never ran: the ring holds exactly CaptureQueue copies and
	// every later one is counted.
	if c.Dropped() != 100 || c.q.Len() != CaptureQueue {
		t.Fatalf("dropped %d, queued %d; want 100 and %d", c.Dropped(), c.q.Len(), CaptureQueue)
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
	if err := testnet.Recv(t, done, 2*time.Second, "Next to return after the port was removed"); !errors.Is(err, ErrCaptureClosed) {
		t.Fatalf("%v", err)
	}
	c.Close()
}

// TestCaptureRestoresOutOfBandTag: a frame whose tag the driver took out of
// band (the buffer is untagged) shows in the capture with that tag, exact
// TCI, as it was on the wire; what the trunk sends is captured as sent,
// and an access port's capture shows the untagged frame.
func TestCaptureRestoresOutOfBandTag(t *testing.T) {
	s := newTestSwitch(t, Config{}, trunk("t", 0, 10), access("a", 10), trunk("t2", 0, 10))
	ct2, ct, ca := s.startCapture(t, "t2"), s.startCapture(t, "t"), s.startCapture(t, "a")

	in := frame(pkt.Broadcast, mac(1))
	const tci = 6<<13 | 1<<12 | 10
	s.ports["t"].inMeta <- memFrame{b: in, tci: tci, hasTCI: true}
	if got := s.ports["a"].expect(t); !bytes.Equal(got, in) {
		t.Fatalf("access port got % x", got)
	}
	captured(t, ct, "trunk rx", withTCI(in, tci))
	captured(t, ca, "access tx", in)
	// Another trunk sends it tagged once, and its capture shows that.
	if got := s.ports["t2"].expect(t); !bytes.Equal(got, withTCI(in, tci)) {
		t.Fatalf("trunk t2 got % x", got)
	}
	captured(t, ct2, "trunk tx", withTCI(in, tci))

	back := frame(mac(1), mac(2))
	s.ports["a"].in <- back
	if got := s.ports["t"].expect(t); !bytes.Equal(got, withTCI(back, 10)) {
		t.Fatalf("trunk got % x", got)
	}
	captured(t, ca, "access rx", back)
	captured(t, ct, "trunk tx", withTCI(back, 10))
	// A runt with an out-of-band tag is captured as it came: too short to
	// take the tag back.
	s.ports["t"].inMeta <- memFrame{b: []byte{1, 2, 3}, tci: tci, hasTCI: true}
	captured(t, ct, "runt", []byte{1, 2, 3})
}
