package pkt

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("10.0.0.2")
	addrC = netip.MustParseAddr("192.168.1.1")
	addrD = netip.MustParseAddr("203.0.113.200")
)

// refPacket serialises ip, l4 and payload with gopacket, lengths and
// checksums computed: the reference encoder for the setters.
func refPacket(t testing.TB, ip *layers.IPv4, l4 gopacket.SerializableLayer, payload []byte) []byte {
	t.Helper()
	if n, ok := l4.(interface {
		SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
	}); ok {
		if err := n.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ip, l4, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func refIPv4(proto layers.IPProtocol, src, dst netip.Addr) *layers.IPv4 {
	s, d := src.As4(), dst.As4()
	return &layers.IPv4{Version: 4, TTL: 64, Id: 0x1234, Flags: layers.IPv4DontFragment, Protocol: proto,
		SrcIP: net.IP(s[:]), DstIP: net.IP(d[:])}
}

func refTCP() *layers.TCP {
	return &layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 0x01020304, Ack: 0xa0b0c0d0, SYN: true, ACK: true,
		Window: 64240, Urgent: 7, Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}}}
}

func refUDP() *layers.UDP { return &layers.UDP{SrcPort: 5353, DstPort: 53} }

func refICMP() *layers.ICMPv4 {
	return &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(ICMPEchoRequest, 0), Id: 0x4242, Seq: 9}
}

func ip4(a netip.Addr) net.IP { s := a.As4(); return net.IP(s[:]) }

// naiveIPv4Checksum is the header checksum recomputed with the obvious
// loop, the field counted as zero.
func naiveIPv4Checksum(h []byte) uint16 {
	c := append([]byte(nil), h...)
	c[10], c[11] = 0, 0
	return ^checksumRef(c)
}

// naiveL4Sum is the obvious sum of the IPv4 pseudo-header and seg with its
// checksum field (at off) counted as zero.
func naiveL4Sum(src, dst netip.Addr, proto uint8, seg []byte, off int) uint16 {
	s, d := src.As4(), dst.As4()
	b := append(append([]byte(nil), s[:]...), d[:]...)
	b = append(b, 0, proto)
	b = binary.BigEndian.AppendUint16(b, uint16(len(seg)))
	c := append(b, seg...)
	c[12+off], c[12+off+1] = 0, 0
	return checksumRef(c)
}

func TestIPv4SettersAgainstGopacket(t *testing.T) {
	for _, c := range []struct {
		name  string
		apply func(IPv4)
		ref   func(*layers.IPv4)
	}{
		{"SetSrc", func(b IPv4) { b.SetSrc(addrC) }, func(r *layers.IPv4) { r.SrcIP = ip4(addrC) }},
		{"SetDst", func(b IPv4) { b.SetDst(addrD) }, func(r *layers.IPv4) { r.DstIP = ip4(addrD) }},
		{"SetSrc same", func(b IPv4) { b.SetSrc(addrA) }, func(r *layers.IPv4) {}},
		{"SetTTL 0", func(b IPv4) { b.SetTTL(0) }, func(r *layers.IPv4) { r.TTL = 0 }},
		{"SetTTL 255", func(b IPv4) { b.SetTTL(255) }, func(r *layers.IPv4) { r.TTL = 255 }},
		{"DecTTL", func(b IPv4) { b.DecTTL() }, func(r *layers.IPv4) { r.TTL = 63 }},
		{"SetID", func(b IPv4) { b.SetID(0xfedc) }, func(r *layers.IPv4) { r.Id = 0xfedc }},
		{"all", func(b IPv4) { b.SetSrc(addrD); b.SetDst(addrC); b.SetTTL(1); b.SetID(0) },
			func(r *layers.IPv4) { r.SrcIP, r.DstIP, r.TTL, r.Id = ip4(addrD), ip4(addrC), 1, 0 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := refIPv4(layers.IPProtocolUDP, addrA, addrB)
			r.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
			got := refPacket(t, r, refUDP(), []byte("hello"))
			c.apply(IPv4(got))
			r = refIPv4(layers.IPProtocolUDP, addrA, addrB)
			r.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
			c.ref(r)
			want := refPacket(t, r, refUDP(), []byte("hello"))
			// The UDP checksum covers the addresses: the IPv4 setters leave
			// it alone, so compare the IP header only.
			if !bytes.Equal(got[:24], want[:24]) {
				t.Fatalf("header\n% x\nwant\n% x", got[:24], want[:24])
			}
			if IPv4(got).ComputeChecksum() != IPv4(got).Checksum() {
				t.Fatalf("ComputeChecksum %#04x, stored %#04x", IPv4(got).ComputeChecksum(), IPv4(got).Checksum())
			}
		})
	}
}

