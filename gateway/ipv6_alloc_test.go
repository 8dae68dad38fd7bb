//go:build !race

package gateway

import (
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// The IPv6 frame path allocates nothing: routing a packet to another
// network (copy, hop limit, neighbour lookup, the other gateway's queue),
// answering a neighbour solicitation and a ping.
func TestIPv6PathAllocs(t *testing.T) {
	r := NewRouter6()
	a, b := newPort6("a", gw6, r), newPort6("b", gw6B, r)
	b.v6.neigh.learn(guest6B, guestMACB, t0)
	routed := frame6(a.MAC(), guestMAC, guest6, guest6B, 64, pkt.ProtoUDP, []byte("0123456789abcdef"))
	ns := solicitNS(guest6, gw6.Addr(), guestMAC)
	echo := make([]byte, 16)
	pkt.ICMPv6(echo).EncodeHeader(pkt.ICMPv6EchoRequest, 0, 1)
	ping := frame6(a.MAC(), guestMAC, guest6, gw6.Addr(), 64, pkt.ProtoICMPv6, echo)
	drained := make([]*vswitch.Frame, vswitch.BatchSize)
	for _, c := range []struct {
		name  string
		frame []byte
		q     *Port
	}{
		{"route", routed, b},
		{"neighbour solicitation", ns, a},
		{"echo", ping, a},
	} {
		now := time.Now()
		allocs := testing.AllocsPerRun(1000, func() {
			a.handle(c.frame, now)
			n := c.q.q.Take(drained)
			if n != 1 {
				t.Fatalf("%s: %d frames", c.name, n)
			}
			drained[0].Release()
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocs per frame", c.name, allocs)
		}
	}
}

func BenchmarkRoute6(b *testing.B) {
	r := NewRouter6()
	a, o := newPort6("a", gw6, r), newPort6("b", gw6B, r)
	o.v6.neigh.learn(guest6B, guestMACB, t0)
	frame := frame6(a.MAC(), guestMAC, guest6, guest6B, 64, pkt.ProtoUDP, make([]byte, 1400))
	drained := make([]*vswitch.Frame, vswitch.BatchSize)
	now := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		a.handle(frame, now)
		for _, f := range drained[:o.q.Take(drained)] {
			f.Release()
		}
	}
}
