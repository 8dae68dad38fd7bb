package main

import (
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/control"
)

func TestPrintStatus(t *testing.T) {
	start := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
	st := control.Status{Version: "v1", Started: start, ConfigSource: "/etc/vswitch.yaml",
		ConfigLoaded: start.Add(time.Hour), LastReloadFailed: true, Reattached: []string{"vm1", "vm2"}}
	var b strings.Builder
	if err := printStatus(&b, st, start.Add(90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	want := `version:        v1
started:        2026-11-30T02:00:00Z (1h30m0s ago)
config:         /etc/vswitch.yaml, applied 2026-11-30T03:00:00Z (30m0s ago)
last reload:    refused (the log says why; the config above is what runs)
reattached:     vm1 vm2
`
	samePrint(t, b.String(), want)
	b.Reset()
	st.LastReloadFailed, st.Reattached = false, nil
	printStatus(&b, st, start.Add(90*time.Minute))
	if strings.Contains(b.String(), "last reload") || !strings.HasSuffix(b.String(), "reattached:     none\n") {
		t.Fatalf("after a good reload, nothing reattached:\n%s", b.String())
	}
}

// TestStatusUplinks: each uplink's address and next hop, and plainly when
// a lease named no router; the IPv6 side on a line of its own, with where
// an address6: auto one came from.
func TestStatusUplinks(t *testing.T) {
	start := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
	st := control.Status{Version: "v1", Started: start, ConfigLoaded: start, Uplinks: []control.UplinkStatus{
		{Name: "wan", Type: "packet", Address: "10.0.0.5/24", Gateway: "10.0.0.1"},
		{Name: "lan", Type: "packet", Address: "10.1.0.9/24"},
		{Name: "dhcp", Type: "packet"},
		{Name: "host", Type: "user"},
		{Name: "v6", Type: "packet", Address: "10.2.0.5/24", Gateway: "10.2.0.1", Address6: "2001:db8:1::2/64", Gateway6: "2001:db8:1::1"},
		{Name: "auto", Type: "packet", Address: "10.3.0.5/24", Gateway: "10.3.0.1", Address6: "2001:db8:2:0:200:5eff:fe00:5301/64", Gateway6: "fe80::1", Auto6: "slaac"},
		{Name: "wait", Type: "packet", Address: "10.4.0.5/24", Gateway: "10.4.0.1", Auto6: "none"},
		{Name: "bare", Type: "packet", Address: "10.5.0.5/24", Gateway: "10.5.0.1", Address6: "2001:db8:3::9/128", Auto6: "dhcpv6"},
	}}
	var b strings.Builder
	printStatus(&b, st, start)
	want := `reattached:     none
uplink wan:     10.0.0.5/24 via 10.0.0.1
uplink lan:     10.1.0.9/24, no default route (the DHCP lease named no router: only the outside link is reached)
uplink dhcp:    no address yet (leasing by DHCP)
uplink host:    user-mode (the host's own sockets)
uplink v6:      10.2.0.5/24 via 10.2.0.1
                IPv6 2001:db8:1::2/64 via 2001:db8:1::1
uplink auto:    10.3.0.5/24 via 10.3.0.1
                IPv6 2001:db8:2:0:200:5eff:fe00:5301/64 via fe80::1 (auto: slaac)
uplink wait:    10.4.0.5/24 via 10.4.0.1
                IPv6 auto: no address yet (waiting for the outside's router advertisements)
uplink bare:    10.5.0.5/24 via 10.5.0.1
                IPv6 2001:db8:3::9/128, no router yet (none advertised: only the outside link is reached) (auto: dhcpv6)
`
	if !strings.HasSuffix(b.String(), want) {
		t.Fatalf("got\n%s\nwant the end\n%s", b.String(), want)
	}
}

// TestStatusUpgrade: the PID, what an upgrade handed over and from whom,
// and why the last upgrade failed.
func TestStatusUpgrade(t *testing.T) {
	start := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
	st := control.Status{Version: "v2", Started: start, ConfigLoaded: start, PID: 77, UpgradedFrom: 42,
		Inherited: []string{"vm1", "wan", "metrics"}, LastUpgradeError: "new vswitch pid 80 failed to take over: x"}
	var b strings.Builder
	printStatus(&b, st, start)
	want := `version:        v2
pid:            77
started:        2026-11-30T02:00:00Z (0s ago)
upgraded from:  pid 42, handed over: vm1 wan metrics
last upgrade:   failed: new vswitch pid 80 failed to take over: x
`
	if !strings.HasPrefix(b.String(), want) {
		t.Fatalf("got\n%s\nwant the start\n%s", b.String(), want)
	}
}
