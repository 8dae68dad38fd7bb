package vswitch

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// testRouter keeps every frame its port reads and hands it to the test.
type testRouter struct {
	out *Egress
	got chan *Frame
}

func (r *testRouter) Attached(out *Egress) { r.out = out }

func (r *testRouter) Deliver(frames []*Frame) {
	for i, f := range frames {
		r.got <- f
		frames[i] = NewFrame()
	}
}

// next waits for the next frame the router was given, as bytes.
func (r *testRouter) next(t *testing.T) []byte {
	t.Helper()
	f := testnet.Recv(t, r.got, 2*time.Second, "a frame delivered to the router")
	b := append([]byte(nil), f.Bytes()...)
	f.Release()
	return b
}

// send puts b out through the router's egress.
func (r *testRouter) send(b []byte) {
	f := NewFrameFor(len(b))
	f.SetData(b)
	r.out.Send(f)
}

// A routed port runs on the port runtime: what it reads goes to its
// router, counted and captured, and never into the L2 fabric; what the
// router sends leaves through the port's queue and writer, counted and
// captured; nothing forwarded or flooded at L2 reaches it.
func TestRoutedPort(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("a", 1), access("b", 1))
	r := &testRouter{got: make(chan *Frame, 256)}
	wan := newMemPort()
	if err := s.AddPort(PortConfig{Name: "wan", VLAN: VLANConfig{PVID: 1}, Router: r}, wan); err != nil {
		t.Fatal(err)
	}
	if r.out == nil {
		t.Fatal("no egress before the port started")
	}
	c := s.startCapture(t, "wan")

	// In: 2*BatchSize+1 frames (more than one batch; a big one among
	// them), each to the router in order, none into the FDB.
	outside := mac(0x77)
	var rxBytes uint64
	var in [][]byte
	for i := range 2*BatchSize + 1 {
		b := frame(pkt.Broadcast, outside)
		if i == 5 {
			b = append(b, make([]byte, 3000)...) // promoted
		}
		b[20] = byte(i)
		in = append(in, b)
		rxBytes += uint64(len(b))
		wan.in <- b
	}
	for i, want := range in {
		if got := r.next(t); !bytes.Equal(got, want) {
			t.Fatalf("frame %d delivered % x", i, got[:21])
		}
		captured(t, c, "wan", want)
	}
	if s.Known(1, outside) {
		t.Fatal("learned a source on the routed port")
	}
	if err := s.AddStatic("wan", 1, mac(0x78)); err == nil {
		t.Fatal("static FDB entry on a routed port")
	}

	// L2 traffic: a's broadcast and unicast to the outside MAC reach b,
	// never wan. The router's own frame after them is the first wan sends.
	s.ports["a"].in <- frame(pkt.Broadcast, mac(1))
	s.ports["b"].expect(t)
	s.ports["a"].in <- frame(outside, mac(1))
	s.ports["b"].expect(t)
	sentinel := frame(pkt.Broadcast, mac(0x79))
	r.send(sentinel)
	if got := wan.expect(t); !bytes.Equal(got, sentinel) {
		t.Fatalf("wan sent % x first", got)
	}
	captured(t, c, "wan", sentinel)
	select {
	case f := <-r.got:
		t.Fatalf("router got % x from L2", f.Bytes())
	default:
	}

	// The writer counts a batch after the driver took it: the frame can
	// arrive a moment before its count.
	want := PortStatus{Name: "wan", QueueCap: DefaultQueue, RxPackets: uint64(len(in)), RxBytes: rxBytes, TxPackets: 1, TxBytes: uint64(len(sentinel))}
	st, _ := s.Port("wan")
	for deadline := time.Now().Add(2 * time.Second); st.TxPackets == 0 && time.Now().Before(deadline); st, _ = s.Port("wan") {
		time.Sleep(time.Millisecond)
	}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("status %+v\nwant %+v", st, want)
	}
}

// A routed port's queue is bounded like any port's: the router's excess
// is dropped and counted on the port, exactly.
func TestRoutedPortQueueFull(t *testing.T) {
	s := newTestSwitch(t, Config{})
	r := &testRouter{got: make(chan *Frame, 1)}
	wan := newMemPort()
	wan.block = make(chan struct{})
	if err := s.AddPort(PortConfig{Name: "wan", Queue: 4, Router: r}, wan); err != nil {
		t.Fatal(err)
	}
	r.send(frame(pkt.Broadcast, mac(1)))
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(time.Millisecond) {
		if st, _ := s.Port("wan"); st.QueueLen == 0 {
			break // the writer holds it, blocked in WriteBatch
		}
		if time.Now().After(deadline) {
			t.Fatal("writer did not take the frame")
		}
	}
	for range 4 + 3 {
		r.send(frame(pkt.Broadcast, mac(1)))
	}
	if st, _ := s.Port("wan"); st.Drops[DropQueueFull] != 3 || st.QueueLen != 4 {
		t.Fatalf("queue_full %d, queued %d; want 3 and 4", st.Drops[DropQueueFull], st.QueueLen)
	}
	close(wan.block)
	for range 5 {
		wan.expect(t)
	}
}

// echoRouter sends every frame its port reads straight back out of it.
type echoRouter struct{ out *Egress }

func (r *echoRouter) Attached(out *Egress) { r.out = out }

func (r *echoRouter) Deliver(frames []*Frame) {
	for i, f := range frames {
		r.out.Send(f)
		frames[i] = NewFrame()
	}
}

// routedBatch returns one batch of a routed port's reader and writer,
// without their goroutines: the frames read are counted and delivered to
// an echoRouter, and its output drained from the port's ring back to the
// pool. It reports how many frames came out.
func routedBatch(t testing.TB, tmpl []byte) func() int {
	r := &echoRouter{}
	p := newSwPort(PortConfig{Name: "wan", Queue: DefaultQueue, Router: r}, newMemPort())
	r.Attached(&Egress{p})
	frames := make([]*Frame, BatchSize)
	for i := range frames {
		frames[i] = NewFrame()
	}
	out := make([]*Frame, BatchSize)
	t.Cleanup(func() {
		for _, f := range frames {
			f.Release()
		}
	})
	return func() int {
		for _, f := range frames {
			f.reset()
			f.SetData(tmpl)
		}
		p.routed(frames)
		n := 0
		for k := p.q.Take(out); k > 0; k = p.q.Take(out) {
			for _, f := range out[:k] {
				f.Release()
			}
			n += k
		}
		return n
	}
}

// BenchmarkRoutedEcho is a routed port's share of an uplink's work: a
// batch read, counted and delivered, and sent back through its ring.
func BenchmarkRoutedEcho(b *testing.B) {
	batch := routedBatch(b, frame(mac(2), mac(1)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n += batch()
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds()/1e6, "Mframes/s")
}
