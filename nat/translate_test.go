package nat

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// truncated is b with its last L4 byte cut off (total length too).
func truncated(b []byte) []byte {
	c := append([]byte(nil), b[:len(b)-1]...)
	binary.BigEndian.PutUint16(c[2:], uint16(len(c)))
	normalize(c, false)
	return c
}

// TestMinimalHeaders: a header of exactly its minimum length (no
// payload) is translated both ways; one byte less is malformed.
func TestMinimalHeaders(t *testing.T) {
	for _, tc := range []struct {
		name  string
		proto uint8
		id    uint16
	}{
		{"tcp", protoTCP, 0},
		{"udp", protoUDP, 0},
		{"icmp", protoICMP, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := New(Config{})
			sp, dp := uint16(40000), uint16(80)
			if tc.proto == protoICMP {
				sp, dp = tc.id, tc.id
			}
			out := rawPacket(tc.proto, guest, remote, sp, dp, false)
			if v, _ := tb.Outbound(Packet{IP: truncated(out)}, uplink, now); v != Malformed {
				t.Fatalf("short outbound: %v", v)
			}
			if v, _ := tb.Outbound(Packet{IP: out}, uplink, now); v != Translated || pkt.IPv4(out).Src() != uplink {
				t.Fatalf("outbound: %v", v)
			}
			checkSums(t, out, false, false)
			in := rawPacket(tc.proto, remote, uplink, dp, sp, false)
			if tc.proto == protoICMP {
				in[20] = pkt.ICMPEchoReply
				normalize(in, false)
			}
			if v, _ := tb.Inbound(Packet{IP: truncated(in)}, now); v != Malformed {
				t.Fatalf("short inbound: %v", v)
			}
			if v, _ := tb.Inbound(Packet{IP: in}, now); v != Translated || pkt.IPv4(in).Dst() != guest {
				t.Fatalf("inbound: %v", v)
			}
			checkSums(t, in, false, false)
		})
	}
	// Protocols without ports need no L4 header at all.
	tb := New(Config{})
	if v, _ := tb.Outbound(Packet{IP: rawPacket(47, guest, remote, 0, 0, false)}, uplink, now); v != Translated {
		t.Fatalf("empty GRE: %v", v)
	}
}

// TestUDPChecksumWithAZeroByte: a UDP checksum is "none" only when both
// bytes are zero; one zero byte is a checksum like any other and must be
// updated.
func TestUDPChecksumWithAZeroByte(t *testing.T) {
	for _, zeroHigh := range []bool{true, false} {
		var b []byte
		for x := 0; b == nil; x++ {
			c := udpSumming(uint16(x))
			if f := binary.BigEndian.Uint16(c[26:]); f != 0 && ((zeroHigh && f>>8 == 0) || (!zeroHigh && f&0xff == 0)) {
				b = c
			}
		}
		tb := New(Config{})
		tb.Outbound(Packet{IP: rawPacket(protoUDP, guest2, remote, 5000, 53, false)}, uplink, now)
		if v, _ := tb.Outbound(Packet{IP: b}, uplink, now); v != Translated {
			t.Fatalf("verdict %v", v)
		}
		checkSums(t, b, false, false)
		// And its reply, with the same words, on the way in.
		r := append([]byte(nil), b...)
		copy(r[12:16], b[16:20])
		copy(r[16:20], b[12:16])
		copy(r[20:22], b[22:24])
		copy(r[22:24], b[20:22])
		if v, _ := tb.Inbound(Packet{IP: r}, now); v != Translated || pkt.IPv4(r).Dst() != guest {
			t.Fatalf("reply %v", v)
		}
		if f := binary.BigEndian.Uint16(r[26:]); f>>8 != 0 && f&0xff != 0 {
			t.Fatalf("checksum %#04x: the reply should have a zero byte too", f)
		}
		checkSums(t, r, false, false)
	}
}

