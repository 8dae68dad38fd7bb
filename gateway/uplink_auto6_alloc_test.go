//go:build !race

package gateway

import (
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/internal/autoconf6"
	vswitch "github.com/vswitch/vswitch/switch"
)

// An address6: auto uplink's NAT66 path allocates nothing: out (the
// address and router read from the client's State) and in (every IPv6
// frame shown to the client first), and an advertisement refreshing
// what the client holds.
func TestUplinkAuto6Allocs(t *testing.T) {
	p, u, clk := autoUplink6(t, netip.Addr{})
	tickUntil(t, u, clk, func(s autoconf6.State) bool { return s.LinkLocal.IsValid() })
	ra := autoRA(1800)
	feed(u, ra, clk.Now())
	tickUntil(t, u, clk, func(s autoconf6.State) bool { return s.Addr.IsValid() })
	query := udp6Frame(p.MAC(), guestMAC, guest6, remote6, 64, 5353, 53, []byte("query"))
	p.handle(query, clk.Now()) // tracks the flow
	out := sent(u)
	if len(out) != 1 {
		t.Fatalf("%d frames out", len(out))
	}
	sport := uint16(out[0][icmp6Off])<<8 | uint16(out[0][icmp6Off+1])
	answer := udp6Frame(upMAC, routerMAC, remote6, autoAddr, 50, 53, sport, []byte("answer"))
	batch := make([]*vswitch.Frame, 1)
	now := clk.Now()
	var nOut, nIn int
	if allocs := testing.AllocsPerRun(1000, func() {
		p.handle(query, now)
		nOut = drain(u.tx.(ringEgress).q)
		batch[0] = frameOf(answer)
		(*uplinkRouter)(u).Deliver(batch)
		batch[0].Release()
		nIn = drain(p.q)
		batch[0] = frameOf(ra)
		(*uplinkRouter)(u).Deliver(batch)
		batch[0].Release()
	}); allocs != 0 {
		t.Fatalf("%v allocs per packet out and in", allocs)
	}
	if nOut != 1 || nIn != 1 || u.Drops() != [NumUplinkDrops]uint64{} {
		t.Fatalf("out %d, in %d, drops %v", nOut, nIn, u.Drops())
	}
}

// BenchmarkUplinkNAT66 is a NAT66 packet out and its answer in through
// an uplink with a static address6 and one with address6: auto (the
// address and router read from the client's State on each packet, each
// frame in shown to the client first).
func BenchmarkUplinkNAT66(b *testing.B) {
	for _, c := range []struct {
		name string
		addr netip.Addr
		mk   func() (*Port, *Uplink)
	}{
		{"static", up6, func() (*Port, *Uplink) { p, _, u := route6Setup(b, router6, 0); return p, u }},
		{"auto", autoAddr, func() (*Port, *Uplink) {
			p, u, clk := autoUplink6(b, netip.Addr{})
			tickUntil(b, u, clk, func(s autoconf6.State) bool { return s.LinkLocal.IsValid() })
			feed(u, autoRA(1800), clk.Now())
			tickUntil(b, u, clk, func(s autoconf6.State) bool { return s.Addr.IsValid() })
			return p, u
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			p, u := c.mk()
			query := udp6Frame(p.MAC(), guestMAC, guest6, remote6, 64, 5353, 53, make([]byte, 1000))
			p.handle(query, t0)
			out := sent(u)
			if len(out) != 1 {
				b.Fatalf("%d frames out", len(out))
			}
			sport := uint16(out[0][icmp6Off])<<8 | uint16(out[0][icmp6Off+1])
			answer := udp6Frame(upMAC, routerMAC, remote6, c.addr, 50, 53, sport, make([]byte, 1000))
			batch := make([]*vswitch.Frame, 1)
			b.ReportAllocs()
			for b.Loop() {
				p.handle(query, t0)
				drain(u.tx.(ringEgress).q)
				batch[0] = frameOf(answer)
				(*uplinkRouter)(u).Deliver(batch)
				batch[0].Release()
				if drain(p.q) != 1 {
					b.Fatal("answer not delivered")
				}
			}
		})
	}
}
