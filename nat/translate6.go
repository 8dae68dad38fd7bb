package nat

import (
	"encoding/binary"
	"net/netip"

	"github.com/vswitch/vswitch/internal/pkt"
)

// NAT66: the IPv6 packets of the same table. Flows are keyed by the same
// Tuple (netip.AddrPort holds either family), so an IPv6 flow never meets
// an IPv4 one; a table's outside addresses are one of each family. IPv6
// has no header checksum: the address change is in the TCP, UDP or
// ICMPv6 checksum alone, whose pseudo-header holds the addresses.

// Outbound6 translates an IPv6 packet leaving through the uplink (NAT66
// masquerade, as Linux's ip6tables MASQUERADE): its source becomes
// outside (and, if needed, a free port or echo identifier). now is unix
// seconds. A packet that is a fragment is refused (Fragment): a NAT66
// router must not fragment, and the ports are only in the first piece.
func (t *Table) Outbound6(p Packet, outside netip.Addr, now int64) (Verdict, *Entry) {
	return t.translate6(p, out, outside, now)
}

// Inbound6 translates an IPv6 packet that arrived for the outside
// address back to the guest whose flow it belongs to, including ICMPv6
// errors about such a flow (outer destination and quoted source both).
func (t *Table) Inbound6(p Packet, now int64) (Verdict, *Entry) {
	return t.translate6(p, in, netip.Addr{}, now)
}

func (t *Table) translate6(p Packet, d dir, outside netip.Addr, now int64) (Verdict, *Entry) {
	ip := pkt.IPv6(p.IP)
	if !ip.Valid() {
		return Malformed, nil
	}
	proto, off, ok := ip.UpperLayer()
	switch {
	case !ok:
		return Malformed, nil
	case proto == pkt.ProtoFragment:
		return Fragment, nil
	}
	b := p.IP[off:ip.Len()]
	if !l4Complete6(proto, b) || proto == pkt.ProtoUDP && !p.Partial && pkt.UDP(b).Checksum() == 0 {
		// A zero UDP checksum is none, which IPv6 does not allow (RFC 8200
		// 8.1: the receiver discards it); the rewrite could not keep it.
		return Malformed, nil
	}
	if proto == pkt.ProtoICMPv6 {
		switch typ := b[0]; {
		case d == out && typ != pkt.ICMPv6EchoRequest:
			return NotTracked, nil // only echo starts a flow; errors go the other way
		case d == in && pkt.IsICMPv6Error(typ) && typ <= pkt.ICMPv6ParamProblem:
			return t.inboundError6(ip, pkt.ICMPv6(b))
		case d == in && typ != pkt.ICMPv6EchoReply:
			return NotTracked, nil
		}
	}
	e, v := t.flow(flowTuple6(proto, ip.Src(), ip.Dst(), b), d, outside, now)
	if e == nil {
		return v, nil
	}
	rewrite6(ip, proto, b, d, e.to(d), p.Partial)
	segs, hdr := p.segmentsL4(proto, b)
	if segs > 1 {
		hdr += off
	}
	e.passed(proto, b, d, segs, ip.Len()+(segs-1)*hdr, now)
	return Translated, e
}

// quotedChecksum is where the checksum of proto's header sits.
var quotedChecksum = [256]int{pkt.ProtoTCP: pkt.TCPChecksumOffset, pkt.ProtoUDP: pkt.UDPChecksumOffset, pkt.ProtoICMPv6: pkt.ICMPv6ChecksumOffset}

// l4Complete6 reports whether l4 holds the whole header of proto (an
// ICMPv6 message at least its 8-byte header).
func l4Complete6(proto uint8, l4 []byte) bool {
	if proto == pkt.ProtoICMPv6 {
		return len(l4) >= pkt.ICMPv6Len
	}
	return l4Complete(proto, l4)
}

// flowTuple6 is flowTuple for IPv6: ICMPv6 echo by its identifier.
func flowTuple6(proto uint8, src, dst netip.Addr, l4 []byte) Tuple {
	if proto == pkt.ProtoICMPv6 {
		id := pkt.ICMPv6(l4).Ident()
		return Tuple{Proto: proto, Src: netip.AddrPortFrom(src, id), Dst: netip.AddrPortFrom(dst, id)}
	}
	return flowTuple(proto, src, dst, l4)
}