// TestICMPErrors: an ICMP error about a flow reaches the guest with the
// quote rewritten back to what the guest sent (address and remapped
// port or echo id), every checksum right; errors that name no flow, or
// quote too little, do not.
func TestICMPErrors(t *testing.T) {
	type flow struct {
		proto  uint8
		sp, dp uint16
	}
	for _, tc := range []struct {
		name  string
		f     flow
		remap bool
		typ   byte
		n     int // bytes of the sent packet quoted
	}{
		{"udp unreachable", flow{protoUDP, 5000, 33434}, false, pkt.ICMPUnreachable, 28},
		{"udp remapped", flow{protoUDP, 5000, 33434}, true, pkt.ICMPUnreachable, 28},
		{"tcp time exceeded", flow{protoTCP, 40000, 80}, false, pkt.ICMPTimeExceeded, 28},
		{"tcp remapped whole quote", flow{protoTCP, 40000, 80}, true, pkt.ICMPTimeExceeded, 40},
		{"echo remapped", flow{protoICMP, 7, 7}, true, 12, 28},
		{"echo", flow{protoICMP, 7, 7}, false, pkt.ICMPUnreachable, 28},
		{"gre", flow{47, 0, 0}, false, pkt.ICMPUnreachable, 28},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := New(Config{})
			if tc.remap {
				tb.Outbound(Packet{IP: rawPacket(tc.f.proto, guest2, remote, tc.f.sp, tc.f.dp, false)}, uplink, now)
			}
			sent := rawPacket(tc.f.proto, guest, remote, tc.f.sp, tc.f.dp, false)
			sent = append(sent, make([]byte, 12)...) // room for a long quote
			binary.BigEndian.PutUint16(sent[2:], uint16(len(sent)))
			normalize(sent, false)
			v, e := tb.Outbound(Packet{IP: sent}, uplink, now)
			if v != Translated {
				t.Fatalf("sent: %v", v)
			}
			if tc.remap == (e.Outside.Src.Port() == tc.f.sp) && tc.f.proto != 47 {
				t.Fatalf("outside %v, remap %v", e.Outside.Src, tc.remap)
			}
			er := icmpError(tc.typ, sent, tc.n)
			before := append([]byte(nil), er...)
			po, pi, bo, bi := e.Counters()
			if v, got := tb.Inbound(Packet{IP: er}, now); v != Translated || got != e {
				t.Fatalf("error: %v", v)
			}
			if po2, pi2, bo2, bi2 := e.Counters(); po2 != po || pi2 != pi+1 || bo2 != bo || bi2 != bi+uint64(len(er)) {
				t.Fatalf("counters %d %d %d %d", po2, pi2, bo2, bi2)
			}
			// Outer destination, quoted source address and port or id.
			may := []int{10, 11, 16, 17, 18, 19, 22, 23, 28 + 10, 28 + 11, 28 + 12, 28 + 13, 28 + 14, 28 + 15}
			switch tc.f.proto {
			case protoTCP, protoUDP:
				may = append(may, 48, 49)
			case protoICMP:
				may = append(may, 52, 53)
			}
			diffOnly(t, before, er, may...)
			checkSums(t, er, false, false)
			q := parseRefQuote(er[28:], 20)
			if pkt.IPv4(er).Dst() != guest || q != (Tuple{tc.f.proto, netip.AddrPortFrom(guest, tc.f.sp), netip.AddrPortFrom(remote, tc.f.dp)}) {
				t.Fatalf("error to %v quoting %v", pkt.IPv4(er).Dst(), q)
			}
		})
	}
}

func TestICMPErrorsRefused(t *testing.T) {
	tb := New(Config{})
	sent := rawPacket(protoUDP, guest, remote, 5000, 33434, false)
	tb.Outbound(Packet{IP: sent}, uplink, now)
	// quoteByte0 sets the quoted header's version and length.
	quoteByte0 := func(b []byte, v byte) []byte {
		b[28] = v
		normalize(b, false)
		return b
	}
	unknown := append([]byte(nil), sent...)
	binary.BigEndian.PutUint16(unknown[20:], 5001)
	for _, tc := range []struct {
		name string
		b    []byte
		want Verdict
	}{
		{"quote shorter than a header", icmpError(pkt.ICMPUnreachable, sent, 19), Malformed},
		{"quote of a header only", icmpError(pkt.ICMPUnreachable, sent, 20), Malformed},
		{"quote one short of 8 bytes", icmpError(pkt.ICMPUnreachable, sent, 27), Malformed},
		{"quote of IPv6", quoteByte0(icmpError(pkt.ICMPUnreachable, sent, 28), 0x65), Malformed},
		{"quoted header length 16", quoteByte0(icmpError(pkt.ICMPUnreachable, sent, 28), 0x44), Malformed},
		// A 24-byte header leaves only 4 bytes of the 8 after it.
		{"quoted header length 24", quoteByte0(icmpError(pkt.ICMPUnreachable, sent, 28), 0x46), Malformed},
		{"no such flow", icmpError(pkt.ICMPUnreachable, unknown, 28), NotTracked},
		{"redirect", icmpError(5, sent, 28), NotTracked},
		{"source quench", icmpError(4, sent, 28), NotTracked},
		{"echo request", icmpError(pkt.ICMPEchoRequest, sent, 28), NotTracked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := string(tc.b)
			if v, e := tb.Inbound(Packet{IP: tc.b}, now); v != tc.want || e != nil || string(tc.b) != orig {
				t.Fatalf("%v, want %v (changed: %v)", v, tc.want, string(tc.b) != orig)
			}
		})
	}
	// A guest's own ICMP errors and echo replies start no flow.
	for _, typ := range []byte{pkt.ICMPUnreachable, pkt.ICMPEchoReply} {
		b := rawPacket(protoICMP, guest, remote, 1, 1, false)
		b[20] = typ
		normalize(b, false)
		if v, _ := tb.Outbound(Packet{IP: b}, uplink, now); v != NotTracked || pkt.IPv4(b).Src() != guest {
			t.Fatalf("outbound ICMP type %d: %v", typ, v)
		}
	}
}

