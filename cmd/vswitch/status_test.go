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
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	st.LastReloadFailed, st.Reattached = false, nil
	printStatus(&b, st, start.Add(90*time.Minute))
	if strings.Contains(b.String(), "last reload") || !strings.HasSuffix(b.String(), "reattached:     none\n") {
		t.Fatalf("after a good reload, nothing reattached:\n%s", b.String())
	}
}

// TestStatusUplinks: each uplink's address and next hop, and plainly when
// a lease named no router.
func TestStatusUplinks(t *testing.T) {
	start := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
	st := control.Status{Version: "v1", Started: start, ConfigLoaded: start, Uplinks: []control.UplinkStatus{
		{Name: "wan", Type: "packet", Address: "10.0.0.5/24", Gateway: "10.0.0.1"},
		{Name: "lan", Type: "packet", Address: "10.1.0.9/24"},
		{Name: "dhcp", Type: "packet"},
		{Name: "host", Type: "user"},
	}}
	var b strings.Builder
	printStatus(&b, st, start)
	want := `reattached:     none
uplink wan:     10.0.0.5/24 via 10.0.0.1
uplink lan:     10.1.0.9/24, no default route (the DHCP lease named no router: only the outside link is reached)
uplink dhcp:    no address yet (leasing by DHCP)
uplink host:    user-mode (the host's own sockets)
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
