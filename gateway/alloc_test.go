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
