package daemon

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/dhcp"
	"github.com/vswitch/vswitch/dns"
)

func TestLeaseNames(t *testing.T) {
	now := time.Now()
	ip := netip.MustParseAddr
	got := leaseNames([]dhcp.Lease{
		{Hostname: "a", IP: ip("10.0.0.2"), State: "bound", Expiry: now.Add(time.Minute)},
		{Hostname: "released", IP: ip("10.0.0.3"), State: "released", Expiry: now.Add(time.Minute)},
		{Hostname: "expired", IP: ip("10.0.0.4"), State: "bound", Expiry: now.Add(-time.Second)},
		{Hostname: "static", IP: ip("10.0.0.5"), State: "bound", Expiry: now.Add(time.Minute), Static: true},
		{IP: ip("10.0.0.6"), State: "bound", Expiry: now.Add(time.Minute)},
	}, now)
	if len(got) != 1 || got[0] != (dns.Host{Name: "a", IP: ip("10.0.0.2"), Expiry: now.Add(time.Minute)}) {
		t.Fatalf("%+v", got)
	}
}
