package nat

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vswitch/vswitch/internal/pkt"
)

var (
	guest   = netip.MustParseAddr("192.168.122.10")
	guest2  = netip.MustParseAddr("192.168.122.11")
	uplink  = netip.MustParseAddr("10.0.0.5")
	remote  = netip.MustParseAddr("10.0.0.99")
	now     = int64(1_700_000_000)
	payload = []byte("hello through the nat")
)

// build serializes an IPv4 packet with gopacket (the reference encoder):
// TCP, UDP or an ICMP echo (flags "reply" for a reply) with sport as its
// identifier.
func build(t testing.TB, proto uint8, src, dst netip.Addr, sport, dport uint16, flags string) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 7, Protocol: layers.IPProtocol(proto), SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
	l := transport(proto, sport, dport, flags, ip)
	if proto == protoICMP {
		ip.Protocol = layers.IPProtocolICMPv4
		typ := uint8(layers.ICMPv4TypeEchoRequest)
		if flags == "reply" {
			typ = layers.ICMPv4TypeEchoReply
		}
		l = []gopacket.SerializableLayer{&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: sport, Seq: 1}}
	}
	return serialize(t, ip, l)
}

// transport is the TCP or UDP layer of a reference packet (build,
// build6) from sport to dport, its checksum over the pseudo-header of
// ip; TCP's flags are "syn", "synack", "ack", "fin" or "rst". Another
// protocol has none.
func transport(proto uint8, sport, dport uint16, flags string, ip gopacket.NetworkLayer) []gopacket.SerializableLayer {
	switch proto {
	case protoTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1, Window: 100,
			SYN: flags == "syn" || flags == "synack", ACK: flags == "ack" || flags == "synack", FIN: flags == "fin", RST: flags == "rst"}
		tcp.SetNetworkLayerForChecksum(ip)
		return []gopacket.SerializableLayer{tcp}
	case protoUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
		udp.SetNetworkLayerForChecksum(ip)
		return []gopacket.SerializableLayer{udp}
	}
	return nil
}

