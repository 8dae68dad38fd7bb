//go:build !race

package dhcp6

import (
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestHandleAllocs: a message that does not change a lease's lifetime on
// disk (a SOLICIT for an existing offer, an INFORMATION-REQUEST, a
// CONFIRM) and a RENEW without a store are answered without allocating.
func TestHandleAllocs(t *testing.T) {
	s := unlimitedServer()
	c := newClient(1)
	a := bind(t, s, c)
	buf := make([]byte, 1500)
	for _, m := range []pkt.DHCPv6{
		c.msg(pkt.DHCPv6Solicit, msgOpts{}),
		c.msg(pkt.DHCPv6InfoRequest, msgOpts{noIA: true}),
		c.msg(pkt.DHCPv6Confirm, msgOpts{addr: a}),
		c.msg(pkt.DHCPv6Renew, msgOpts{serverID: s.DUID(), addr: a}),
	} {
		if n := testing.AllocsPerRun(200, func() {
			if _, ok := s.Handle(m, c.from(), buf); !ok {
				t.Fatal("no reply")
			}
		}); n != 0 {
			t.Fatalf("type %d: %v allocs", m.Type(), n)
		}
	}
}
