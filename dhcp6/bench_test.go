package dhcp6

import (
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

func BenchmarkHandle(b *testing.B) {
	s := unlimitedServer()
	c := newClient(1)
	buf := make([]byte, 1500)
	adv, _ := s.Handle(c.msg(pkt.DHCPv6Solicit, msgOpts{}), c.from(), buf)
	sid := append([]byte(nil), pkt.DHCPv6(adv.Msg).ParseOptions().ServerID...)
	s.Handle(c.msg(pkt.DHCPv6Request, msgOpts{serverID: sid}), c.from(), buf)
	for _, bc := range []struct {
		name string
		m    pkt.DHCPv6
	}{
		{"solicit", c.msg(pkt.DHCPv6Solicit, msgOpts{})},
		{"renew", c.msg(pkt.DHCPv6Renew, msgOpts{serverID: sid, addr: rStart})},
		{"information-request", c.msg(pkt.DHCPv6InfoRequest, msgOpts{noIA: true})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := s.Handle(bc.m, c.from(), buf); !ok {
					b.Fatal("no reply")
				}
			}
		})
	}
}