// serialize is ip, then the layers ls and payload, with lengths and
// checksums filled in.
func serialize(t testing.TB, ip gopacket.SerializableLayer, ls []gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	ls = append([]gopacket.SerializableLayer{ip}, append(ls, gopacket.Payload(payload))...)
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// valid recomputes every checksum of a packet from scratch.
func valid(t *testing.T, b []byte) {
	t.Helper()
	ip := pkt.IPv4(b)
	if !ip.Valid() || !ip.HeaderChecksumOK() {
		t.Fatalf("bad IPv4 header % x", b[:20])
	}
	l := ip.Payload()
	s, d := ip.Src().As4(), ip.Dst().As4()
	switch ip.Protocol() {
	case protoTCP, protoUDP:
		if ip.Protocol() == protoUDP && l[6] == 0 && l[7] == 0 {
			return
		}
		if pkt.Checksum(l, pkt.PseudoHeaderChecksum(ip.Protocol(), s[:], d[:], uint16(len(l)))) != 0xffff {
			t.Fatalf("bad L4 checksum in % x", b)
		}
	case protoICMP:
		if pkt.Checksum(l, 0) != 0xffff {
			t.Fatalf("bad ICMP checksum in % x", b)
		}
	}
}

func ports(b []byte) (uint16, uint16) {
	l := pkt.IPv4(b).Payload()
	return binary.BigEndian.Uint16(l), binary.BigEndian.Uint16(l[2:])
}

func TestTCPFlowBothWays(t *testing.T) {
	tb := New(Config{})
	out := build(t, protoTCP, guest, remote, 40000, 80, "syn")
	v, e := tb.Outbound(Packet{IP: out}, uplink, now)
	if v != Translated || pkt.IPv4(out).Src() != uplink {
		t.Fatalf("%v src %v", v, pkt.IPv4(out).Src())
	}
	valid(t, out)
	if sp, _ := ports(out); sp != 40000 {
		t.Fatalf("source port not preserved: %d", sp)
	}
	in := build(t, protoTCP, remote, uplink, 80, 40000, "synack")
	v, _ = tb.Inbound(Packet{IP: in}, now)
	if v != Translated || pkt.IPv4(in).Dst() != guest {
		t.Fatalf("reply %v to %v", v, pkt.IPv4(in).Dst())
	}
	valid(t, in)
	if e.State() != "syn_recv" {
		t.Fatalf("state %s after the SYN-ACK", e.State())
	}
	if v, _ := tb.Outbound(Packet{IP: build(t, protoTCP, guest, remote, 40000, 80, "ack")}, uplink, now); v != Translated || e.State() != "established" {
		t.Fatalf("the handshake's ACK: %v, state %s", v, e.State())
	}
	po, pi, _, _ := e.Counters()
	if po != 2 || pi != 1 {
		t.Fatal("counters")
	}
	// Unsolicited: another remote port, no flow.
	stray := build(t, protoTCP, remote, uplink, 81, 40000, "syn")
	if v, _ := tb.Inbound(Packet{IP: stray}, now); v != NotTracked {
		t.Fatalf("unsolicited packet: %v", v)
	}
}

func TestPortCollisionRemaps(t *testing.T) {
	tb := New(Config{})
	a := build(t, protoUDP, guest, remote, 5000, 53, "")
	b := build(t, protoUDP, guest2, remote, 5000, 53, "")
	tb.Outbound(Packet{IP: a}, uplink, now)
	tb.Outbound(Packet{IP: b}, uplink, now)
	pa, _ := ports(a)
	pb, _ := ports(b)
	if pa == pb || pa != 5000 {
		t.Fatalf("outside ports %d and %d", pa, pb)
	}
	valid(t, a)
	valid(t, b)
	// The reply to the remapped one reaches guest2 on its own port.
	r := build(t, protoUDP, remote, uplink, 53, pb, "")
	if v, _ := tb.Inbound(Packet{IP: r}, now); v != Translated || pkt.IPv4(r).Dst() != guest2 {
		t.Fatal("reply to a remapped flow")
	}
	if _, dp := ports(r); dp != 5000 {
		t.Fatalf("port back %d", dp)
	}
	valid(t, r)
}

func TestICMPEchoByID(t *testing.T) {
	tb := New(Config{})
	req := build(t, protoICMP, guest, remote, 0x1234, 0, "")
	tb.Outbound(Packet{IP: req}, uplink, now)
	valid(t, req)
	rep := build(t, protoICMP, remote, uplink, 0x1234, 0, "reply")
	if v, _ := tb.Inbound(Packet{IP: rep}, now); v != Translated || pkt.IPv4(rep).Dst() != guest {
		t.Fatal("echo reply not translated")
	}
	valid(t, rep)
}

func TestICMPErrorTranslated(t *testing.T) {
	tb := New(Config{})
	out := build(t, protoUDP, guest, remote, 5000, 33434, "")
	tb.Outbound(Packet{IP: out}, uplink, now)
	// A router says "port unreachable", quoting our translated packet.
	quote := out[:28]
	icmp := make([]byte, 8+len(quote))
	icmp[0], icmp[1] = pkt.ICMPUnreachable, pkt.ICMPCodePortUnreach
	copy(icmp[8:], quote)
	binary.BigEndian.PutUint16(icmp[2:], ^pkt.Checksum(icmp, 0))
	errPkt := make([]byte, 20+len(icmp))
	copy(errPkt[20:], icmp)
	pkt.IPv4(errPkt).Encode(&pkt.IPv4Fields{TotalLen: uint16(len(errPkt)), TTL: 64, Protocol: protoICMP, Src: remote, Dst: uplink})
	if v, _ := tb.Inbound(Packet{IP: errPkt}, now); v != Translated {
		t.Fatalf("ICMP error: %v", v)
	}
	valid(t, errPkt)
	inner := pkt.IPv4(errPkt[28:])
	if pkt.IPv4(errPkt).Dst() != guest || inner.Src() != guest || !pkt.IPv4(errPkt[28:48]).HeaderChecksumOK() {
		t.Fatalf("inner %v outer %v", inner.Src(), pkt.IPv4(errPkt).Dst())
	}
}

// pseudoSum is the uncomplemented pseudo-header sum a CHECKSUM_PARTIAL
// packet carries in its L4 checksum field.
func pseudoSum(proto uint8, src, dst netip.Addr, l4len int) uint16 {
	s, d := src.As4(), dst.As4()
	return pkt.PseudoHeaderChecksum(proto, s[:], d[:], uint16(l4len))
}

// sameSum compares one's-complement sums, where 0x0000 and 0xffff are
// both zero.
func sameSum(a, b uint16) bool {
	if a == 0xffff {
		a = 0
	}
	if b == 0xffff {
		b = 0
	}
	return a == b
}

func TestPartialChecksum(t *testing.T) {
	for _, tc := range []struct {
		name  string
		proto uint8
		field int // offset of the L4 checksum in the L4 header
		remap bool
	}{
		{"tcp", protoTCP, 16, false},
		{"udp", protoUDP, 6, false},
		{"tcp remapped", protoTCP, 16, true},
		{"udp remapped", protoUDP, 6, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := New(Config{})
			if tc.remap {
				// Another guest holds outside port 40000 to that remote.
				other := build(t, tc.proto, guest2, remote, 40000, 80, "syn")
				if v, _ := tb.Outbound(Packet{IP: other}, uplink, now); v != Translated {
					t.Fatalf("first flow: %v", v)
				}
			}
			part := build(t, tc.proto, guest, remote, 40000, 80, "syn")
			l := part[20:]
			// CHECKSUM_PARTIAL: the field holds the pseudo-header sum.
			binary.BigEndian.PutUint16(l[tc.field:], pseudoSum(tc.proto, guest, remote, len(l)))
			before := append([]byte(nil), part...)
			v, e := tb.Outbound(Packet{IP: part, Partial: true}, uplink, now)
			if v != Translated || e == nil {
				t.Fatalf("verdict %v", v)
			}
			if got := pkt.IPv4(part).Src(); got != uplink {
				t.Fatalf("source %v, want %v", got, uplink)
			}
			sp, dp := ports(part)
			wantSP := uint16(40000)
			if tc.remap {
				wantSP = tb.cfg.PortMin
			}
			if sp != wantSP || dp != 80 || e.Outside.Src != netip.AddrPortFrom(uplink, wantSP) {
				t.Fatalf("ports %d->%d, outside %v; want source port %d", sp, dp, e.Outside.Src, wantSP)
			}
			// The field is now the pseudo-header sum of the new addresses:
			// the port is not in it, so a remap leaves it alone.
			if got, want := binary.BigEndian.Uint16(l[tc.field:]), pseudoSum(tc.proto, uplink, remote, len(l)); !sameSum(got, want) {
				t.Fatalf("partial sum %#04x, want %#04x", got, want)
			}
			if !pkt.IPv4(part).HeaderChecksumOK() {
				t.Fatal("IP header checksum")
			}
			diffOnly(t, before, part, 10, 11, 12, 13, 14, 15, 20, 21, 20+tc.field, 20+tc.field+1)
			// Finishing it now (as a NIC would) must give a valid packet.
			binary.BigEndian.PutUint16(l[tc.field:], ^pkt.Checksum(l, 0))
			valid(t, part)

			// The reply, also partial, goes back to the guest's port with
			// the pseudo-header sum of the guest's addresses.
			r := build(t, tc.proto, remote, uplink, 80, wantSP, "ack")
			rl := r[20:]
			binary.BigEndian.PutUint16(rl[tc.field:], pseudoSum(tc.proto, remote, uplink, len(rl)))
			if v, _ := tb.Inbound(Packet{IP: r, Partial: true}, now); v != Translated {
				t.Fatalf("reply verdict %v", v)
			}
			if sp, dp := ports(r); pkt.IPv4(r).Dst() != guest || sp != 80 || dp != 40000 {
				t.Fatalf("reply to %v:%d from port %d", pkt.IPv4(r).Dst(), dp, sp)
			}
			if got, want := binary.BigEndian.Uint16(rl[tc.field:]), pseudoSum(tc.proto, remote, guest, len(rl)); !sameSum(got, want) {
				t.Fatalf("reply partial sum %#04x, want %#04x", got, want)
			}
		})
	}
}

