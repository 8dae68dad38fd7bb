package dns

import (
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"
)

// TestSetHosts: after SetHosts a new name answers with its address and
// PTR, and a name no longer listed is NXDOMAIN (the local domain never
// goes upstream).
func TestSetHosts(t *testing.T) {
	h := newHarness(t, Config{Hosts: []Host{{Name: "db", IP: netip.MustParseAddr("192.168.122.30")}}})
	a := func(name string) (int, string) {
		r := h.ask(t, query(name, mdns.TypeA))
		if len(r.Answer) != 1 {
			return r.Rcode, ""
		}
		return r.Rcode, r.Answer[0].(*mdns.A).A.String()
	}
	if rc, ip := a("db.lab."); rc != mdns.RcodeSuccess || ip != "192.168.122.30" {
		t.Fatalf("db before: %d %q", rc, ip)
	}
	h.s.SetHosts([]Host{{Name: "web", IP: netip.MustParseAddr("192.168.122.40")}})
	if rc, ip := a("web.lab."); rc != mdns.RcodeSuccess || ip != "192.168.122.40" {
		t.Fatalf("web after: %d %q", rc, ip)
	}
	if rc, ip := a("db.lab."); rc != mdns.RcodeNameError || ip != "" {
		t.Fatalf("db after: %d %q, want NXDOMAIN", rc, ip)
	}
	r := h.ask(t, query("40.122.168.192.in-addr.arpa.", mdns.TypePTR))
	if len(r.Answer) != 1 || r.Answer[0].(*mdns.PTR).Ptr != "web.lab." {
		t.Fatalf("PTR after: %v", r.Answer)
	}
}
