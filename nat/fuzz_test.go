package nat

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// The fuzz oracle is written from the RFCs, apart from the code under
// test: its own one's-complement sum, its own header parsing, its own
// idea of which verdict a packet deserves.

// refSum adds b to a running sum as 16-bit big-endian words, an odd last
// byte padded with zero (RFC 1071), carries kept for fold.
func refSum(sum uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// refPseudo is the TCP/UDP pseudo-header of an IPv4 packet.
func refPseudo(ip []byte, proto uint8, l4len int) uint32 {
	return refSum(refSum(uint32(proto)+uint32(l4len), ip[12:16]), ip[16:20])
}

// ref is a packet as the oracle reads it.
type ref struct {
	ok     bool // a well-formed IPv4 header
	hl, tl int
	proto  uint8
	later  bool   // a fragment other than the first
	l4     []byte // ip[hl:tl]
	short  bool   // l4 too short for its protocol
}

func parseRef(b []byte) ref {
	if len(b) < 20 || b[0]>>4 != 4 {
		return ref{}
	}
	r := ref{hl: int(b[0]&0xf) * 4, tl: int(binary.BigEndian.Uint16(b[2:])), proto: b[9]}
	if r.hl < 20 || r.hl > r.tl || r.tl > len(b) {
		return ref{}
	}
	r.ok = true
	r.later = binary.BigEndian.Uint16(b[6:])&0x1fff != 0
	r.l4 = b[r.hl:r.tl]
	switch r.proto {
	case protoTCP:
		r.short = len(r.l4) < 20
	case protoUDP, protoICMP:
		r.short = len(r.l4) < 8
	}
	return r
}

// normalized is a copy of b with normalize's checksums, and how the
// oracle reads it.
func normalized(b []byte, partial bool) ([]byte, ref) {
	c := append([]byte(nil), b...)
	normalize(c, partial)
	return c, parseRef(c)
}

// verdict is Malformed or Fragment for a packet whose shape alone says
// so, else Translated.
func (r ref) verdict() Verdict {
	switch {
	case !r.ok:
		return Malformed
	case r.later:
		return Fragment
	case r.short:
		return Malformed
	}
	return Translated
}

// csumOff is the offset of the L4 checksum field, -1 for none.
func csumOff(proto uint8) int {
	switch proto {
	case protoTCP:
		return 16
	case protoUDP:
		return 6
	case protoICMP:
		return 2
	}
	return -1
}

func isICMPError(typ byte) bool { return typ == 3 || typ == 11 || typ == 12 }

// quote returns the IPv4 header an ICMP error quotes and what follows it,
// or nil when the quote is too short to name a flow.
func quote(icmp []byte) (inner []byte, ihl int) {
	inner = icmp[8:]
	if len(inner) < 20 || inner[0]>>4 != 4 {
		return nil, 0
	}
	ihl = int(inner[0]&0xf) * 4
	if ihl < 20 || len(inner) < ihl+8 {
		return nil, 0
	}
	return inner, ihl
}

// normalize gives a packet correct checksums, computed from scratch: the
// IP header's, an ICMP error's quoted header's, and the L4 one (for a
// partial packet, the pseudo-header sum). A UDP checksum of 0 (none) is
// left as it is unless partial.
func normalize(b []byte, partial bool) {
	r := parseRef(b)
	if !r.ok {
		return
	}
	b[10], b[11] = 0, 0
	binary.BigEndian.PutUint16(b[10:], ^fold(refSum(0, b[:r.hl])))
	if r.later || r.short {
		return
	}
	l := r.l4
	switch r.proto {
	case protoICMP:
		if inner, ihl := quote(l); inner != nil && isICMPError(l[0]) {
			inner[10], inner[11] = 0, 0
			binary.BigEndian.PutUint16(inner[10:], ^fold(refSum(0, inner[:ihl])))
		}
		l[2], l[3] = 0, 0
		binary.BigEndian.PutUint16(l[2:], ^fold(refSum(0, l)))
	case protoTCP, protoUDP:
		o := csumOff(r.proto)
		if r.proto == protoUDP && !partial && l[6] == 0 && l[7] == 0 {
			return
		}
		l[o], l[o+1] = 0, 0
		if partial {
			binary.BigEndian.PutUint16(l[o:], fold(refPseudo(b, r.proto, len(l))))
			return
		}
		c := ^fold(refSum(refPseudo(b, r.proto, len(l)), l))
		if c == 0 && r.proto == protoUDP {
			c = 0xffff // RFC 768: a computed zero is sent as all ones
		}
		binary.BigEndian.PutUint16(l[o:], c)
	}
}

// checkSums fails unless every checksum of b verifies by a full
// recomputation; for a partial packet the TCP/UDP field must be the
// pseudo-header sum. A UDP packet keeps "no checksum" exactly when it had
// none (wasZero).
func checkSums(t *testing.T, b []byte, partial, wasZero bool) {
	t.Helper()
	r := parseRef(b)
	if fold(refSum(0, b[:r.hl])) != 0xffff {
		t.Fatalf("IP header checksum wrong: % x", b[:r.hl])
	}
	if r.later || r.short {
		return
	}
	l := r.l4
	switch r.proto {
	case protoICMP:
		if fold(refSum(0, l)) != 0xffff {
			t.Fatalf("ICMP checksum wrong: % x", l)
		}
		if inner, ihl := quote(l); inner != nil && isICMPError(l[0]) && fold(refSum(0, inner[:ihl])) != 0xffff {
			t.Fatalf("quoted IP header checksum wrong: % x", inner[:ihl])
		}
	case protoTCP, protoUDP:
		o := csumOff(r.proto)
		f := binary.BigEndian.Uint16(l[o:])
		switch {
		case partial:
			if want := fold(refPseudo(b, r.proto, len(l))); !sameSum(f, want) {
				t.Fatalf("partial sum %#04x, want %#04x", f, want)
			}
		case r.proto == protoUDP && (f == 0) != wasZero:
			t.Fatalf("UDP checksum field %#04x, had none: %v", f, wasZero)
		case r.proto == protoUDP && f == 0:
		case fold(refSum(refPseudo(b, r.proto, len(l)), l)) != 0xffff:
			t.Fatalf("L4 checksum wrong: % x", b)
		}
	}
}

// refTuple is the flow of a packet as its sender sees it.
func refTuple(b []byte, r ref) Tuple {
	src, dst := netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
	var sp, dp uint16
	switch r.proto {
	case protoTCP, protoUDP:
		sp, dp = binary.BigEndian.Uint16(r.l4), binary.BigEndian.Uint16(r.l4[2:])
	case protoICMP:
		sp = binary.BigEndian.Uint16(r.l4[4:])
		dp = sp
	}
	return Tuple{r.proto, netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)}
}