// TestFragmentRecords: a datagram's later fragments follow its first
// for fragTimeout seconds, both ways, counted on the flow; whole packets
// leave no record.
func TestFragmentRecords(t *testing.T) {
	tb := New(Config{})
	tb.frags.seed = 0 // datagrams 42 and 7 in slots of their own
	if _, e := tb.Outbound(Packet{IP: build(t, protoUDP, guest, remote, 5000, 9, "")}, uplink, now); e == nil || tb.frags.size() != 0 {
		t.Fatalf("a whole packet left %d fragment records", tb.frags.size())
	}
	whole := build(t, protoUDP, guest, remote, 5000, 9, "")
	body := pkt.IPv4(whole).Payload()
	f1 := frag(guest, remote, 42, 0, true, body[:16])
	_, e := tb.Outbound(Packet{IP: f1}, uplink, now)
	if tb.frags.size() != 1 {
		t.Fatalf("%d fragment records", tb.frags.size())
	}
	po, pi, bo, bi := e.Counters()
	for i, off := range []uint16{2, 2} { // a duplicate is followed too
		f2 := frag(guest, remote, 42, off, false, body[16:])
		before := append([]byte(nil), f2...)
		v, got := tb.Outbound(Packet{IP: f2}, uplink, now+fragTimeout-1)
		if v != Translated || got != e {
			t.Fatalf("fragment %d: %v", i, v)
		}
		diffOnly(t, before, f2, 10, 11, 12, 13, 14, 15)
		if pkt.IPv4(f2).Src() != uplink || !pkt.IPv4(f2).HeaderChecksumOK() {
			t.Fatalf("fragment %d from %v", i, pkt.IPv4(f2).Src())
		}
	}
	n := uint64(20 + len(body[16:]))
	if po2, pi2, bo2, bi2 := e.Counters(); po2 != po+2 || pi2 != pi || bo2 != bo+2*n || bi2 != bi {
		t.Fatalf("counters %d %d %d %d", po2, pi2, bo2, bi2)
	}
	// Inbound: the reply's fragments, counted in.
	r := build(t, protoUDP, remote, uplink, 9, 5000, "")
	rb := pkt.IPv4(r).Payload()
	g1 := frag(remote, uplink, 7, 0, true, rb[:16])
	if v, got := tb.Inbound(Packet{IP: g1}, now); v != Translated || got != e || tb.frags.size() != 2 {
		t.Fatalf("first reply fragment: %v, %d records", v, tb.frags.size())
	}
	g2 := frag(remote, uplink, 7, 2, false, rb[16:])
	before := append([]byte(nil), g2...)
	if v, _ := tb.Inbound(Packet{IP: g2}, now); v != Translated || pkt.IPv4(g2).Dst() != guest || !pkt.IPv4(g2).HeaderChecksumOK() {
		t.Fatalf("second reply fragment: %v", v)
	}
	diffOnly(t, before, g2, 10, 11, 16, 17, 18, 19)
	if _, pi2, _, bi2 := e.Counters(); pi2 != pi+2 || bi2 != bi+uint64(len(g1)+len(g2)) {
		t.Fatalf("in counters %d %d", pi2, bi2)
	}
	// A fragment of another datagram (other id) is not followed.
	other := frag(guest, remote, 43, 2, false, body[16:])
	if v, _ := tb.Outbound(Packet{IP: other}, uplink, now); v != Fragment || pkt.IPv4(other).Src() != guest {
		t.Fatalf("other datagram: %v", v)
	}
	// Records live fragTimeout seconds from the first fragment.
	tb.Sweep(now + fragTimeout - 1)
	if tb.frags.size() != 2 {
		t.Fatalf("%d records a second before the timeout", tb.frags.size())
	}
	tb.Sweep(now + fragTimeout)
	if tb.frags.size() != 0 {
		t.Fatalf("%d records at the timeout", tb.frags.size())
	}
	late := frag(guest, remote, 42, 2, false, body[16:])
	if v, _ := tb.Outbound(Packet{IP: late}, uplink, now+fragTimeout); v != Fragment {
		t.Fatalf("after the timeout: %v", v)
	}
	if tb.Len() != 1 {
		t.Fatalf("the flow went with its fragments: %d", tb.Len())
	}
}
