package nat

import (
	"net/netip"
	"testing"
)

// TestSetForwards: a forward replaced live sends new connections to its
// new guest; one removed forwards nothing new, while the flow it started
// goes on.
func TestSetForwards(t *testing.T) {
	tb := New(Config{})
	tb.AddForward(protoTCP, 8080, netip.AddrPortFrom(guest, 80))
	v, e := tb.Inbound(Packet{IP: build(t, protoTCP, remote, uplink, 50000, 8080, "syn")}, now)
	if v != Translated || e.Inside.Src != netip.AddrPortFrom(guest, 80) {
		t.Fatalf("before: %v", v)
	}
	tb.SetForwards([]Forward{{Proto: protoTCP, Port: 9090, To: netip.AddrPortFrom(guest2, 22)}})
	if v, _ := tb.Inbound(Packet{IP: build(t, protoTCP, remote, uplink, 50001, 8080, "syn")}, now); v != NotTracked {
		t.Fatalf("a new connection to the removed forward: %v, want NotTracked", v)
	}
	if v, e := tb.Inbound(Packet{IP: build(t, protoTCP, remote, uplink, 50000, 8080, "ack")}, now); v != Translated || e.Inside.Src != netip.AddrPortFrom(guest, 80) {
		t.Fatalf("the removed forward's flow: %v", v)
	}
	if v, e := tb.Inbound(Packet{IP: build(t, protoTCP, remote, uplink, 50002, 9090, "syn")}, now); v != Translated || e.Inside.Src != netip.AddrPortFrom(guest2, 22) {
		t.Fatalf("the new forward: %v", v)
	}
}
