package nat

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vswitch/vswitch/internal/pkt"
)

var (
	guest6   = netip.MustParseAddr("fd00:122::10")
	guest6b  = netip.MustParseAddr("fd00:122::11")
	uplink6  = netip.MustParseAddr("2001:db8:1::2")
	remote6  = netip.MustParseAddr("2001:db8:2::99")
	protoIC6 = uint8(pkt.ProtoICMPv6)
)

// build6 serializes an IPv6 packet with gopacket (the reference encoder):
// TCP, UDP or an ICMPv6 echo (flags "reply" for a reply) with sport as
// its identifier.
func build6(t testing.TB, proto uint8, src, dst netip.Addr, sport, dport uint16, flags string) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocol(proto), SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
	ls := transport(proto, sport, dport, flags, ip)
	if proto == protoIC6 {
		typ := uint8(layers.ICMPv6TypeEchoRequest)
		if flags == "reply" {
			typ = layers.ICMPv6TypeEchoReply
		}
		c := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
		c.SetNetworkLayerForChecksum(ip)
		ls = []gopacket.SerializableLayer{c, &layers.ICMPv6Echo{Identifier: sport, SeqNumber: 1}}
	}
	return serialize(t, ip, ls)
}

// valid6 recomputes the upper layer's checksum from scratch (no
// extension headers in these packets).
func valid6(t testing.TB, b []byte) {
	t.Helper()
	ip := pkt.IPv6(b)
	if !ip.Valid() {
		t.Fatalf("bad IPv6 header % x", b)
	}
	l := b[pkt.IPv6Len:ip.Len()]
	if pkt.Checksum(l, ip.PseudoHeaderChecksum(ip.NextHeader(), uint16(len(l)))) != 0xffff {
		t.Fatalf("bad checksum in % x", b)
	}
}

// l4ports are the first two 16-bit words of the upper layer: the ports,
// or an echo's type/code and checksum (the identifier is the third).
func ident6(b []byte) uint16 { return binary.BigEndian.Uint16(b[pkt.IPv6Len+4:]) }
func sport6(b []byte) uint16 { return binary.BigEndian.Uint16(b[pkt.IPv6Len:]) }
func dport6(b []byte) uint16 { return binary.BigEndian.Uint16(b[pkt.IPv6Len+2:]) }

// TestNAT66BothWays: a guest's TCP, UDP and echo leave from the uplink's
// IPv6 address (on the guest's port unless another guest holds it), the
// replies come back to the guest; every checksum verifies from scratch.
func TestNAT66BothWays(t *testing.T) {
	for _, tc := range []struct {
		name  string
		proto uint8
		remap bool
	}{
		{"tcp", protoTCP, false}, {"udp", protoUDP, false}, {"echo", protoIC6, false},
		{"tcp remapped", protoTCP, true}, {"udp remapped", protoUDP, true}, {"echo remapped", protoIC6, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := New(Config{})
			if tc.remap {
				if v, _ := tb.Outbound6(Packet{IP: build6(t, tc.proto, guest6b, remote6, 40000, 80, "syn")}, uplink6, now); v != Translated {
					t.Fatalf("the other guest: %v", v)
				}
			}
			o := build6(t, tc.proto, guest6, remote6, 40000, 80, "syn")
			v, e := tb.Outbound6(Packet{IP: o}, uplink6, now)
			if v != Translated {
				t.Fatalf("outbound: %v", v)
			}
			valid6(t, o)
			want := uint16(40000)
			if tc.remap {
				want = tb.cfg.PortMin
			}
			got := sport6(o)
			if tc.proto == protoIC6 {
				got = ident6(o)
			}
			if ip := pkt.IPv6(o); ip.Src() != uplink6 || ip.Dst() != remote6 || got != want {
				t.Fatalf("out as %v:%d -> %v, want %v:%d", ip.Src(), got, ip.Dst(), uplink6, want)
			}
			r := build6(t, tc.proto, remote6, uplink6, 80, want, "synack")
			if tc.proto == protoIC6 {
				r = build6(t, tc.proto, remote6, uplink6, want, want, "reply")
			}
			if v, got := tb.Inbound6(Packet{IP: r}, now); v != Translated || got != e {
				t.Fatalf("reply: %v", v)
			}
			valid6(t, r)
			back := dport6(r)
			if tc.proto == protoIC6 {
				back = ident6(r)
			}
			if ip := pkt.IPv6(r); ip.Dst() != guest6 || ip.Src() != remote6 || back != 40000 {
				t.Fatalf("reply to %v:%d", ip.Dst(), back)
			}
			if po, pi, bo, bi := e.Counters(); po != 1 || pi != 1 || bo != uint64(len(o)) || bi != uint64(len(r)) {
				t.Fatalf("counters %d %d %d %d", po, pi, bo, bi)
			}
		})
	}
}

