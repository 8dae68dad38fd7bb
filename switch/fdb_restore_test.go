package vswitch

import (
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestRestoreLearned: a restored entry is where lookups find it, with its
// age; what the port could not have learned is skipped, and a port's
// max_macs bounds restored entries as it bounds learned ones.
func TestRestoreLearned(t *testing.T) {
	g := PortConfig{Name: "g", VLAN: VLANConfig{PVID: 1}, Guard: &GuardConfig{DHCP: true}}
	lim := access("lim", 1)
	lim.MaxMACs = 1
	s, _ := benchSwitch(t, access("a", 1), access("b", 1), trunk("t", 0, 10, 20), g, lim)
	if err := s.AddLocal("a", 1, mac(9)); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	for _, tc := range []struct {
		name string
		port string
		vid  uint16
		mac  pkt.MAC
		want bool
	}{
		{"access", "a", 1, mac(1), true},
		{"trunk member", "t", 20, mac(2), true},
		{"not a member", "t", 30, mac(3), false},
		{"wrong access vlan", "a", 10, mac(4), false},
		{"guarded port", "g", 1, mac(5), false},
		{"no such port", "x", 1, mac(6), false},
		{"multicast", "a", 1, pkt.Broadcast, false},
		{"zero", "a", 1, pkt.MAC{}, false},
		{"the switch's own", "b", 1, mac(9), false},
		{"under max_macs", "lim", 1, mac(7), true},
		{"past max_macs", "lim", 1, mac(8), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.RestoreLearned(tc.port, tc.vid, tc.mac, now-30); got != tc.want {
				t.Fatalf("restored %v, want %v", got, tc.want)
			}
			p := s.fdb.lookup(tc.vid, tc.mac)
			if tc.want && (p == nil || p.name != tc.port) {
				t.Fatalf("lookup: %v", p)
			}
		})
	}
	for _, e := range s.FDB() {
		if e.MAC == mac(1) && (e.Age < 30*time.Second || e.Age > 32*time.Second) {
			t.Fatalf("restored entry's age %v, want 30s", e.Age)
		}
	}
}
