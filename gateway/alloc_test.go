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

// Handing a DNS query to the DNS server allocates nothing on the frame path.
func TestDNSHandOverAllocs(t *testing.T) {
	p, _ := newDNSPort(t) // not started: jobs stay queued, 1024 of them
	f := fromGuest(17, 1, 0, udpSeg(40000, 53, dnsQuery(t, 1, "db.lab."), guestIP, gwIP))
	if allocs := testing.AllocsPerRun(500, func() { p.handle(f, t0) }); allocs != 0 {
		t.Fatalf("%v allocs per query", allocs)
	}
}
