package vswitch

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestFloodShares floods one broadcast: the access ports' queues hold the
// very frame that came in (one buffer, no copies), the trunk and the port
// without a vnet header a frame of their own that carries the frame as
// that port must send it, and every byte each port sends is right.
func TestFloodShares(t *testing.T) {
	s, ports := benchSwitch(t, access("in", 10), access("a", 10), access("b", 10), access("c", 10),
		trunk("t", 0, 10), access("other", 20))
	b := frame(pkt.Broadcast, mac(1))
	f := NewFrame()
	f.SetData(b)
	frames := []*Frame{f}
	s.ingress(ports[0], frames, time.Now().Unix())
	if frames[0] == f {
		t.Fatal("the flooded frame stayed with the reader")
	}
	take := func(p *swPort) []*Frame {
		out := make([]*Frame, BatchSize)
		return out[:p.q.Take(out)]
	}
	for _, p := range ports[1:4] {
		got := take(p)
		if len(got) != 1 || got[0] != f {
			t.Fatalf("port %s queued %v, want the shared frame %p", p.name, got, f)
		}
		if !bytes.Equal(got[0].Bytes(), b) {
			t.Fatalf("port %s: % x, want % x", p.name, got[0].Bytes(), b)
		}
	}
	if got := f.refs.Load(); got != 2 {
		t.Fatalf("refs = %d, want 2 (three owners)", got)
	}
	tr := take(ports[4])
	if len(tr) != 1 || tr[0] == f {
		t.Fatalf("trunk queued %v, want one copy of its own", tr)
	}
	if want := withTCI(b, 10); !bytes.Equal(tr[0].Bytes(), want) {
		t.Fatalf("trunk: % x, want % x", tr[0].Bytes(), want)
	}
	if got := take(ports[5]); len(got) != 0 {
		t.Fatalf("VLAN 20 got %d frames", len(got))
	}
	// The access ports' bytes are untouched by the trunk's tag push.
	if !bytes.Equal(f.Bytes(), b) {
		t.Fatalf("shared frame changed: % x", f.Bytes())
	}
}

// TestFloodCopiesWithoutSharers: when every other port must change the
// frame, the last of them takes the frame itself and the others copies.
func TestFloodCopiesWithoutSharers(t *testing.T) {
	s, ports := benchSwitch(t, access("in", 10), trunk("t1", 0, 10), trunk("t2", 0, 10))
	b := frame(pkt.Broadcast, mac(1))
	f := NewFrame()
	f.SetData(b)
	s.ingress(ports[0], []*Frame{f}, time.Now().Unix())
	out := make([]*Frame, BatchSize)
	for i, p := range ports[1:] {
		n := p.q.Take(out)
		if n != 1 || (out[0] == f) != (i == 1) {
			t.Fatalf("port %s: %d frames, shared %v", p.name, n, out[0] == f)
		}
		if want := withTCI(b, 10); !bytes.Equal(out[0].Bytes(), want) {
			t.Fatalf("port %s: % x, want % x", p.name, out[0].Bytes(), want)
		}
		if out[0].refs.Load() != 0 {
			t.Fatalf("port %s: a copy has refs %d", p.name, out[0].refs.Load())
		}
	}
}

// TestSharedReleaseConcurrent releases a frame shared by many owners from
// as many goroutines at once, over and over: it goes back exactly when
// the last one lets go, with its count back at zero for its next use.
func TestSharedReleaseConcurrent(t *testing.T) {
	const owners = 8
	for range 200 {
		f := NewFrame()
		f.refs.Store(owners - 1)
		var wg sync.WaitGroup
		for range owners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = f.Bytes() // an owner reads until it lets go
				f.Release()
			}()
		}
		wg.Wait()
		if got := f.refs.Load(); got != 0 {
			t.Fatalf("refs = %d after the last release, want 0", got)
		}
	}
}
