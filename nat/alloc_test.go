//go:build !race

// The race detector makes sync.Pool and friends allocate, so allocation
// budgets are checked only without it.

package nat

import (
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestNoAllocsEstablished: translating a packet of a known flow, either
// way, allocates nothing (the claim in doc.go and docs/nat.md).
func TestNoAllocsEstablished(t *testing.T) {
	for _, tc := range []struct {
		name  string
		proto uint8
		remap bool
	}{
		{"tcp", protoTCP, false},
		{"udp", protoUDP, false},
		{"tcp remapped", protoTCP, true},
		{"udp remapped", protoUDP, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := New(Config{})
			if tc.remap {
				tb.Outbound(Packet{IP: build(t, tc.proto, guest2, remote, 40000, 80, "syn")}, uplink, now)
			}
			out := build(t, tc.proto, guest, remote, 40000, 80, "syn")
			if v, _ := tb.Outbound(Packet{IP: append([]byte(nil), out...)}, uplink, now); v != Translated {
				t.Fatalf("first packet: %v", v)
			}
			sp := uint16(40000)
			if tc.remap {
				sp = tb.cfg.PortMin
			}
			in := build(t, tc.proto, remote, uplink, 80, sp, "synack")
			if v, _ := tb.Inbound(Packet{IP: append([]byte(nil), in...)}, now); v != Translated {
				t.Fatalf("first reply: %v", v)
			}
			o, i := make([]byte, len(out)), make([]byte, len(in))
			var vo, vi Verdict
			clock := now
			if a := testing.AllocsPerRun(200, func() {
				clock++ // a new second stores lastSeen too
				copy(o, out)
				vo, _ = tb.Outbound(Packet{IP: o}, uplink, clock)
				copy(i, in)
				vi, _ = tb.Inbound(Packet{IP: i}, clock)
			}); a != 0 {
				t.Fatalf("%.1f allocs per outbound+inbound pair", a)
			}
			// The measured calls did translate (not an early drop).
			if vo != Translated || vi != Translated || pkt.IPv4(o).Src() != uplink || pkt.IPv4(i).Dst() != guest {
				t.Fatalf("verdicts %v %v, %v -> %v", vo, vi, pkt.IPv4(o).Src(), pkt.IPv4(i).Dst())
			}
		})
	}
}
