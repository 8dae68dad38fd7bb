package vswitch

import (
	"testing"
	"time"
)

// injectRouter is a Router that forwards what it is delivered through an
// Ingress of another port, as a gateway's uplink delivers to a network.
type injectRouter struct{ in *Ingress }

func (r injectRouter) Attached(*Egress) {}

func (r injectRouter) Deliver(frames []*Frame) {
	for i, f := range frames {
		r.in.Forward(f, time.Now())
		frames[i] = NewFrame()
	}
}

// TestIngressForward: a frame forwarded through port a's Ingress is
// counted as a's, written to b by the calling goroutine when it came
// alone or is small, left to b's writer when it came in a burst of big
// frames read on a routed port, and dropped as port_down once a is gone.
func TestIngressForward(t *testing.T) {
	for _, tt := range []struct {
		batch, size int
		written     int
	}{
		{1, 60, 1},
		{burstFrames, 60, burstFrames},
		{burstFrames - 1, burstMinLen, burstFrames - 1},
		{burstFrames, burstMinLen, 0},
	} {
		s, a, b, written := nullTrySwitch(t)
		b.handoff = make(chan struct{}, 1)
		up := &swPort{name: "up", router: injectRouter{&Ingress{s, a}}}
		frames := make([]*Frame, tt.batch)
		data := append(frame(mac(2), mac(1)), make([]byte, tt.size-60)...)
		for i := range frames {
			frames[i] = NewBigFrame()
			frames[i].SetData(data)
		}
		up.routed(frames)
		queued := b.q.Len()
		if *written != tt.written || queued != tt.batch-tt.written {
			t.Errorf("batch of %d x %d bytes: %d written, %d queued, want %d and %d", tt.batch, tt.size, *written, queued, tt.written, tt.batch-tt.written)
		}
		if got := a.stats.rxPackets.Load(); got != uint64(tt.batch) {
			t.Errorf("batch of %d: a counted %d received", tt.batch, got)
		}
		if got := up.stats.rxPackets.Load(); got != uint64(tt.batch) {
			t.Errorf("batch of %d: the routed port counted %d received", tt.batch, got)
		}
	}

	s, a, _, written := nullTrySwitch(t)
	in := &Ingress{s, a}
	f := NewFrame()
	f.SetData(frame(mac(2), mac(1)))
	in.Forward(f, time.Now())
	a.dead.Store(true)
	f = NewFrame()
	f.SetData(frame(mac(2), mac(1)))
	in.Forward(f, time.Now())
	if *written != 1 || a.stats.drops[DropPortDown].Load() != 1 || a.stats.rxPackets.Load() != 1 {
		t.Errorf("after the port went: %d written, %d port_down, %d received; want 1, 1, 1",
			*written, a.stats.drops[DropPortDown].Load(), a.stats.rxPackets.Load())
	}
}

// TestAddPortIngress: AddPort hands an Injector its Ingress, and a frame
// forwarded through it is captured on its port and reaches the port its
// destination was learned on.
func TestAddPortIngress(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	inj := &injPort{memPort: newMemPort()}
	guest := newMemPort()
	if err := s.AddPort(access("gw", 1), inj); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPort(access("guest", 1), guest); err != nil {
		t.Fatal(err)
	}
	if inj.in == nil {
		t.Fatal("no Ingress attached")
	}
	guest.in <- frame(mac(1), mac(2)) // the gateway learns where the guest is
	inj.expect(t)
	c, err := s.StartCapture("gw")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := frame(mac(2), mac(1))
	f := NewFrame()
	f.SetData(want)
	inj.in.Forward(f, time.Now())
	captured(t, c, "gw", want) // as received on gw
	if got := guest.expect(t); string(got) != string(want) {
		t.Errorf("guest got % x", got)
	}
	if st, _ := s.Port("gw"); st.RxPackets != 1 {
		t.Errorf("gw counted %d received, want 1", st.RxPackets)
	}
}

type injPort struct {
	*memPort
	in *Ingress
}

func (p *injPort) AttachedIngress(in *Ingress) { p.in = in }