// diffOnly fails unless a and b differ at most at the given offsets.
func diffOnly(t *testing.T, a, b []byte, may ...int) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("length %d became %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] && !slices.Contains(may, i) {
			t.Fatalf("byte %d changed: %#02x -> %#02x", i, a[i], b[i])
		}
	}
}

func TestTableBoundAndSweep(t *testing.T) {
	tb := New(Config{MaxEntries: 2})
	for i, want := range []Verdict{Translated, Translated, TableFull} {
		p := build(t, protoUDP, guest, remote, uint16(6000+i), 53, "")
		if v, _ := tb.Outbound(Packet{IP: p}, uplink, now); v != want {
			t.Fatalf("flow %d: %v", i, v)
		}
		// Answered, so early drop cannot make room.
		tb.Inbound(Packet{IP: build(t, protoUDP, remote, uplink, 53, uint16(6000+i), "")}, now)
	}
	// Existing flows still work when full.
	p := build(t, protoUDP, guest, remote, 6000, 53, "")
	if v, _ := tb.Outbound(Packet{IP: p}, uplink, now); v != Translated {
		t.Fatal("an existing flow stopped when the table filled")
	}
	if n := tb.Sweep(now + TimeoutUDPStream); n != 2 || tb.Len() != 0 {
		t.Fatalf("swept %d, left %d", n, tb.Len())
	}
}