// TestIPv4SetterValues pins the checksums worked out by hand: the header
// 4500 0014 0000 0000 4001 .... 0a00 0001 0a00 0002 sums to 0x9918.
func TestIPv4SetterValues(t *testing.T) {
	base := func() IPv4 {
		b := IPv4(make([]byte, IPv4MinLen))
		b.Encode(&IPv4Fields{TotalLen: 20, TTL: 64, Protocol: ProtoICMP, Src: addrA, Dst: addrB})
		return b
	}
	for _, c := range []struct {
		name  string
		apply func(IPv4)
		want  []byte
	}{
		// 0x9918 - 0x0a00 - 0x0001 + 0xc0a8 + 0x0101 = 0x50c1: ^ = 0xaf3e.
		{"SetSrc", func(b IPv4) { b.SetSrc(addrC) },
			[]byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0xaf, 0x3e, 192, 168, 1, 1, 10, 0, 0, 2}},
		// 0x9918 - 0x0a00 - 0x0002 + 0xcb00 + 0x71c8 = 0xcbdf (carry folded): ^ = 0x3420.
		{"SetDst", func(b IPv4) { b.SetDst(addrD) },
			[]byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0x34, 0x20, 10, 0, 0, 1, 203, 0, 113, 200}},
		// 0x9918 - 0x4001 + 0x3f01 = 0x9818: ^ = 0x67e7.
		{"DecTTL", func(b IPv4) { b.DecTTL() },
			[]byte{0x45, 0, 0, 20, 0, 0, 0, 0, 63, 1, 0x67, 0xe7, 10, 0, 0, 1, 10, 0, 0, 2}},
		// 0x9918 + 0x66e7 = 0xffff: ^ = 0x0000, the canonical zero (not 0xffff).
		{"SetID to a zero checksum", func(b IPv4) { b.SetID(0x66e7) },
			[]byte{0x45, 0, 0, 20, 0x66, 0xe7, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}},
		// 0x9918 - 0x0014 + 0x05dc = 0x9ee0: ^ = 0x611f.
		{"SetTotalLen", func(b IPv4) { b.SetTotalLen(1500) },
			[]byte{0x45, 0, 0x05, 0xdc, 0, 0, 0, 0, 64, 1, 0x61, 0x1f, 10, 0, 0, 1, 10, 0, 0, 2}},
		// A stored checksum that was wrong is replaced by the full one.
		{"SetChecksum", func(b IPv4) { b[10], b[11] = 0xde, 0xad; b.SetChecksum() },
			[]byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0x66, 0xe7, 10, 0, 0, 1, 10, 0, 0, 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := base()
			c.apply(b)
			if !bytes.Equal(b, c.want) {
				t.Fatalf("% x\nwant % x", []byte(b), c.want)
			}
			if got := naiveIPv4Checksum(b); got != b.Checksum() {
				t.Fatalf("stored %#04x, naive %#04x", b.Checksum(), got)
			}
		})
	}
}

func TestIPv4DecTTL(t *testing.T) {
	for _, c := range []struct {
		ttl, want uint8
		ok        bool
	}{{0, 0, false}, {1, 1, false}, {2, 1, true}, {255, 254, true}} {
		b := IPv4(make([]byte, IPv4MinLen))
		b.Encode(&IPv4Fields{TotalLen: 20, TTL: c.ttl, Protocol: ProtoTCP, Src: addrA, Dst: addrB})
		before := append([]byte(nil), b...)
		ok := b.DecTTL()
		if ok != c.ok || b.TTL() != c.want || b.Checksum() != naiveIPv4Checksum(b) {
			t.Fatalf("TTL %d: DecTTL %v, TTL %d, checksum %#04x (naive %#04x)", c.ttl, ok, b.TTL(), b.Checksum(), naiveIPv4Checksum(b))
		}
		if !ok && !bytes.Equal(b, before) {
			t.Fatalf("TTL %d: refused but changed: % x", c.ttl, []byte(b))
		}
	}
}