// TestNAT66Refused: what has no flow, is a fragment, or is cut short is
// not translated, each with its verdict, and left as it was.
func TestNAT66Refused(t *testing.T) {
	tb := New(Config{})
	frag := build6(t, protoUDP, guest6, remote6, 5000, 53, "")
	// A fragment header (offset 0, more fragments) before the UDP header.
	fh := []byte{protoUDP, 0, 0, 1, 0, 0, 0, 9}
	frag = append(append(append([]byte(nil), frag[:pkt.IPv6Len]...), fh...), frag[pkt.IPv6Len:]...)
	frag[6] = pkt.ProtoFragment
	binary.BigEndian.PutUint16(frag[4:], uint16(len(frag)-pkt.IPv6Len))
	zeroSum := build6(t, protoUDP, guest6, remote6, 5000, 53, "")
	zeroSum[pkt.IPv6Len+6], zeroSum[pkt.IPv6Len+7] = 0, 0
	short := build6(t, protoTCP, guest6, remote6, 5000, 80, "syn")[:pkt.IPv6Len+10]
	binary.BigEndian.PutUint16(short[4:], 10)
	for _, tc := range []struct {
		name string
		b    []byte
		in   bool
		want Verdict
	}{
		{"unsolicited tcp", build6(t, protoTCP, remote6, uplink6, 80, 40000, "syn"), true, NotTracked},
		{"unsolicited echo reply", build6(t, protoIC6, remote6, uplink6, 7, 7, "reply"), true, NotTracked},
		{"echo request in", build6(t, protoIC6, remote6, uplink6, 7, 7, ""), true, NotTracked},
		{"echo reply out", build6(t, protoIC6, guest6, remote6, 7, 7, "reply"), false, NotTracked},
		{"fragment out", frag, false, Fragment},
		{"short tcp", short, false, Malformed},
		{"udp without checksum", zeroSum, false, Malformed},
		{"ipv4 bytes", build(t, protoTCP, guest, remote, 1, 2, "syn"), false, Malformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := string(tc.b)
			var v Verdict
			if tc.in {
				v, _ = tb.Inbound6(Packet{IP: tc.b}, now)
			} else {
				v, _ = tb.Outbound6(Packet{IP: tc.b}, uplink6, now)
			}
			if v != tc.want || string(tc.b) != before {
				t.Fatalf("verdict %v (want %v), changed %v", v, tc.want, string(tc.b) != before)
			}
		})
	}
	if tb.Len() != 0 {
		t.Fatalf("%d flows", tb.Len())
	}
}

// error6 is an ICMPv6 error of type typ from router about sent (its
// first n bytes quoted), with a correct checksum.
func error6(router, to netip.Addr, typ uint8, word uint32, sent []byte, n int) []byte {
	b := make([]byte, pkt.IPv6Len+pkt.ICMPv6Len+n)
	ip := pkt.IPv6(b)
	ip.Encode(&pkt.IPv6Fields{PayloadLen: uint16(pkt.ICMPv6Len + n), NextHeader: protoIC6, HopLimit: 64, Src: router, Dst: to})
	c := pkt.ICMPv6(b[pkt.IPv6Len:])
	c.EncodeHeader(typ, 0, word)
	copy(c[pkt.ICMPv6Len:], sent[:n])
	c.SetChecksum(ip.PseudoHeaderChecksum(protoIC6, uint16(len(c))))
	return b
}

