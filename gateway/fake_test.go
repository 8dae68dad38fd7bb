package gateway

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
	vswitch "github.com/vswitch/vswitch/switch"
)

// memLink is an in-memory outside link for the uplink: what the uplink
// writes arrives on out, what a test puts on in the uplink reads. errs are
// returned by ReadBatch before any frame (transient device errors).
type memLink struct {
	in     chan []byte
	out    chan []byte
	errs   chan error
	closed chan struct{}
	once   sync.Once
	refuse atomic.Bool // WriteBatch takes nothing and fails
	tried  atomic.Int64
}

func newMemLink() *memLink {
	return &memLink{in: make(chan []byte, 64), out: make(chan []byte, 1024), errs: make(chan error, 4), closed: make(chan struct{})}
}

func (m *memLink) ReadBatch(frames []*vswitch.Frame) (int, error) {
	select {
	case err := <-m.errs:
		return 0, err
	default:
	}
	select {
	case b := <-m.in:
		frames[0].SetData(b)
		return 1, nil
	case <-m.closed:
		return 0, vswitch.ErrClosed
	}
}

func (m *memLink) WriteBatch(frames []*vswitch.Frame) (int, error) {
	if m.refuse.Load() {
		m.tried.Add(int64(len(frames)))
		return 0, errors.New("refused")
	}
	for _, f := range frames {
		m.out <- append([]byte(nil), f.Bytes()...)
	}
	return len(frames), nil
}

func (m *memLink) Features() vswitch.Features { return 0 }

func (m *memLink) Close() error {
	m.once.Do(func() { close(m.closed) })
	return nil
}

// expect waits for the next frame the uplink wrote.
func (m *memLink) expect(t *testing.T) []byte {
	t.Helper()
	return testnet.Recv(t, m.out, 5*time.Second, "a frame on the link")
}

// quiet checks that nothing more was written.
func (m *memLink) quiet(t *testing.T) {
	t.Helper()
	if b, ok := testnet.Poll(m.out, 50*time.Millisecond); ok {
		t.Fatalf("unexpected frame on the link: % x", b)
	}
}

// fakeClock is a manual clock: After registers a timer that fires when
// Advance moves the time past it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	d       time.Duration
	at      time.Time
	ch      chan time.Time
	claimed bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{d: d, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	return t.ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
			continue
		}
		keep = append(keep, t)
	}
	c.timers = keep
}

// waitTimer waits until the code under test starts a timer of exactly d
// and claims it with every timer started before it (abandoned ones), so
// the next waitTimer sees only newer timers.
func (c *fakeClock) waitTimer(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for i, tm := range c.timers {
			if !tm.claimed && tm.d == d {
				for _, o := range c.timers[:i+1] {
					o.claimed = true
				}
				c.mu.Unlock()
				return
			}
		}
		c.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	c.mu.Lock()
	var ds []time.Duration
	for _, tm := range c.timers {
		if !tm.claimed {
			ds = append(ds, tm.d)
		}
	}
	c.mu.Unlock()
	t.Fatalf("no %v timer started (unclaimed: %v)", d, ds)
}