func TestIPv4NetworkMethods(t *testing.T) {
	r := refIPv4(layers.IPProtocolTCP, addrA, addrB)
	b := IPv4(refPacket(t, r, refTCP(), []byte{1, 2, 3}))
	// Through the interface, as a type constraint would see it.
	check := func(n Network) {
		if n.Src() != addrA || n.Dst() != addrB || n.PayloadProtocol() != ProtoTCP || len(n.Payload()) != 24+3 {
			t.Fatalf("%v %v %d %d", n.Src(), n.Dst(), n.PayloadProtocol(), len(n.Payload()))
		}
		// 0a00+0001+0a00+0002 + 0006 + 001b = 0x1424.
		if got := n.PseudoHeaderChecksum(ProtoTCP, 27); got != 0x1424 {
			t.Fatalf("pseudo-header %#04x, want 0x1424", got)
		}
	}
	check(b)
	if b.Checksum() != binary.BigEndian.Uint16(b[10:]) || b.ComputeChecksum() != b.Checksum() {
		t.Fatalf("Checksum %#04x ComputeChecksum %#04x", b.Checksum(), b.ComputeChecksum())
	}
}

func TestTCPValid(t *testing.T) {
	seg := func(off byte, n int) []byte {
		b := make([]byte, n)
		if n > 12 {
			b[12] = off << 4
		}
		return b
	}
	checkValid(t, func(b []byte) bool { return TCP(b).Valid() }, []validCase{
		{"header only", seg(5, 20), true},
		{"19 bytes", seg(5, 19), false},
		{"data offset 4", seg(4, 40), false},
		{"data offset 0", seg(0, 40), false},
		{"options to the end", seg(15, 60), true},
		{"options past the end", seg(15, 59), false},
		{"options and payload", seg(6, 30), true},
	})
}

func TestTCPGetters(t *testing.T) {
	r := refTCP()
	r.FIN, r.PSH, r.URG, r.ECE, r.CWR = true, true, true, true, true
	b := IPv4(refPacket(t, refIPv4(layers.IPProtocolTCP, addrA, addrB), r, []byte("data")))
	s := TCP(b.Payload())
	if !s.Valid() || s.SrcPort() != 40000 || s.DstPort() != 443 || s.Seq() != 0x01020304 || s.Ack() != 0xa0b0c0d0 ||
		s.DataOffset() != 24 || s.Window() != 64240 || s.Urgent() != 7 || !bytes.Equal(s.Options(), []byte{1, 0, 0, 0}) ||
		string(s.Payload()) != "data" {
		t.Fatalf("% x", []byte(s))
	}
	// gopacket's flags byte: FIN PSH URG ECE CWR plus the SYN ACK of refTCP.
	want := uint8(TCPFlagFIN | TCPFlagSYN | TCPFlagPSH | TCPFlagACK | TCPFlagURG | TCPFlagECE | TCPFlagCWR)
	if s.Flags() != want || s.Flags()&TCPFlagRST != 0 {
		t.Fatalf("flags %#02x, want %#02x", s.Flags(), want)
	}
	if s.Checksum() != r.Checksum || s.ComputeChecksum(b.PseudoHeaderChecksum(ProtoTCP, uint16(len(s)))) != r.Checksum {
		t.Fatalf("checksum %#04x computed %#04x, gopacket %#04x", s.Checksum(),
			s.ComputeChecksum(b.PseudoHeaderChecksum(ProtoTCP, uint16(len(s)))), r.Checksum)
	}
}

// transportCase rewrites a TCP or UDP packet through the Transport
// method set and says what gopacket should then produce.
type transportCase struct {
	name  string
	apply func(ip IPv4, l4 Transport, full bool)
	ip    func(*layers.IPv4)
	ports func(src, dst *uint16)
}

var transportCases = []transportCase{
	{"SetSrcPort", func(ip IPv4, l4 Transport, full bool) { l4.SetSrcPort(1024, full) },
		func(*layers.IPv4) {}, func(s, d *uint16) { *s = 1024 }},
	{"SetDstPort", func(ip IPv4, l4 Transport, full bool) { l4.SetDstPort(65535, full) },
		func(*layers.IPv4) {}, func(s, d *uint16) { *d = 65535 }},
	{"source NAT", func(ip IPv4, l4 Transport, full bool) {
		old := ip.Src()
		ip.SetSrc(addrD)
		l4.UpdateChecksumPseudoHeaderAddress(old, addrD, full)
		l4.SetSrcPort(61000, full)
	}, func(r *layers.IPv4) { r.SrcIP = ip4(addrD) }, func(s, d *uint16) { *s = 61000 }},
	{"destination NAT", func(ip IPv4, l4 Transport, full bool) {
		old := ip.Dst()
		ip.SetDst(addrC)
		l4.UpdateChecksumPseudoHeaderAddress(old, addrC, full)
		l4.SetDstPort(8080, full)
	}, func(r *layers.IPv4) { r.DstIP = ip4(addrC) }, func(s, d *uint16) { *d = 8080 }},
}