// TestNAT66ICMPErrors: a Packet Too Big, unreachable or time exceeded
// about a guest's flow reaches the guest quoting what the guest sent
// (its address and, remapped or not, its port or echo identifier), the
// MTU word untouched, the checksum right.
func TestNAT66ICMPErrors(t *testing.T) {
	router := netip.MustParseAddr("2001:db8:1::1")
	for _, tc := range []struct {
		name  string
		proto uint8
		remap bool
		typ   uint8
		n     int
	}{
		{"udp ptb", protoUDP, false, pkt.ICMPv6PacketTooBig, 48},
		{"udp ptb remapped", protoUDP, true, pkt.ICMPv6PacketTooBig, 48},
		{"tcp unreachable remapped", protoTCP, true, pkt.ICMPv6DstUnreach, 60},
		{"echo time exceeded remapped", protoIC6, true, pkt.ICMPv6TimeExceeded, 48},
		{"tcp param problem", protoTCP, false, pkt.ICMPv6ParamProblem, 48},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := New(Config{})
			if tc.remap {
				tb.Outbound6(Packet{IP: build6(t, tc.proto, guest6b, remote6, 40000, 80, "syn")}, uplink6, now)
			}
			orig := build6(t, tc.proto, guest6, remote6, 40000, 80, "syn")
			sent := append([]byte(nil), orig...)
			if v, _ := tb.Outbound6(Packet{IP: sent}, uplink6, now); v != Translated {
				t.Fatalf("sent: %v", v)
			}
			er := error6(router, uplink6, tc.typ, 1280, sent, tc.n)
			if v, _ := tb.Inbound6(Packet{IP: er}, now); v != Translated {
				t.Fatalf("error: %v", v)
			}
			valid6(t, er)
			want := error6(router, guest6, tc.typ, 1280, orig, tc.n)
			if string(er) != string(want) {
				t.Fatalf("translated error\n% x\nwant\n% x", er, want)
			}
		})
	}
	// Refused: no flow, an error from the outside about another's
	// address, a quote cut short.
	tb := New(Config{})
	sent := build6(t, protoUDP, guest6, remote6, 5000, 53, "")
	tb.Outbound6(Packet{IP: sent}, uplink6, now)
	other := build6(t, protoUDP, uplink6, remote6, 5001, 53, "")
	for _, tc := range []struct {
		name string
		b    []byte
		want Verdict
	}{
		{"no flow", error6(router, uplink6, pkt.ICMPv6DstUnreach, 0, other, 48), NotTracked},
		{"wrong outer destination", error6(router, remote6, pkt.ICMPv6DstUnreach, 0, sent, 48), NotTracked},
		{"quote too short", error6(router, uplink6, pkt.ICMPv6DstUnreach, 0, sent, 47), Malformed},
	} {
		if v, _ := tb.Inbound6(Packet{IP: tc.b}, now); v != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, v, tc.want)
		}
	}
}

