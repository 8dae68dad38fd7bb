//go:build !race

package nat

import (
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestNoAllocsEstablished6: translating a packet of a known IPv6 flow,
// either way, and an ICMPv6 error about one, allocates nothing.
func TestNoAllocsEstablished6(t *testing.T) {
	for _, proto := range []uint8{protoTCP, protoUDP, protoIC6} {
		t.Run(map[uint8]string{protoTCP: "tcp", protoUDP: "udp", protoIC6: "echo"}[proto], func(t *testing.T) {
			tb := New(Config{})
			tb.Outbound6(Packet{IP: build6(t, proto, guest6b, remote6, 40000, 80, "syn")}, uplink6, now) // remapped
			o := build6(t, proto, guest6, remote6, 40000, 80, "syn")
			sent := append([]byte(nil), o...)
			if v, _ := tb.Outbound6(Packet{IP: sent}, uplink6, now); v != Translated {
				t.Fatalf("first packet: %v", v)
			}
			r := build6(t, proto, remote6, uplink6, 80, tb.cfg.PortMin, "synack")
			if proto == protoIC6 {
				r = build6(t, proto, remote6, uplink6, tb.cfg.PortMin, 0, "reply")
			}
			er := error6(remote6, uplink6, pkt.ICMPv6PacketTooBig, 1280, sent, 48)
			po, pi, pe := make([]byte, len(o)), make([]byte, len(r)), make([]byte, len(er))
			var vo, vi, ve Verdict
			clock := now
			if a := testing.AllocsPerRun(200, func() {
				clock++
				copy(po, o)
				vo, _ = tb.Outbound6(Packet{IP: po}, uplink6, clock)
				copy(pi, r)
				vi, _ = tb.Inbound6(Packet{IP: pi}, clock)
				copy(pe, er)
				ve, _ = tb.Inbound6(Packet{IP: pe}, clock)
			}); a != 0 {
				t.Fatalf("%.1f allocs per outbound+inbound+error", a)
			}
			if vo != Translated || vi != Translated || ve != Translated || pkt.IPv6(pi).Dst() != guest6 {
				t.Fatalf("verdicts %v %v %v, reply to %v", vo, vi, ve, pkt.IPv6(pi).Dst())
			}
		})
	}
}
