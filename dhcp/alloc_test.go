//go:build !race

package dhcp

import (
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// A guest flooding DHCP over its rate costs a table lookup: no client id
// string, no allocation.
func TestRateLimitedDropAllocs(t *testing.T) {
	s, _ := newServer(t, Config{}, nil)
	m := msg{typ: pkt.DHCPRequest, mac: mac(1), clientID: []byte{1, 2, 3}, reqIP: netip.MustParseAddr("10.9.0.10")}.bytes()
	buf := make([]byte, 1500)
	for range rateBurst {
		s.Handle(m, buf)
	}
	before := s.Drops()[DropRateLimited]
	if n := testing.AllocsPerRun(1000, func() { s.Handle(m, buf) }); n != 0 {
		t.Fatalf("%v allocs per rate-limited message", n)
	}
	if got := s.Drops()[DropRateLimited] - before; got != 1001 {
		t.Fatalf("%d rate-limited, want 1001", got)
	}
}