func TestTransportSettersAgainstGopacket(t *testing.T) {
	for _, proto := range []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolUDP} {
		for _, c := range transportCases {
			t.Run(proto.String()+"/"+c.name, func(t *testing.T) {
				build := func(ip *layers.IPv4, sport, dport uint16) []byte {
					if proto == layers.IPProtocolTCP {
						l := refTCP()
						l.SrcPort, l.DstPort = layers.TCPPort(sport), layers.TCPPort(dport)
						return refPacket(t, ip, l, []byte("payload!!"))
					}
					l := refUDP()
					l.SrcPort, l.DstPort = layers.UDPPort(sport), layers.UDPPort(dport)
					return refPacket(t, ip, l, []byte("payload!!"))
				}
				view := func(ip IPv4) Transport {
					if proto == layers.IPProtocolTCP {
						return TCP(ip.Payload())
					}
					return UDP(ip.Payload())
				}
				got := IPv4(build(refIPv4(proto, addrA, addrB), 40000, 443))
				c.apply(got, view(got), true)
				r := refIPv4(proto, addrA, addrB)
				c.ip(r)
				sport, dport := uint16(40000), uint16(443)
				c.ports(&sport, &dport)
				want := build(r, sport, dport)
				if !bytes.Equal(got, want) {
					t.Fatalf("complete checksum\n% x\nwant\n% x", []byte(got), want)
				}

				// Partial: the field holds the pseudo-header sum, which
				// follows the addresses and ignores the ports.
				part := IPv4(build(refIPv4(proto, addrA, addrB), 40000, 443))
				l4 := view(part)
				off := TCPChecksumOffset
				if proto == layers.IPProtocolUDP {
					off = UDPChecksumOffset
				}
				binary.BigEndian.PutUint16(l4.(interface{ bytes() []byte }).bytes()[off:],
					part.PseudoHeaderChecksum(uint8(proto), uint16(len(part.Payload()))))
				c.apply(part, l4, false)
				wantSum := part.PseudoHeaderChecksum(uint8(proto), uint16(len(part.Payload())))
				if l4.Checksum() != wantSum {
					t.Fatalf("partial %#04x, want the new pseudo-header sum %#04x", l4.Checksum(), wantSum)
				}
				// Finished the way a NIC or the switch does: complement of
				// the sum over the segment with the field as it is.
				binary.BigEndian.PutUint16(l4.(interface{ bytes() []byte }).bytes()[off:], ^Checksum(part.Payload(), 0))
				if !bytes.Equal(part, want) {
					t.Fatalf("partial, finished\n% x\nwant\n% x", []byte(part), want)
				}
			})
		}
	}
}

func (t TCP) bytes() []byte { return t }
func (u UDP) bytes() []byte { return u }

func TestTCPSetterValues(t *testing.T) {
	// A bare header, ports 1 and 2, data offset 5, checksum 0x1000 as if
	// complete: the update arithmetic, by hand.
	s := TCP(make([]byte, TCPMinLen))
	s[1], s[3], s[12], s[16] = 1, 2, 0x50, 0x10
	s.SetSrcPort(0x0101, true) // ~0x1000 - 1 + 0x0101 = 0xf0ff: ^ = 0x0f00
	if s.SrcPort() != 0x0101 || s.Checksum() != 0x0f00 {
		t.Fatalf("port %#04x checksum %#04x, want 0x0101 0x0f00", s.SrcPort(), s.Checksum())
	}
	s.SetDstPort(0x0102, false) // partial: the ports are not in it
	if s.DstPort() != 0x0102 || s.Checksum() != 0x0f00 {
		t.Fatalf("port %#04x checksum %#04x, want 0x0102 0x0f00", s.DstPort(), s.Checksum())
	}
	s.UpdateChecksumPseudoHeaderAddress(addrA, addrC, false) // 0x0f00 - 0x0a01 + 0xc1a9 = 0xc6a8
	if s.Checksum() != 0xc6a8 {
		t.Fatalf("partial after address %#04x, want 0xc6a8", s.Checksum())
	}
	s.UpdateChecksumPseudoHeaderAddress(addrC, addrA, true) // ^(0x3957 - 0xc1a9 + 0x0a01) = ^0x81ae = 0x7e51
	if s.Checksum() != 0x7e51 {
		t.Fatalf("full after address %#04x, want 0x7e51", s.Checksum())
	}
}

