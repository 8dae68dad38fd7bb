//go:build !race

package autoconf6

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestHandleAllocs: an ordinary advertisement (lifetimes refreshed, the
// clock moving), the drops and the frames left to the uplink allocate
// nothing; nor does State.
func TestHandleAllocs(t *testing.T) {
	h := newHarness(t)
	h.ready()
	ra := slaacRA()
	h.c.Handle(ra)
	h.at(3 * time.Second)
	if !h.c.State().Addr.IsValid() {
		t.Fatal("no address")
	}
	h.take()
	p := h.c.snap.Load()
	ipv4 := append(make([]byte, 12), 0x08, 0x00, 0x45, 0, 0, 20)
	badRA := icmp6Frame(rtrMAC, allNodesMAC, netip.MustParseAddr("2001:db8::1"), pkt.IPv6AllNodes, 255, raMsg(0, 1800))
	ns := icmp6Frame(rtrMAC, pkt.MulticastMAC6(pkt.SolicitedNode(slaacA)), rtrLL, pkt.SolicitedNode(slaacA), 255, dadProbe(rtrMAC, slaacA)[icmpOff:])
	notOurs := h.dhcpFrame(reply(pkt.DHCPv6Reply, testXID+1))
	for _, c := range []struct {
		name  string
		frame []byte
	}{
		{"RA dropped", badRA},
		{"IPv4", ipv4},
		{"NS", ns},
		{"DHCPv6 not ours", notOurs},
		{"ordinary RA", ra}, // last: the lifetimes checked below are its
	} {
		if n := testing.AllocsPerRun(200, func() {
			h.now = h.now.Add(time.Second)
			h.c.Handle(c.frame)
		}); n != 0 {
			t.Errorf("%s: %v allocs", c.name, n)
		}
	}
	if h.c.snap.Load() != p {
		t.Error("a refresh made a new snapshot")
	}
	if s := h.c.State(); !s.ValidUntil.Equal(h.now.Add(3600 * time.Second)) {
		t.Errorf("refreshed valid lifetime %v, want %v", s.ValidUntil, h.now.Add(3600*time.Second))
	}
	if n := testing.AllocsPerRun(200, func() { _ = h.c.State() }); n != 0 {
		t.Errorf("State: %v allocs", n)
	}
	if o := h.take(); len(o) != 0 {
		t.Errorf("%d frames sent", len(o))
	}
}