func TestMalformedAndFragments(t *testing.T) {
	tb := New(Config{})
	p := build(t, protoTCP, guest, remote, 1, 2, "syn")
	if v, _ := tb.Outbound(Packet{IP: p[:30]}, uplink, now); v != Malformed {
		t.Fatalf("truncated: %v", v)
	}
	// A later fragment whose first fragment was never seen.
	binary.BigEndian.PutUint16(p[6:], 100)
	if v, _ := tb.Outbound(Packet{IP: p}, uplink, now); v != Fragment {
		t.Fatalf("orphan fragment: %v", v)
	}
}

// frag makes an IPv4 fragment: offset in 8-byte units, more fragments.
func frag(src, dst netip.Addr, id uint16, off uint16, mf bool, body []byte) []byte {
	b := make([]byte, 20+len(body))
	copy(b[20:], body)
	fl := off
	if mf {
		fl |= pkt.IPv4FlagMF
	}
	pkt.IPv4(b).Encode(&pkt.IPv4Fields{TotalLen: uint16(len(b)), ID: id, Flags: fl, TTL: 64, Protocol: protoUDP, Src: src, Dst: dst})
	return b
}

func TestFragmentsFollowTheirFirst(t *testing.T) {
	tb := New(Config{})
	// A 24-byte UDP datagram in two fragments: header + 8 bytes, then 8.
	whole := build(t, protoUDP, guest, remote, 5000, 9, "")
	body := pkt.IPv4(whole).Payload()
	f1 := frag(guest, remote, 42, 0, true, body[:16])
	f2 := frag(guest, remote, 42, 2, false, body[16:])
	if v, _ := tb.Outbound(Packet{IP: f1}, uplink, now); v != Translated {
		t.Fatalf("first fragment: %v", v)
	}
	if v, _ := tb.Outbound(Packet{IP: f2}, uplink, now); v != Translated || pkt.IPv4(f2).Src() != uplink || !pkt.IPv4(f2).HeaderChecksumOK() {
		t.Fatalf("second fragment: %v", v)
	}
	// Reassembled, the datagram's UDP checksum is right.
	re := append(append([]byte(nil), pkt.IPv4(f1).Payload()...), pkt.IPv4(f2).Payload()...)
	s, d := uplink.As4(), remote.As4()
	if pkt.Checksum(re, pkt.PseudoHeaderChecksum(protoUDP, s[:], d[:], uint16(len(re)))) != 0xffff {
		t.Fatal("reassembled UDP checksum is wrong")
	}
	// And the reply, fragmented the other way.
	r := build(t, protoUDP, remote, uplink, 9, 5000, "")
	rb := pkt.IPv4(r).Payload()
	g1 := frag(remote, uplink, 7, 0, true, rb[:16])
	g2 := frag(remote, uplink, 7, 2, false, rb[16:])
	if v, _ := tb.Inbound(Packet{IP: g1}, now); v != Translated {
		t.Fatalf("first reply fragment: %v", v)
	}
	if v, _ := tb.Inbound(Packet{IP: g2}, now); v != Translated || pkt.IPv4(g2).Dst() != guest {
		t.Fatalf("second reply fragment: %v", v)
	}
	if tb.Sweep(now + fragTimeout + 1); tb.frags.size() != 0 {
		t.Fatal("fragment records not swept")
	}
}

// BenchmarkTranslateEstablished: one outbound plus one inbound packet of
// an established flow.
func BenchmarkTranslateEstablished(b *testing.B) {
	for _, proto := range []uint8{protoTCP, protoUDP} {
		name := map[uint8]string{protoTCP: "tcp", protoUDP: "udp"}[proto]
		b.Run(name, func(b *testing.B) {
			tb := New(Config{})
			out := build(b, proto, guest, remote, 40000, 80, "ack")
			in := build(b, proto, remote, uplink, 80, 40000, "ack")
			benchPair(b, tb, out, in, true)
		})
	}
}

