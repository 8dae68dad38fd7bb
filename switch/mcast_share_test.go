package vswitch

import (
	"bytes"
	"testing"
	"time"
)

// snoopShared sends one frame from b to group g, joined by a, r (also the
// router port, which must get it once) and trunk t, and returns the
// switch's ports (r a b t), the frame sent and its bytes.
func snoopShared(t *testing.T) ([]*swPort, *Frame, []byte) {
	t.Helper()
	s, ports := mcastSwitch(t, access("r", 1), access("a", 1), access("b", 1), trunk("t", 0, 1))
	now := time.Now().Unix()
	g := addr("239.1.2.3")
	inject(s, ports, 0, query4(), now-2)
	for _, i := range []int{0, 1, 3} {
		s.mdb.join(ports[i], keyOf(1, g), now)
	}
	b := udpTo(3, g)
	f := NewFrame()
	f.SetData(b)
	frames := []*Frame{f}
	s.ingress(ports[2], frames, now)
	if frames[0] == f {
		t.Fatal("the snooped frame stayed with the reader")
	}
	return ports, f, b
}

// TestSnoopShares: a group delivery to two access ports (one of them also
// the router port) queues the very frame that came in on both, once each;
// the trunk gets a copy of its own, tagged; the sender gets nothing.
func TestSnoopShares(t *testing.T) {
	ports, f, b := snoopShared(t)
	out := make([]*Frame, BatchSize)
	for _, p := range ports[:2] {
		n := p.q.Take(out)
		if n != 1 || out[0] != f {
			t.Fatalf("port %s queued %v, want the shared frame %p once", p.name, out[:n], f)
		}
		if !bytes.Equal(out[0].Bytes(), b) {
			t.Fatalf("port %s: % x, want % x", p.name, out[0].Bytes(), b)
		}
	}
	if got := f.refs.Load(); got != 1 {
		t.Fatalf("refs = %d, want 1 (two owners)", got)
	}
	if n := ports[2].q.Take(out); n != 0 {
		t.Fatalf("the sender got %d frames back", n)
	}
	n := ports[3].q.Take(out)
	if n != 1 || out[0] == f {
		t.Fatalf("trunk queued %v, want one copy of its own", out[:n])
	}
	if want := withTCI(b, 1); !bytes.Equal(out[0].Bytes(), want) {
		t.Fatalf("trunk: % x, want % x", out[0].Bytes(), want)
	}
	if !bytes.Equal(f.Bytes(), b) {
		t.Fatalf("shared frame changed: % x", f.Bytes())
	}
}

// TestSnoopCopiesWithoutSharers: when every target must change the frame,
// the last of them takes the frame itself and the others copies.
func TestSnoopCopiesWithoutSharers(t *testing.T) {
	s, ports := mcastSwitch(t, access("in", 1), trunk("t1", 0, 1), trunk("t2", 0, 1))
	now := time.Now().Unix()
	g := addr("ff15::7")
	s.mdb.ownQuery(1)
	s.mdb.join(ports[1], keyOf(1, g), now)
	s.mdb.join(ports[2], keyOf(1, g), now)
	b := udpTo(1, g)
	f := NewFrame()
	f.SetData(b)
	s.ingress(ports[0], []*Frame{f}, now)
	out := make([]*Frame, BatchSize)
	for i, p := range ports[1:] {
		n := p.q.Take(out)
		if n != 1 || (out[0] == f) != (i == 1) {
			t.Fatalf("port %s: %d frames, the frame itself %v", p.name, n, n > 0 && out[0] == f)
		}
		if want := withTCI(b, 1); !bytes.Equal(out[0].Bytes(), want) {
			t.Fatalf("port %s: % x, want % x", p.name, out[0].Bytes(), want)
		}
		if out[0].refs.Load() != 0 {
			t.Fatalf("port %s: a copy with refs %d", p.name, out[0].refs.Load())
		}
	}
}
