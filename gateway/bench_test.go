package gateway

import (
	"testing"

	"github.com/vswitch/vswitch/internal/ring"
	vswitch "github.com/vswitch/vswitch/switch"
)

// drain releases every frame on q, as the port's reader would after
// writing them.
func drain(q *ring.Queue[vswitch.Frame]) int {
	var buf [vswitch.BatchSize]*vswitch.Frame
	total := 0
	for n := q.Take(buf[:]); n > 0; n = q.Take(buf[:]) {
		for _, f := range buf[:n] {
			f.Release()
		}
		total += n
	}
	return total
}

// BenchmarkRoute: a guest's UDP packet routed out of the uplink, and the
// outside's reply delivered back to the guest, on an established flow.
func BenchmarkRoute(b *testing.B) {
	for _, mode := range []string{"nat", "routed"} {
		b.Run("out/"+mode, func(b *testing.B) {
			p, u := routeSetup(mode)
			frame := guestUDP(remoteIP, 64, 5353, 53, "query")
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				p.handle(frame, t0)
				if drain(u.tx.(ringEgress).q) != 1 {
					b.Fatal("not routed")
				}
			}
		})
	}
	b.Run("in/nat", func(b *testing.B) {
		p, u, reply := established()
		b.ReportAllocs()
		b.SetBytes(int64(len(reply)))
		for b.Loop() {
			f := frameOf(reply)
			if !u.handle(f, t0) {
				b.Fatal("not delivered")
			}
			drain(p.q)
		}
	})
}

// established is a nat network whose guest is known by ARP and has a UDP
// flow out, and the outside's answer on that flow.
func established() (*Port, *Uplink, []byte) {
	p, u := routeSetup("nat")
	p.handle(arpFrame(p.MAC(), guestMAC, 2, guestMAC, guestIP, p.MAC(), gwAddr.Addr()), t0)
	p.handle(guestUDP(remoteIP, 64, 5353, 53, "query"), t0)
	drain(u.tx.(ringEgress).q)
	drain(p.q)
	return p, u, udpFrame(upMAC, routerMAC, remoteIP, upIP, 50, 53, 5353, []byte("answer"))
}
