package dhcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestReconfigure: after a range change, a lease inside the new range
// renews as before (with the new lease time and DNS server); one outside
// is refused (NAK) and its client gets an address of the new range; the
// old address is never offered again.
func TestReconfigure(t *testing.T) {
	s, _ := newServer(t, Config{}, nil)
	a, b := bind(t, s, mac(1)), bind(t, s, mac(2)) // .10 and .11
	if a != netip.MustParseAddr("10.9.0.10") || b != netip.MustParseAddr("10.9.0.11") {
		t.Fatalf("setup: %v %v", a, b)
	}
	dns := netip.MustParseAddr("10.9.0.53")
	s.Reconfigure(Options{RangeStart: netip.MustParseAddr("10.9.0.11"), RangeEnd: netip.MustParseAddr("10.9.0.20"),
		Lease: 10 * time.Minute, DNS: []netip.Addr{dns}})
	typ, ip, rep := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(2), reqIP: b, ciaddr: b})
	o := pkt.DHCP(rep.Msg).ParseOptions()
	var got []byte
	for it := pkt.DHCP(rep.Msg).Options(); it.Next(); {
		if it.Code() == pkt.OptDNS {
			got = append(got, it.Data()...)
		}
	}
	if typ != pkt.DHCPAck || ip != b || o.LeaseTime != 600 || string(got) != string(dns.AsSlice()) {
		t.Fatalf("renewal inside the new range: type %d ip %v lease %d dns %v; want ACK of %v, 600 s, %v", typ, ip, o.LeaseTime, got, b, dns)
	}
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(1), reqIP: a, ciaddr: a}); typ != pkt.DHCPNak {
		t.Fatalf("renewal outside the new range: type %d, want NAK", typ)
	}
	if got := bind(t, s, mac(1)); got != netip.MustParseAddr("10.9.0.12") {
		t.Fatalf("after the NAK: %v, want the new range's first free 10.9.0.12", got)
	}
	for i := byte(3); i < 11; i++ { // the rest of the new range
		if got := bind(t, s, mac(i)); got == a {
			t.Fatalf("the old range's %v was offered again", a)
		}
	}
}