// benchPair measures translating first outbound, then second outbound or,
// if in, inbound, each from a pristine copy, after one warm-up of first
// has made the flow known; it fails unless both were translated.
func benchPair(b *testing.B, tb *Table, first, second []byte, in bool) {
	tb.Outbound(Packet{IP: append([]byte(nil), first...)}, uplink, now)
	p1, p2 := make([]byte, len(first)), make([]byte, len(second))
	var v1, v2 Verdict
	b.ReportAllocs()
	for b.Loop() {
		copy(p1, first)
		v1, _ = tb.Outbound(Packet{IP: p1}, uplink, now)
		copy(p2, second)
		if in {
			v2, _ = tb.Inbound(Packet{IP: p2}, now)
		} else {
			v2, _ = tb.Outbound(Packet{IP: p2}, uplink, now)
		}
	}
	if v1 != Translated || v2 != Translated {
		b.Fatalf("verdicts %v %v", v1, v2)
	}
}

// forwarded translates p, which arrives for the outside address, and
// fails unless a port forward took it to to with every checksum right.
func forwarded(t *testing.T, tb *Table, p []byte, to netip.AddrPort) *Entry {
	t.Helper()
	v, e := tb.Inbound(Packet{IP: p}, now)
	if _, dp := ports(p); v != Translated || pkt.IPv4(p).Dst() != to.Addr() || dp != to.Port() {
		t.Fatalf("forwarded: %v to %v port %d, want %v", v, pkt.IPv4(p).Dst(), dp, to)
	}
	valid(t, p)
	return e
}

func TestForward(t *testing.T) {
	tb := New(Config{})
	tb.AddForward(protoTCP, 8080, netip.AddrPortFrom(guest, 80))
	forwarded(t, tb, build(t, protoTCP, remote, uplink, 50000, 8080, "syn"), netip.AddrPortFrom(guest, 80))
	synack := build(t, protoTCP, guest, remote, 80, 50000, "synack")
	if v, _ := tb.Outbound(Packet{IP: synack}, uplink, now); v != Translated || pkt.IPv4(synack).Src() != uplink {
		t.Fatalf("reply: %v", v)
	}
	if sp, _ := ports(synack); sp != 8080 {
		t.Fatalf("reply from port %d", sp)
	}
	valid(t, synack)
	other := build(t, protoTCP, remote, uplink, 50000, 8081, "syn")
	if v, _ := tb.Inbound(Packet{IP: other}, now); v != NotTracked {
		t.Fatal("a port without a forward was let in")
	}
}

// TestPortlessProtocolNotShared: a protocol without ports (GRE here) has
// only addresses to tell flows apart, so a second guest talking it to the
// same remote cannot have a flow of its own: refused, or the first guest
// would get its replies.
func TestPortlessProtocolNotShared(t *testing.T) {
	const gre = 47
	tb := New(Config{})
	a := rawPacket(gre, guest, remote, 0, 0, false)
	if v, _ := tb.Outbound(Packet{IP: a}, uplink, now); v != Translated || pkt.IPv4(a).Src() != uplink {
		t.Fatalf("first guest: %v from %v", v, pkt.IPv4(a).Src())
	}
	b := rawPacket(gre, guest2, remote, 0, 0, false)
	orig := append([]byte(nil), b...)
	if v, e := tb.Outbound(Packet{IP: b}, uplink, now); v != TableFull || e != nil {
		t.Fatalf("second guest: %v", v)
	}
	if string(b) != string(orig) || tb.Len() != 1 {
		t.Fatalf("refused packet changed or flow kept (%d flows)", tb.Len())
	}
	if st := tb.Stats(); st.Full != 1 || st.Created != 1 {
		t.Fatalf("%+v", st)
	}
	// The replies go to the first guest, whose flow it is.
	r := rawPacket(gre, remote, uplink, 0, 0, false)
	if v, _ := tb.Inbound(Packet{IP: r}, now); v != Translated || pkt.IPv4(r).Dst() != guest {
		t.Fatalf("reply: %v to %v", v, pkt.IPv4(r).Dst())
	}
	valid(t, r)
}