// TestNAT66Forward: a port forward to an IPv6 guest takes connections to
// the outside IPv6 address on its port; the same port on the IPv4
// address goes to the IPv4 forward, and each family's replies leave from
// its own outside address.
func TestNAT66Forward(t *testing.T) {
	tb := New(Config{})
	tb.SetForwards([]Forward{
		{Proto: protoTCP, Port: 8080, To: netip.AddrPortFrom(guest6, 80)},
		{Proto: protoTCP, Port: 8080, To: netip.AddrPortFrom(guest, 81)},
	})
	syn := build6(t, protoTCP, remote6, uplink6, 50000, 8080, "syn")
	v, e := tb.Inbound6(Packet{IP: syn}, now)
	if v != Translated || pkt.IPv6(syn).Dst() != guest6 || dport6(syn) != 80 {
		t.Fatalf("forwarded syn: %v to %v:%d", v, pkt.IPv6(syn).Dst(), dport6(syn))
	}
	valid6(t, syn)
	ack := build6(t, protoTCP, guest6, remote6, 80, 50000, "synack")
	if v, got := tb.Outbound6(Packet{IP: ack}, uplink6, now); v != Translated || got != e ||
		pkt.IPv6(ack).Src() != uplink6 || sport6(ack) != 8080 {
		t.Fatalf("the guest's answer: %v from %v:%d", v, pkt.IPv6(ack).Src(), sport6(ack))
	}
	valid6(t, ack)
	syn4 := build(t, protoTCP, remote, uplink, 50000, 8080, "syn")
	if v, _ := tb.Inbound(Packet{IP: syn4}, now); v != Translated || pkt.IPv4(syn4).Dst() != guest {
		t.Fatalf("IPv4 forward: %v to %v", v, pkt.IPv4(syn4).Dst())
	}
	if v, _ := tb.Inbound6(Packet{IP: build6(t, protoTCP, remote6, uplink6, 50000, 8081, "syn")}, now); v != NotTracked {
		t.Fatalf("unforwarded port: %v", v)
	}
	// One flow of each family; the IPv6 one counted apart (the family
	// label of vswitch_conntrack_entries), until it ends.
	if tb.Len() != 2 || tb.Len6() != 1 {
		t.Fatalf("%d flows, %d IPv6", tb.Len(), tb.Len6())
	}
	if tb.Sweep(now + TimeoutTCPEstablished + 1); tb.Len() != 0 || tb.Len6() != 0 {
		t.Fatalf("after the sweep %d flows, %d IPv6", tb.Len(), tb.Len6())
	}
}

// BenchmarkTranslate6Established: one outbound plus one inbound packet of
// an established IPv6 flow.
func BenchmarkTranslate6Established(b *testing.B) {
	for _, proto := range []uint8{protoTCP, protoUDP} {
		name := map[uint8]string{protoTCP: "tcp", protoUDP: "udp"}[proto]
		b.Run(name, func(b *testing.B) {
			tb := New(Config{})
			o := build6(b, proto, guest6, remote6, 40000, 80, "ack")
			r := build6(b, proto, remote6, uplink6, 80, 40000, "ack")
			tb.Outbound6(Packet{IP: append([]byte(nil), o...)}, uplink6, now)
			p1, p2 := make([]byte, len(o)), make([]byte, len(r))
			var v1, v2 Verdict
			b.ReportAllocs()
			for b.Loop() {
				copy(p1, o)
				v1, _ = tb.Outbound6(Packet{IP: p1}, uplink6, now)
				copy(p2, r)
				v2, _ = tb.Inbound6(Packet{IP: p2}, now)
			}
			if v1 != Translated || v2 != Translated {
				b.Fatalf("verdicts %v %v", v1, v2)
			}
		})
	}
}

// TestOtherFamilysICMP: ICMPv6 inside IPv4, or ICMP inside IPv6, is a
// protocol without ports: a second guest's flow to the same remote is
// refused (the rewrite could not write a remapped identifier, so the
// replies would reach the first guest), as for any portless protocol.
func TestOtherFamilysICMP(t *testing.T) {
	for _, tc := range []struct {
		name          string
		g1, g2, r, up netip.Addr
		proto         uint8
	}{
		{"icmpv6 in ipv4", guest, guest2, remote, uplink, pkt.ProtoICMPv6},
		{"icmp in ipv6", guest6, guest6b, remote6, uplink6, pkt.ProtoICMP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := New(Config{})
			out := func(src netip.Addr) Verdict {
				if tc.up.Is6() {
					b := make([]byte, pkt.IPv6Len+16)
					pkt.IPv6(b).Encode(&pkt.IPv6Fields{PayloadLen: 16, NextHeader: tc.proto, HopLimit: 64, Src: src, Dst: tc.r})
					b[pkt.IPv6Len] = 8 // an echo request, were it ICMP
					v, _ := tb.Outbound6(Packet{IP: b}, tc.up, now)
					return v
				}
				v, _ := tb.Outbound(Packet{IP: rawPacket(tc.proto, src, tc.r, 7, 7, false)}, tc.up, now)
				return v
			}
			if v := out(tc.g1); v != Translated {
				t.Fatalf("first guest: %v", v)
			}
			if v := out(tc.g2); v != TableFull {
				t.Fatalf("second guest: %v, want %v", v, TableFull)
			}
		})
	}
}
