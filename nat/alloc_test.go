//go:build !race

// The race detector makes sync.Pool and friends allocate, so allocation
// budgets are checked only without it.

package nat

import (
	"net/netip"
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

// TestNoAllocsRefused: a flood's refused packets (over the source's
// limit, into a table full of answered flows) and the fragments of a
// followed datagram allocate nothing.
func TestNoAllocsRefused(t *testing.T) {
	tb := New(Config{MaxEntries: 2, MaxPerSource: 1})
	tb.Outbound(Packet{IP: rawPacket(protoUDP, guest, remote, 1, 53, false)}, uplink, now)
	tb.Outbound(Packet{IP: rawPacket(protoUDP, guest2, remote, 1, 53, false)}, uplink, now)
	tb.Inbound(Packet{IP: rawPacket(protoUDP, remote, uplink, 53, 1, false)}, now)     // guest's flow
	tb.Inbound(Packet{IP: rawPacket(protoUDP, remote, uplink, 53, 32768, false)}, now) // guest2's, remapped
	body := rawPacket(protoUDP, guest, remote, 1, 53, false)[20:]
	followed := frag(guest, remote, 1, 0, true, body)
	if v, _ := tb.Outbound(Packet{IP: append([]byte(nil), followed...)}, uplink, now); v != Translated {
		t.Fatalf("first fragment: %v", v)
	}
	for _, tc := range []struct {
		name string
		p    []byte
		in   bool
		want Verdict
	}{
		{"source limit", rawPacket(protoUDP, guest, remote, 2, 53, false), false, SourceLimit},
		{"full of answered flows", rawPacket(protoUDP, netip.MustParseAddr("192.168.122.12"), remote, 2, 53, false), false, TableFull},
		{"followed first fragment", followed, false, Translated},
		{"later fragment", frag(guest, remote, 1, 2, false, body[:8]), false, Translated},
		{"orphan fragment", frag(guest, remote, 3, 2, false, body[:8]), false, Fragment},
		{"unsolicited", rawPacket(protoUDP, remote, uplink, 53, 9, false), true, NotTracked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := make([]byte, len(tc.p))
			var v Verdict
			if a := testing.AllocsPerRun(200, func() {
				copy(p, tc.p)
				if tc.in {
					v, _ = tb.Inbound(Packet{IP: p}, now)
				} else {
					v, _ = tb.Outbound(Packet{IP: p}, uplink, now)
				}
			}); a != 0 {
				t.Fatalf("%.1f allocs", a)
			}
			if v != tc.want {
				t.Fatalf("%v, want %v", v, tc.want)
			}
		})
	}
}
