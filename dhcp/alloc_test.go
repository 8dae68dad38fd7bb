//go:build !race

package dhcp

import (
	"net/netip"
	"strings"
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

// A known client's REQUEST and its ACK allocate nothing: the client key is
// looked up from a scratch buffer, the host name compared before it is
// copied, the reply built in the caller's buffer.
func TestRenewAllocs(t *testing.T) {
	cfg := Config{Network: "n", Gateway: gw, RangeStart: netip.MustParseAddr("10.9.0.10"), RangeEnd: netip.MustParseAddr("10.9.0.20"),
		DNS: []netip.Addr{gw.Addr()}, Domain: strings.Repeat("d", 200), Router: true, MTU: 1500,
		Hosts: []Host{{MAC: mac(2), IP: netip.MustParseAddr("10.9.0.30"), Name: strings.Repeat("h", 60)}}}
	for i, m := range []msg{
		{typ: pkt.DHCPRequest, mac: mac(1), ciaddr: netip.MustParseAddr("10.9.0.10")},
		{typ: pkt.DHCPRequest, mac: mac(1), ciaddr: netip.MustParseAddr("10.9.0.10"), clientID: []byte{1, 2, 3}, hostname: []byte("vm1")},
		{typ: pkt.DHCPRequest, mac: mac(2), ciaddr: netip.MustParseAddr("10.9.0.30")},
	} {
		s, _ := newServer(t, cfg, nil)
		s.rate.interval = 0
		boot := m
		boot.ciaddr, boot.reqIP = netip.Addr{}, m.ciaddr
		if typ, _, _ := reply(t, s, boot); typ != pkt.DHCPAck {
			t.Fatalf("client %d: first REQUEST %d", i, typ)
		}
		b, buf := m.bytes(), make([]byte, 1500)
		if n := testing.AllocsPerRun(100, func() {
			if _, ok := s.Handle(b, buf); !ok {
				t.Fatal("no ACK")
			}
		}); n != 0 {
			t.Errorf("client %d: %v allocs per renewal", i, n)
		}
	}
}
