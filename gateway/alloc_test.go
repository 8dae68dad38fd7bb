//go:build !race

package gateway

import (
	"net/netip"
	"testing"
	"time"
)

// Looking up and refreshing a known neighbour allocates nothing.
func TestNeighbourAllocs(t *testing.T) {
	n := newNeighbours(16)
	a := netip.MustParseAddr("10.0.0.1")
	n.learn(a, guestMAC, t0)
	now := t0
	if allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Second)
		n.learn(a, guestMAC, now)
		if _, ok := n.lookup(a); !ok {
			t.Fatal("lost")
		}
	}); allocs != 0 {
		t.Fatalf("%v allocs per refresh+lookup", allocs)
	}
}

// Routing a guest's packet out (nat and routed, and a spoofed one
// dropped) and delivering the outside's answer allocate nothing.
func TestRouteAllocs(t *testing.T) {
	for _, mode := range []string{"nat", "routed"} {
		p, u := routeSetup(mode)
		frame := guestUDP(remoteIP, 64, 5353, 53, "query")
		spoof := udpFrame(p.MAC(), guestMAC, upIP, remoteIP, 64, 5353, 53, []byte("spoof"))
		if allocs := testing.AllocsPerRun(1000, func() {
			p.handle(frame, t0)
			p.handle(spoof, t0)
			if drain(u.q) != 1 {
				t.Fatal("not routed")
			}
		}); allocs != 0 {
			t.Fatalf("%s: %v allocs per routed packet", mode, allocs)
		}
	}
	p, u, reply := established()
	if allocs := testing.AllocsPerRun(1000, func() {
		if !u.handle(frameOf(reply), t0) || drain(p.q) != 1 {
			t.Fatal("not delivered")
		}
	}); allocs != 0 {
		t.Fatalf("%v allocs per delivered answer", allocs)
	}
}
