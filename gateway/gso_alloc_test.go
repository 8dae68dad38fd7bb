//go:build !race

package gateway

import (
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// A guest's super-frame routed out through the NAT, the outside's GRO'd
// answer delivered back, and a super-frame for the gateway itself (cut and
// answered per segment) allocate nothing once the flow is tracked.
func TestRouteGSOAllocs(t *testing.T) {
	p, u, out, in := gsoFlow()
	toGW := gsoTCP(p.MAC(), guestMAC, netip.AddrPortFrom(guestIP, 40000), netip.AddrPortFrom(gwAddr.Addr(), 9), 64, pkt.TCPFlagACK, 3000, 1000, true)
	batch := make([]*vswitch.Frame, 1)
	var nOut, nIn, nGW int
	if allocs := testing.AllocsPerRun(500, func() {
		p.WriteBatch([]*vswitch.Frame{out})
		nOut = drain(u.tx.(ringEgress).q)
		batch[0] = vswitch.NewBigFrame()
		batch[0].SetData(in.Bytes())
		batch[0].VNet = in.VNet
		(*uplinkRouter)(u).Deliver(batch)
		batch[0].Release() // handed on: Deliver left a fresh frame here
		nIn = drain(p.q)
		p.WriteBatch([]*vswitch.Frame{toGW})
		nGW = drain(p.q)
	}); allocs != 0 {
		t.Fatalf("%v allocs per super-frame out, in and to the gateway", allocs)
	}
	if nOut != 1 || nIn != 1 || nGW != 3 || u.Drops() != [NumUplinkDrops]uint64{} || p.Drops() != [NumDrops]uint64{} {
		t.Fatalf("out %d, in %d, to the gateway %d answers, drops %v %v", nOut, nIn, nGW, u.Drops(), p.Drops())
	}
}
