package nat

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// upper6 is the oracle's walk to the upper layer: the fixed header and
// any hop-by-hop, routing or destination options headers (RFC 8200 4),
// written apart from pkt's; ok false for anything else before it.
func upper6(b []byte) (proto uint8, l4 []byte, ok bool) {
	if len(b) < 40 || b[0]>>4 != 6 || 40+int(binary.BigEndian.Uint16(b[4:])) > len(b) {
		return 0, nil, false
	}
	end := 40 + int(binary.BigEndian.Uint16(b[4:]))
	proto, off := b[6], 40
	for n := 0; proto == 0 || proto == 43 || proto == 60; n++ {
		if off+8 > end || n > 8 {
			return 0, nil, false
		}
		proto, off = b[off], off+8*(int(b[off+1])+1)
	}
	if off > end {
		return 0, nil, false
	}
	return proto, b[off:end], true
}

// sums6 reports whether b's upper layer verifies against its pseudo-header.
func sums6(b []byte, proto uint8, l4 []byte) bool {
	s := refSum(refSum(uint32(proto)+uint32(len(l4)), b[8:24]), b[24:40])
	return fold(refSum(s, l4)) == 0xffff
}

// FuzzTranslate6: any bytes, outbound then inbound. Nothing panics; a
// refused packet is left as it was; a translated one leaves from the
// outside address with its destination, length and (when it verified)
// its checksum intact, and its reply, built by swapping the ends, comes
// back translated to exactly the guest's address and port.
func FuzzTranslate6(f *testing.F) {
	for _, p := range []uint8{protoTCP, protoUDP, protoIC6} {
		f.Add(build6(f, p, guest6, remote6, 40000, 80, "syn"), false)
		f.Add(build6(f, p, remote6, uplink6, 80, 40000, "syn"), true)
	}
	f.Add(error6(remote6, uplink6, pkt.ICMPv6PacketTooBig, 1280, build6(f, protoUDP, uplink6, remote6, 40000, 80, ""), 48), true)
	f.Fuzz(func(t *testing.T, b []byte, in bool) {
		tb := New(Config{})
		tb.SetForwards([]Forward{{Proto: protoTCP, Port: 80, To: netip.AddrPortFrom(guest6b, 8080)}})
		before := append([]byte(nil), b...)
		if in {
			if v, _ := tb.Inbound6(Packet{IP: b}, now); v != Translated && !bytes.Equal(b, before) {
				t.Fatalf("refused (%v) but changed", v)
			}
			return
		}
		// A second guest holds the guest's port, so flows remap.
		tb.Outbound6(Packet{IP: build6(t, protoUDP, guest6b, remote6, 0, 0, "")}, uplink6, now)
		proto, l4, ok := upper6(before)
		v, e := tb.Outbound6(Packet{IP: b}, uplink6, now)
		if v != Translated {
			if !bytes.Equal(b, before) {
				t.Fatalf("refused (%v) but changed", v)
			}
			return
		}
		if !ok || len(b) != len(before) || pkt.IPv6(b).Src() != uplink6 || pkt.IPv6(b).Dst() != pkt.IPv6(before).Dst() {
			t.Fatalf("translated to % x from % x", b, before)
		}
		if proto != protoTCP && proto != protoUDP && proto != protoIC6 {
			return // no checksum NAT66 knows of: tracked by address alone
		}
		_, l4out, _ := upper6(b)
		if sums6(before, proto, l4) && !sums6(b, proto, l4out) {
			t.Fatalf("checksum broken: % x from % x", b, before)
		}
		// The reply: ends swapped (the pseudo-header sum stays), an
		// echo request turned into its reply.
		r := append([]byte(nil), b...)
		copy(r[8:24], b[24:40])
		copy(r[24:40], b[8:24])
		_, rl4, _ := upper6(r)
		if proto == protoIC6 {
			pkt.ICMPv6(rl4).SetType(pkt.ICMPv6EchoReply, 0)
		} else {
			copy(rl4[0:2], l4out[2:4])
			copy(rl4[2:4], l4out[0:2])
		}
		if v, got := tb.Inbound6(Packet{IP: r}, now); v != Translated || got != e {
			t.Fatalf("reply: %v", v)
		}
		if pkt.IPv6(r).Dst() != pkt.IPv6(before).Src() {
			t.Fatalf("reply to %v", pkt.IPv6(r).Dst())
		}
		if proto != protoIC6 && !bytes.Equal(rl4[2:4], l4[0:2]) {
			t.Fatalf("reply to port % x, guest sent from % x", rl4[2:4], l4[0:2])
		}
		if proto == protoIC6 && !bytes.Equal(rl4[4:6], l4[4:6]) {
			t.Fatalf("reply with id % x, guest sent % x", rl4[4:6], l4[4:6])
		}
	})
}
