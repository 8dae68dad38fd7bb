package vswitch

import (
	"errors"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestRestoreGuardBinding: a restored binding lets its host through as a
// snooped ACK would, moves the address off another port, and expires on
// time; an expired one is not added; a port without guard: dhcp and a
// bogus lease are refused.
func TestRestoreGuardBinding(t *testing.T) {
	dg := func(name string) PortConfig {
		return PortConfig{Name: name, VLAN: VLANConfig{PVID: 1}, Guard: &GuardConfig{DHCP: true}}
	}
	r := newGuardRig(t, dg("g"), dg("h"), access("gw", 1))
	t0 := time.Now().Unix()
	r.run(t0, []guardCase{{"h's ACK of ip5", "gw", ack(mac(2), ip5, 600), ok}})
	if err := r.s.RestoreGuardBinding("g", mac(1), ip5, t0+60, t0); err != nil {
		t.Fatal(err)
	}
	if err := r.s.RestoreGuardBinding("g", mac(1), ip6, t0-1, t0); err != nil {
		t.Fatal(err)
	}
	r.run(t0+59, []guardCase{
		{"restored: IPv4", "g", udp4(mac(9), mac(1), ip5, gw1, 1, 2, nil), ok},
		{"restored: ARP", "g", arp4(mac(1), mac(1), ip5, gw1), ok},
		{"expired one not restored", "g", udp4(mac(9), mac(1), ip6, gw1, 1, 2, nil), DropSpoofedIP},
		{"h lost the address", "h", udp4(mac(9), mac(2), ip5, gw1, 1, 2, nil), DropSpoofedMAC},
	})
	r.run(t0+60, []guardCase{{"expired on time", "g", udp4(mac(9), mac(1), ip5, gw1, 1, 2, nil), DropSpoofedMAC}})
	if err := r.s.RestoreGuardBinding("gw", mac(1), ip5, t0+60, t0); !errors.Is(err, ErrNotDHCPGuarded) {
		t.Fatalf("unguarded port: %v", err)
	}
	if err := r.s.RestoreGuardBinding("nope", mac(1), ip5, t0+60, t0); !errors.Is(err, ErrNoSuchPort) {
		t.Fatalf("no such port: %v", err)
	}
	for _, m := range []pkt.MAC{{}, pkt.Broadcast} {
		if err := r.s.RestoreGuardBinding("g", m, ip5, t0+60, t0); err == nil {
			t.Fatalf("MAC %s bound", m)
		}
	}
}
