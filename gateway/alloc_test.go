//go:build !race

package gateway

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/internal/ring"
	vswitch "github.com/vswitch/vswitch/switch"
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

// A NAT flow through a running uplink's path allocates nothing once it is
// tracked: out (the gateway's copy, NAT, the next hop, the uplink's
// egress) and in (the port's Deliver, NAT, the gateway's ring).
func TestUplinkPathAllocs(t *testing.T) {
	u, _ := newUplink(true)
	p := New(Config{Network: "n", Address: gwAddr, Mode: config.ModeNAT, Uplink: u})
	u.Attach(p)
	u.neigh.learn(routerIP, routerMAC, t0)
	p.neigh.learn(guestIP, guestMAC, t0)
	query := udpFrame(p.MAC(), guestMAC, guestIP, remoteIP, 64, 5353, 53, []byte("query"))
	p.handle(query, t0) // tracks the flow
	out := sent(u)
	if len(out) != 1 {
		t.Fatalf("%d frames out", len(out))
	}
	sport := binary.BigEndian.Uint16(out[0][14+20:])
	answer := udpFrame(upMAC, routerMAC, remoteIP, upIP, 50, 53, sport, []byte("answer"))
	upQ, gwQ := u.tx.(ringEgress).q, p.q
	batch := make([]*vswitch.Frame, 1)
	drained := make([]*vswitch.Frame, vswitch.BatchSize)
	drain := func(q *ring.Queue[vswitch.Frame]) int {
		n := q.Take(drained)
		for _, f := range drained[:n] {
			f.Release()
		}
		return n
	}
	var nOut, nIn int
	if allocs := testing.AllocsPerRun(1000, func() {
		p.handle(query, t0)
		nOut = drain(upQ)
		batch[0] = frameOf(answer)
		(*uplinkRouter)(u).Deliver(batch)
		batch[0].Release() // handed on: Deliver left a fresh frame here
		nIn = drain(gwQ)
	}); allocs != 0 {
		t.Fatalf("%v allocs per packet out and in", allocs)
	}
	if nOut != 1 || nIn != 1 || u.Drops() != [NumUplinkDrops]uint64{} {
		t.Fatalf("out %d, in %d, drops %v", nOut, nIn, u.Drops())
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
			if drain(u.tx.(ringEgress).q) != 1 {
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

// Handing a DNS query to the DNS server allocates nothing on the frame path.
func TestDNSHandOverAllocs(t *testing.T) {
	p, _ := newDNSPort(t) // not started: jobs stay queued, 1024 of them
	f := fromGuest(17, 1, 0, udp4(guestIP, gwIP, 40000, 53, dnsQuery(t, 1, "db.lab.")))
	if allocs := testing.AllocsPerRun(500, func() { p.handle(f, t0) }); allocs != 0 {
		t.Fatalf("%v allocs per query", allocs)
	}
}