// portOffs are the L4 offsets a translation may rewrite besides the
// checksum: the source (out) or destination (in) port, or the echo id.
func portOffs(proto uint8, outbound bool) []int {
	switch proto {
	case protoTCP, protoUDP:
		if outbound {
			return []int{0, 1}
		}
		return []int{2, 3}
	case protoICMP:
		return []int{4, 5}
	}
	return nil
}

// mayChange lists the bytes a translation may touch: the IP checksum, one
// address, and in L4 the checksum and a port.
func mayChange(r ref, outbound bool) []int {
	may := []int{10, 11, 16, 17, 18, 19}
	if outbound {
		may = []int{10, 11, 12, 13, 14, 15}
	}
	if o := csumOff(r.proto); o >= 0 {
		may = append(may, r.hl+o, r.hl+o+1)
	}
	for _, o := range portOffs(r.proto, outbound) {
		may = append(may, r.hl+o)
	}
	return may
}

// rawPacket builds a minimal packet of any protocol with checksums: the
// ports go in a TCP/UDP header, sport is the identifier of an ICMP echo
// request.
func rawPacket(proto uint8, src, dst netip.Addr, sport, dport uint16, partial bool) []byte {
	n := 0
	switch proto {
	case protoTCP:
		n = 20
	case protoUDP, protoICMP:
		n = 8
	}
	b := make([]byte, 20+n)
	b[0], b[8], b[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	l := b[20:]
	switch proto {
	case protoTCP:
		binary.BigEndian.PutUint16(l, sport)
		binary.BigEndian.PutUint16(l[2:], dport)
		l[12], l[13] = 5<<4, 0x10
	case protoUDP:
		binary.BigEndian.PutUint16(l, sport)
		binary.BigEndian.PutUint16(l[2:], dport)
		binary.BigEndian.PutUint16(l[4:], 8)
		l[6] = 1 // nonzero: normalize computes it
	case protoICMP:
		l[0] = 8
		binary.BigEndian.PutUint16(l[4:], sport)
	}
	normalize(b, partial)
	return b
}

// icmpError builds an ICMP error from remote to the outside address
// quoting the first bytes of a packet that went out.
func icmpError(typ byte, sent []byte, n int) []byte {
	b := make([]byte, 28+n)
	b[0], b[8], b[9] = 0x45, 64, protoICMP
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	copy(b[12:], sent[16:20])
	copy(b[16:], sent[12:16])
	b[20] = typ
	copy(b[28:], sent[:n])
	normalize(b, false)
	return b
}

func FuzzTranslate(f *testing.F) {
	udp0 := build(f, protoUDP, guest, remote, 5000, 53, "")
	udp0[26], udp0[27] = 0, 0
	opts := build(f, protoTCP, guest, remote, 40000, 443, "ack")
	opts = append(append(append([]byte{0x46}, opts[1:20]...), 1, 1, 1, 0), opts[20:]...) // NOP NOP NOP EOL
	binary.BigEndian.PutUint16(opts[2:], uint16(len(opts)))
	first := frag(guest, remote, 9, 0, true, build(f, protoUDP, guest, remote, 1, 2, "")[20:])
	sentUDP := build(f, protoUDP, uplink, remote, 5000, 33434, "")
	sentPing := build(f, protoICMP, uplink, remote, 77, 0, "")
	for _, b := range [][]byte{
		build(f, protoTCP, guest, remote, 40000, 80, "syn"),
		build(f, protoTCP, remote, uplink, 80, 40000, "synack"),
		build(f, protoUDP, guest, remote, 5000, 53, ""),
		udp0,
		opts,
		first,
		frag(guest, remote, 9, 3, false, []byte("later fragment")),
		build(f, protoICMP, guest, remote, 0x1234, 0, ""),
		build(f, protoICMP, remote, uplink, 0x1234, 0, "reply"),
		icmpError(3, sentUDP, 28),
		icmpError(11, sentPing, 28),
		icmpError(12, sentUDP, len(sentUDP)),
		rawPacket(47, guest, remote, 0, 0, false),
		{0x45, 0, 0, 20},
	} {
		for mode := range uint8(8) {
			f.Add(b, mode)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, mode uint8) {
		partial, alt := mode&1 != 0, mode&2 != 0
		if mode&4 == 0 {
			fuzzOutbound(t, b, partial, alt)
		} else {
			fuzzInbound(t, b, partial, alt)
		}
	})
}

// fuzzOutbound translates b as a guest's packet, then the reply to what
// came out back in: the guest must get exactly its own packet's reply.
// With remap, another guest already holds b's outside tuple.
func fuzzOutbound(t *testing.T, b []byte, partial, remap bool) {
	orig, r := normalized(b, partial)
	want := r.verdict()
	if want == Translated && r.proto == protoICMP && r.l4[0] != 8 {
		want = NotTracked // only an echo request starts a flow
	}
	tb := New(Config{MaxEntries: 4})
	if want == Translated && remap {
		other := append([]byte(nil), orig...)
		other[15] ^= 1
		normalize(other, partial)
		if v, _ := tb.Outbound(Packet{IP: other, Partial: partial}, uplink, now); v != Translated {
			t.Fatalf("the other guest's flow: %v", v)
		}
		if r.proto != protoTCP && r.proto != protoUDP && r.proto != protoICMP {
			// No port to remap: the outside tuple is taken.
			want = TableFull
		}
	}
	p, e := translated(t, orig, partial, want, func(q Packet) (Verdict, *Entry) { return tb.Outbound(q, uplink, now) })
	if e == nil {
		return
	}
	in := refTuple(orig, r)
	port := in.Src.Port()
	if remap {
		port = tb.cfg.PortMin
		if in.Src.Port() == port {
			port++
		}
	}
	out := Tuple{in.Proto, netip.AddrPortFrom(uplink, port), in.Dst}
	if in.Proto == protoICMP {
		out.Dst = netip.AddrPortFrom(in.Dst.Addr(), port)
	}
	if e.Inside != in || e.Outside != out {
		t.Fatalf("flow %v / %v, want %v / %v", e.Inside, e.Outside, in, out)
	}
	diffOnly(t, orig, p, mayChange(r, true)...)
	pr := parseRef(p)
	if got := refTuple(p, pr); got != out {
		t.Fatalf("packet left as %v, want %v", got, out)
	}
	wasZero := r.proto == protoUDP && !partial && r.l4[6] == 0 && r.l4[7] == 0
	checkSums(t, p, partial, wasZero)

	// The reply to what left, as the remote would send it.
	checkAnswer(t, answer(p, partial), false, func(q Packet) (Verdict, *Entry) { return tb.Inbound(q, now) },
		e, Tuple{in.Proto, in.Dst, in.Src}, partial, wasZero)
}

// translated translates a copy of orig with translate and fails unless
// the verdict is want, and a packet not translated comes back unchanged
// and without a flow. It returns the copy and its flow (nil unless
// Translated).
func translated(t *testing.T, orig []byte, partial bool, want Verdict, translate func(Packet) (Verdict, *Entry)) ([]byte, *Entry) {
	t.Helper()
	p := append([]byte(nil), orig...)
	v, e := translate(Packet{IP: p, Partial: partial})
	if v != want {
		t.Fatalf("verdict %v, want %v", v, want)
	}
	if v != Translated && (e != nil || !bytes.Equal(p, orig)) {
		t.Fatalf("a %v packet was changed or got a flow", v)
	}
	if v == Translated && e == nil {
		t.Fatal("translated without a flow")
	}
	return p, e
}

// answer is the packet the receiver of p sends back: the addresses and
// the TCP/UDP ports swapped, an echo request turned into its reply, the
// checksums computed afresh.
func answer(p []byte, partial bool) []byte {
	r := parseRef(p)
	rep := append([]byte(nil), p...)
	copy(rep[12:16], p[16:20])
	copy(rep[16:20], p[12:16])
	l := rep[r.hl:r.tl]
	switch r.proto {
	case protoTCP, protoUDP:
		copy(l[0:2], r.l4[2:4])
		copy(l[2:4], r.l4[0:2])
	case protoICMP:
		l[0] = 0
	}
	normalize(rep, partial)
	return rep
}

// checkAnswer translates rep, the answer to a packet of flow e, with
// translate (the other way from that packet: outbound says which) and
// fails unless it stays in e, changes only what that way may change,
// reaches want, and keeps every checksum right.
func checkAnswer(t *testing.T, rep []byte, outbound bool, translate func(Packet) (Verdict, *Entry), e *Entry, want Tuple, partial, wasZero bool) {
	t.Helper()
	before := append([]byte(nil), rep...)
	if v, got := translate(Packet{IP: rep, Partial: partial}); v != Translated || got != e {
		t.Fatalf("answer: %v, flow %p want %p", v, got, e)
	}
	diffOnly(t, before, rep, mayChange(parseRef(before), outbound)...)
	if got := refTuple(rep, parseRef(rep)); got != want {
		t.Fatalf("answer translated to %v, want %v", got, want)
	}
	checkSums(t, rep, partial, wasZero)
}

// fuzzInbound translates b as a packet arriving at the outside address
// (its destination), after creating the flow it answers: by a guest's
// packet out, or (fwd) by a port forward, whose reply then goes back out.
func fuzzInbound(t *testing.T, b []byte, partial, fwd bool) {
	orig, r := normalized(b, partial)
	want := r.verdict()
	var inner []byte
	var ihl int
	switch {
	case want != Translated:
	case r.proto == protoICMP && isICMPError(r.l4[0]):
		if inner, ihl = quote(r.l4); inner == nil {
			want = Malformed
		}
	case r.proto == protoICMP && r.l4[0] != 0:
		want = NotTracked
	}
	tb := New(Config{MaxEntries: 4})
	var g netip.AddrPort // where the guest's side of the flow is
	if want == Translated {
		reply := refTuple(orig, r)
		seedProto, outside := r.proto, reply.Dst.Addr()
		sp, dp := reply.Dst.Port(), reply.Src.Port()
		dst := reply.Src.Addr()
		if inner != nil {
			q := parseRefQuote(inner, ihl)
			seedProto, outside, dst = q.Proto, q.Src.Addr(), q.Dst.Addr()
			sp, dp = q.Src.Port(), q.Dst.Port()
		}
		g = netip.AddrPortFrom(guest, sp)
		switch {
		case fwd && inner == nil && (r.proto == protoTCP || r.proto == protoUDP):
			g = netip.AddrPortFrom(guest, sp^0x8001)
			tb.AddForward(r.proto, sp, g)
		default:
			seed := rawPacket(seedProto, guest, dst, sp, dp, false)
			if v, _ := tb.Outbound(Packet{IP: seed}, outside, now); v != Translated {
				t.Fatalf("seeding the flow: %v", v)
			}
			fwd = false
		}
	}
	p, e := translated(t, orig, partial, want, func(q Packet) (Verdict, *Entry) { return tb.Inbound(q, now) })
	if e == nil {
		return
	}
	if e.Inside.Src != g {
		t.Fatalf("flow of %v, want %v", e.Inside.Src, g)
	}
	wasZero := r.proto == protoUDP && !partial && r.l4[6] == 0 && r.l4[7] == 0
	if inner != nil {
		// Outer destination, quoted source: both the guest's now.
		base := r.hl + 8
		may := []int{10, 11, 16, 17, 18, 19, r.hl + 2, r.hl + 3,
			base + 10, base + 11, base + 12, base + 13, base + 14, base + 15}
		diffOnly(t, orig, p, may...)
		q := parseRefQuote(p[base:r.tl], ihl)
		if pkt := parseRef(p); refTuple(p, pkt).Dst.Addr() != guest || q.Src != g {
			t.Fatalf("error for %v quoting %v, want the guest's %v", refTuple(p, pkt).Dst, q.Src, g)
		}
		checkSums(t, p, false, false)
		return
	}
	diffOnly(t, orig, p, mayChange(r, false)...)
	in := refTuple(orig, r)
	if got, want := refTuple(p, parseRef(p)), (Tuple{in.Proto, in.Src, g}); got != want {
		t.Fatalf("arrived as %v, want %v", got, want)
	}
	checkSums(t, p, partial, wasZero)
	if !fwd {
		return
	}
	// The guest answers the forwarded packet; it leaves from the
	// forwarded port.
	checkAnswer(t, answer(p, partial), true, func(q Packet) (Verdict, *Entry) { return tb.Outbound(q, in.Dst.Addr(), now) },
		e, Tuple{in.Proto, in.Dst, in.Src}, partial, wasZero)
}

// parseRefQuote is the flow of a quoted packet (header of length ihl and
// at least 8 bytes of what follows).
func parseRefQuote(inner []byte, ihl int) Tuple {
	src, dst := netip.AddrFrom4([4]byte(inner[12:16])), netip.AddrFrom4([4]byte(inner[16:20]))
	q := inner[ihl:]
	var sp, dp uint16
	switch inner[9] {
	case protoTCP, protoUDP:
		sp, dp = binary.BigEndian.Uint16(q), binary.BigEndian.Uint16(q[2:])
	case protoICMP:
		sp = binary.BigEndian.Uint16(q[4:])
		dp = sp
	}
	return Tuple{inner[9], netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)}
}