// rewrite6 is rewrite for IPv6: the address in the header and in the
// upper layer's pseudo-header, the port or echo identifier.
func rewrite6(ip pkt.IPv6, proto uint8, l4 []byte, d dir, to netip.AddrPort, partial bool) {
	old := ip.Src()
	if d == in {
		old = ip.Dst()
	}
	switch proto {
	case pkt.ProtoTCP:
		rewritePorts(pkt.TCP(l4), d, old, to, !partial)
	case pkt.ProtoUDP:
		rewritePorts(pkt.UDP(l4), d, old, to, !partial)
	case pkt.ProtoICMPv6:
		c := pkt.ICMPv6(l4)
		c.UpdateChecksumPseudoHeaderAddress(old, to.Addr())
		if c.Ident() != to.Port() {
			c.SetIdent(to.Port())
		}
	}
	if d == out {
		ip.SetSrc(to.Addr())
	} else {
		ip.SetDst(to.Addr())
	}
}

// inboundError6 translates an ICMPv6 error (destination unreachable,
// packet too big, time exceeded, parameter problem) whose quoted packet
// is one of our outbound packets: the outer destination and the quoted
// source go back to the guest, the quoted port or identifier too, and
// the ICMPv6 checksum takes every change (the outer address through its
// pseudo-header, the quote as data). A quote with extension headers
// before its upper layer is not followed (Malformed). The quoted
// upper-layer checksum, when the quote holds it, is put back to what
// the guest sent, as Linux's NAT does (a host may check it).
func (t *Table) inboundError6(ip pkt.IPv6, c pkt.ICMPv6) (Verdict, *Entry) {
	inner := pkt.IPv6(c.Payload())
	if len(inner) < pkt.IPv6Len+8 || inner[0]>>4 != 6 {
		return Malformed, nil
	}
	proto := inner.NextHeader()
	if proto != pkt.ProtoTCP && proto != pkt.ProtoUDP && proto != pkt.ProtoICMPv6 {
		return Malformed, nil
	}
	q := inner[pkt.IPv6Len:]
	if proto == pkt.ProtoICMPv6 && q[0] != pkt.ICMPv6EchoRequest {
		return NotTracked, nil // an error about an error: never ours to send
	}
	sent := flowTuple6(proto, inner.Src(), inner.Dst(), q)
	e := t.lookupReply(sent.reverse())
	if e == nil || ip.Dst() != sent.Src.Addr() {
		return NotTracked, nil
	}
	g := e.Inside.Src
	sum := pkt.ChecksumUpdateAddress(c.Checksum(), sent.Src.Addr(), g.Addr()) // the outer pseudo-header's destination
	sum = pkt.ChecksumUpdateAddress(sum, sent.Src.Addr(), g.Addr())           // the quoted source
	inner.SetSrc(g.Addr())
	at, csum := 0, quotedChecksum[proto] // the source port of TCP and UDP
	if proto == pkt.ProtoICMPv6 {
		at = 4 // the echo identifier
	}
	if g.Port() != sent.Src.Port() {
		binary.BigEndian.PutUint16(q[at:], g.Port())
		sum = pkt.ChecksumUpdate16(sum, sent.Src.Port(), g.Port())
	}
	if csum+2 <= len(q) && binary.BigEndian.Uint16(q[csum:]) != 0 {
		old := binary.BigEndian.Uint16(q[csum:])
		// The quoted checksum, when quoted, back to what the guest sent:
		// its pseudo-header's source and its port changed.
		qs := pkt.ChecksumUpdate16(pkt.ChecksumUpdateAddress(old, sent.Src.Addr(), g.Addr()), sent.Src.Port(), g.Port())
		binary.BigEndian.PutUint16(q[csum:], qs)
		sum = pkt.ChecksumUpdate16(sum, old, qs)
	}
	binary.BigEndian.PutUint16(c[pkt.ICMPv6ChecksumOffset:], sum)
	ip.SetDst(g.Addr())
	e.count(in, 1, ip.Len())
	return Translated, e
}
