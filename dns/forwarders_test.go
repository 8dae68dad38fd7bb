package dns

import (
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"
)

// TestSetForwarders: after SetForwarders the next forwarded query goes to
// the new forwarder only; the old one sees nothing more.
func TestSetForwarders(t *testing.T) {
	old, nu := newUpstream(t, answerA(0)), newUpstream(t, answerA(0))
	h := newHarness(t, Config{Forwarders: []netip.AddrPort{old.addr()}})
	if got := summary(h.ask(t, query("a.example.", mdns.TypeA))); got != "NOERROR A 198.51.100.7" {
		t.Fatalf("before: %q", got)
	}
	h.s.SetForwarders([]netip.AddrPort{nu.addr()})
	if got := summary(h.ask(t, query("b.example.", mdns.TypeA))); got != "NOERROR A 198.51.100.7" {
		t.Fatalf("after: %q", got)
	}
	if old.seen.Load() != 1 || nu.seen.Load() != 1 {
		t.Fatalf("queries: old forwarder %d (want 1), new %d (want 1)", old.seen.Load(), nu.seen.Load())
	}
}
