package ring

import (
	"sync"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// parked waits until the consumer has set its sleeping flag.
func parked(t *testing.T, q *Queue[Frame]) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !q.sleeping.Load() {
		if time.Now().After(deadline) {
			t.Fatal("consumer never parked")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestQueuePutWakesParkedConsumer(t *testing.T) {
	q := NewQueue[Frame](8)
	got := make(chan int, 1)
	go func() {
		out := make([]*Frame, 4)
		n := q.Wait(out, nil)
		if n != 1 {
			got <- -n
			return
		}
		got <- out[0].n
	}()
	parked(t, q)
	if !q.Put(&Frame{n: 42}) {
		t.Fatal("put refused")
	}
	if v := testnet.Recv(t, got, 5*time.Second, "Put to wake the parked consumer"); v != 42 {
		t.Fatalf("Wait gave %d, want the frame 42", v)
	}
}

func TestQueueBusyPutSendsNoToken(t *testing.T) {
	q := NewQueue[Frame](8)
	for i := range 8 {
		if !q.Put(&Frame{n: i}) {
			t.Fatalf("put %d refused", i)
		}
	}
	if len(q.wake) != 0 {
		t.Fatal("Put sent a wake-up token to a consumer that is not parked")
	}
	if q.Put(&Frame{}) {
		t.Fatal("full queue took a frame")
	}
	out := make([]*Frame, 16)
	if n := q.Wait(out, nil); n != 8 || out[0].n != 0 || out[7].n != 7 {
		t.Fatalf("Wait took %d frames (%v...), want 8 in order", n, out[0])
	}
}

func TestQueueDoneAndWake(t *testing.T) {
	q := NewQueue[Frame](8)
	out := make([]*Frame, 4)
	done := make(chan struct{})
	close(done)
	if n := q.Wait(out, done); n != 0 {
		t.Fatalf("Wait on an empty queue with done closed gave %d", n)
	}
	// A Wake before Wait is not lost.
	q.Wake()
	if n := q.Wait(out, nil); n != 0 {
		t.Fatalf("Wait after Wake gave %d", n)
	}
	// A Wake while parked returns 0.
	res := make(chan int, 1)
	go func() { res <- q.Wait(out, nil) }()
	parked(t, q)
	q.Wake()
	if n := testnet.Recv(t, res, 5*time.Second, "Wake to wake the consumer"); n != 0 {
		t.Fatalf("woken Wait gave %d", n)
	}
	// The nudge is spent: values come back as usual.
	q.Put(&Frame{n: 7})
	if n := q.Wait(out, nil); n != 1 || out[0].n != 7 {
		t.Fatalf("Wait after a spent Wake gave %d", n)
	}
}

// Bursts with idle gaps make the consumer park and wake thousands of times;
// a lost wake-up hangs the test.
func TestQueueNoLostWakeups(t *testing.T) {
	q := NewQueue[Frame](16)
	const producers, each = 3, 3000
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				f := &Frame{n: p*each + i}
				for !q.Put(f) {
					time.Sleep(time.Microsecond)
				}
				if i%7 == 0 {
					time.Sleep(10 * time.Microsecond)
				}
			}
		}()
	}
	seen := make([]bool, producers*each)
	out := make([]*Frame, 4)
	done := make(chan struct{})
	timer := time.AfterFunc(60*time.Second, func() { close(done) })
	defer timer.Stop()
	for got := 0; got < len(seen); {
		n := q.Wait(out, done)
		if n == 0 {
			t.Fatalf("stalled after %d of %d frames: a wake-up was lost", got, len(seen))
		}
		for _, f := range out[:n] {
			if seen[f.n] {
				t.Fatalf("frame %d twice", f.n)
			}
			seen[f.n] = true
		}
		got += n
	}
	wg.Wait()
}

// Ping-pong: the producer puts the next frame right after the consumer
// acknowledges the last, so puts land in every phase of the consumer's
// park sequence. One lost wake-up stalls the exchange for good.
func TestQueuePingPong(t *testing.T) {
	q := NewQueue[Frame](4)
	const rounds = 50000
	ack := make(chan struct{}, 1)
	go func() {
		f := &Frame{}
		for range rounds {
			q.Put(f)
			<-ack
		}
	}()
	done := make(chan struct{})
	timer := time.AfterFunc(10*time.Second, func() { close(done) })
	defer timer.Stop()
	out := make([]*Frame, 1)
	for i := range rounds {
		if q.Wait(out, done) != 1 {
			t.Fatalf("stalled in round %d: a wake-up was lost", i)
		}
		ack <- struct{}{}
	}
}
