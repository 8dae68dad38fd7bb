package dhcp

import (
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestSetHosts: a reservation added live is what its MAC is offered and
// given; a client renewing a dynamic lease its MAC no longer fits is
// refused (NAK) and gets the reservation on asking again; a reservation
// removed live frees its address for the range.
func TestSetHosts(t *testing.T) {
	s, _ := newServer(t, Config{}, nil)
	dyn := bind(t, s, mac(1))
	static := netip.MustParseAddr("10.9.0.12")
	if dyn == static {
		t.Fatalf("first client got %v; the test needs another address", dyn)
	}
	s.SetHosts([]Host{{MAC: mac(1), IP: static, Name: "web"}})
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(1), reqIP: dyn, ciaddr: dyn}); typ != pkt.DHCPNak {
		t.Fatalf("renewing %v after its MAC was reserved %v: type %d, want NAK", dyn, static, typ)
	}
	if ip := bind(t, s, mac(1)); ip != static {
		t.Fatalf("after the NAK: %v, want the reservation %v", ip, static)
	}
	// Reserved for nobody now: mac(2) may have it once mac(1) releases it.
	s.SetHosts(nil)
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRelease, mac: mac(1), ciaddr: static, serverID: gw.Addr()}); typ != 0 {
		t.Fatalf("release answered %d", typ)
	}
	if typ, _, _ := reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(2), reqIP: static}); typ != pkt.DHCPAck {
		t.Fatalf("request for the unreserved %v: type %d, want ACK", static, typ)
	}
}