func TestUDPChecksumRules(t *testing.T) {
	pkt := func(sport uint16) IPv4 {
		l := refUDP()
		l.SrcPort = layers.UDPPort(sport)
		return IPv4(refPacket(t, refIPv4(layers.IPProtocolUDP, addrA, addrB), l, []byte{1, 2, 3}))
	}
	b := pkt(5353)
	u := UDP(b.Payload())
	ph := b.PseudoHeaderChecksum(ProtoUDP, uint16(u.Length()))
	if u.Checksum() != u.ComputeChecksum(ph) || u.Checksum() == 0 {
		t.Fatalf("stored %#04x, computed %#04x", u.Checksum(), u.ComputeChecksum(ph))
	}

	// The source port that makes the datagram sum to 0xffff: the checksum
	// computes to 0 and goes out as 0xffff, both in full and incrementally.
	rest := ChecksumCombine(^u.Checksum(), ^uint16(5353))
	zp := ^rest
	want := pkt(zp)
	if got := binary.BigEndian.Uint16(want[IPv4MinLen+6:]); got != 0xffff {
		t.Fatalf("gopacket stored %#04x for a zero checksum, want 0xffff", got)
	}
	u.SetSrcPort(zp, true)
	if !bytes.Equal(b, want) {
		t.Fatalf("incremental to zero\n% x\nwant\n% x", []byte(b), []byte(want))
	}
	if u.ComputeChecksum(ph) != 0xffff {
		t.Fatalf("ComputeChecksum %#04x for a zero checksum, want 0xffff", u.ComputeChecksum(ph))
	}
	// And away from 0xffff again, back to the original.
	u.SetSrcPort(5353, true)
	if !bytes.Equal(b, pkt(5353)) {
		t.Fatalf("incremental from 0xffff\n% x\nwant\n% x", []byte(b), []byte(pkt(5353)))
	}

	// No checksum stays no checksum, whatever changes.
	u[6], u[7] = 0, 0
	u.SetSrcPort(1, true)
	u.SetDstPort(2, true)
	u.UpdateChecksumPseudoHeaderAddress(addrA, addrC, true)
	if u.Checksum() != 0 || u.SrcPort() != 1 || u.DstPort() != 2 {
		t.Fatalf("checksum %#04x ports %d %d, want 0 1 2", u.Checksum(), u.SrcPort(), u.DstPort())
	}
	// SetChecksum computes one, even from none; UDP's length bounds it.
	u.SetChecksum(PseudoHeaderChecksum(ProtoUDP, addrC.AsSlice(), addrB.AsSlice(), 11))
	if want := ^naiveL4Sum(addrC, addrB, ProtoUDP, u[:11], 6); u.Checksum() != want {
		t.Fatalf("SetChecksum %#04x, want %#04x", u.Checksum(), want)
	}
}

func TestICMPv4(t *testing.T) {
	b := IPv4(refPacket(t, refIPv4(layers.IPProtocolICMPv4, addrA, addrB), refICMP(), []byte("ping")))
	c := ICMPv4(b.Payload())
	if !c.Valid() || c.Type() != ICMPEchoRequest || c.Code() != 0 || c.Ident() != 0x4242 || c.Seq() != 9 ||
		string(c.Payload()) != "ping" || c.ComputeChecksum() != c.Checksum() {
		t.Fatalf("% x", []byte(c))
	}
	c.SetIdent(0x0101)
	c.SetSeq(0xffff)
	r := refICMP()
	r.Id, r.Seq = 0x0101, 0xffff
	want := refPacket(t, refIPv4(layers.IPProtocolICMPv4, addrA, addrB), r, []byte("ping"))
	if !bytes.Equal(b, want) {
		t.Fatalf("% x\nwant\n% x", []byte(b), want)
	}
	c[2], c[3] = 0, 0
	c.SetChecksum()
	if !bytes.Equal(b, want) {
		t.Fatalf("SetChecksum % x\nwant\n% x", []byte(b), want)
	}

	// An all-zero echo reply sums to 0: its checksum is 0xffff, which the
	// incremental update alone would get wrong (0x0000).
	z := ICMPv4([]byte{ICMPEchoReply, 0, 0, 0, 0x12, 0x34, 0, 0})
	z.SetChecksum()
	if z.Checksum() != 0xedcb {
		t.Fatalf("checksum %#04x, want 0xedcb", z.Checksum())
	}
	z.SetIdent(0)
	if z.Checksum() != 0xffff || checksumRef(z) != 0xffff {
		t.Fatalf("all-zero message: checksum %#04x", z.Checksum())
	}
	z.SetSeq(0x0001)
	if z.Checksum() != 0xfffe {
		t.Fatalf("checksum %#04x, want 0xfffe", z.Checksum())
	}
}

