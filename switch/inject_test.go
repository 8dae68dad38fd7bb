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

// TestFrameTake: a driver may keep a frame nobody shares, cut to n bytes
// and fresh of its way in; a shared (flooded) one, or n past its end, no.
func TestFrameTake(t *testing.T) {
	f := NewFrame()
	defer f.Release()
	f.SetData(frame(mac(2), mac(1)))
	f.vid, f.mark, f.burst, f.prio, f.tci, f.hasTCI = 7, 1, true, 3, 9, true
	if f.Take(61) {
		t.Fatal("took past the end")
	}
	f.refs.Add(1) // shared with one more port's writer
	if f.Take(20) {
		t.Fatal("took a shared frame")
	}
	f.refs.Add(-1)
	if !f.Take(20) || f.Len() != 20 || f.vid != 0 || f.mark != 0 || f.burst || f.prio != 0 || f.tci != 0 || f.hasTCI {
		t.Fatalf("took: len %d, vid %d mark %d burst %v prio %d tci %d/%v", f.Len(), f.vid, f.mark, f.burst, f.prio, f.tci, f.hasTCI)
	}
	if string(f.Bytes()) != string(frame(mac(2), mac(1))[:20]) {
		t.Fatalf("bytes % x", f.Bytes())
	}
}

// keepTry is a direct port's driver that keeps every frame it is given,
// as a gateway routing it on does, leaving a fresh one in its slot.
type keepTry struct{ kept *[]*Frame }

func (k keepTry) TryWriteBatch(frames []*Frame) (int, int, error) {
	for i, f := range frames {
		f.Take(f.Len())
		*k.kept = append(*k.kept, f)
		frames[i] = NewFrame()
	}
	return len(frames), len(frames), nil
}

// TestTxBytesKept: the bytes of frames a driver keeps are counted as
// sent, though the switch releases the fresh frames left in their slots.
func TestTxBytesKept(t *testing.T) {
	s2, ports := benchSwitch(t, access("a", 1), access("b", 1))
	a, b := ports[0], ports[1]
	var kept []*Frame
	b.tw = keepTry{&kept}
	s2.fdb.learn(b, 1, mac(2), time.Now().Unix())
	data := append(frame(mac(2), mac(1)), make([]byte, 40)...)
	for range 3 {
		f := NewFrame()
		f.SetData(data)
		s2.ingress(a, []*Frame{f}, time.Now().Unix())
	}
	if len(kept) != 3 || b.stats.txPackets.Load() != 3 || b.stats.txBytes.Load() != uint64(3*len(data)) {
		t.Fatalf("%d kept, tx %d packets %d bytes; want 3, 3, %d", len(kept), b.stats.txPackets.Load(), b.stats.txBytes.Load(), 3*len(data))
	}
	for _, f := range kept {
		if string(f.Bytes()) != string(data) {
			t.Errorf("kept frame % x", f.Bytes())
		}
		f.Release()
	}
}