func TestChecksumUpdateAddress(t *testing.T) {
	for _, c := range []struct{ old, new string }{
		{"10.0.0.1", "192.168.1.1"},
		{"255.255.255.255", "0.0.0.0"},
		{"2001:db8::1", "fe80::1234:5678:9abc:def0"},
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
	} {
		old, nw := netip.MustParseAddr(c.old), netip.MustParseAddr(c.new)
		// A record: a 2-byte tag, the address, 3 bytes of data.
		rec := func(a netip.Addr) []byte {
			return append(append([]byte{0x60, 0x01}, a.AsSlice()...), 7, 8, 9)
		}
		hc := ^checksumRef(rec(old))
		if got, want := ChecksumUpdateAddress(hc, old, nw), ^checksumRef(rec(nw)); got != want {
			t.Errorf("%s -> %s: %#04x, want %#04x", c.old, c.new, got, want)
		}
		// The partial form adds the change to an uncomplemented sum.
		if got, want := sumUpdateAddress(checksumRef(rec(old)), old, nw), checksumRef(rec(nw)); got != want {
			t.Errorf("%s -> %s: sum %#04x, want %#04x", c.old, c.new, got, want)
		}
	}
}

func TestTCPEncodeAndHeaderSetters(t *testing.T) {
	r := &layers.TCP{SrcPort: 80, DstPort: 51000, Seq: 0xdeadbeef, Ack: 0x00000001, RST: true, ACK: true, Window: 0x1234}
	want := refPacket(t, refIPv4(layers.IPProtocolTCP, addrB, addrA), r, []byte("xyz"))
	got := append([]byte(nil), want...)
	ip := IPv4(got)
	s := TCP(ip.Payload())
	clear(s)
	s.Encode(&TCPFields{SrcPort: 80, DstPort: 51000, Seq: 0xdeadbeef, Ack: 1, Flags: TCPFlagRST | TCPFlagACK, Window: 0x1234})
	copy(s[TCPMinLen:], "xyz")
	if s.Checksum() != 0 {
		t.Fatalf("Encode left checksum %#04x, want 0", s.Checksum())
	}
	s.SetChecksum(ip.PseudoHeaderChecksum(ProtoTCP, uint16(len(s))))
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n% x\nwant\n% x", got, want)
	}

	// The other header setters, with a complete checksum, against
	// gopacket; then with a partial one (the field does not move).
	s.SetSeq(0x01020304, true)
	s.SetAck(0xfffffffe, true)
	s.SetFlags(TCPFlagFIN|TCPFlagACK|TCPFlagCWR, true)
	s.SetWindow(0, true)
	r = &layers.TCP{SrcPort: 80, DstPort: 51000, Seq: 0x01020304, Ack: 0xfffffffe, FIN: true, ACK: true, CWR: true}
	want = refPacket(t, refIPv4(layers.IPProtocolTCP, addrB, addrA), r, []byte("xyz"))
	if !bytes.Equal(got, want) {
		t.Fatalf("after setters\n% x\nwant\n% x", got, want)
	}
	c := s.Checksum()
	s.SetSeq(7, false)
	s.SetAck(8, false)
	s.SetFlags(TCPFlagSYN, false)
	s.SetWindow(9, false)
	if s.Checksum() != c || s.Seq() != 7 || s.Ack() != 8 || s.Flags() != TCPFlagSYN || s.Window() != 9 || s.DataOffset() != 20 {
		t.Fatalf("partial: checksum %#04x (was %#04x) seq %d ack %d flags %#02x window %d", s.Checksum(), c, s.Seq(), s.Ack(), s.Flags(), s.Window())
	}
}
