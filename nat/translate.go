package nat

import (
	"encoding/binary"
	"net/netip"

	"github.com/vswitch/vswitch/internal/pkt"
)

const (
	protoICMP = pkt.ProtoICMP
	protoTCP  = pkt.ProtoTCP
	protoUDP  = pkt.ProtoUDP
)

// Verdict is what became of a packet.
type Verdict uint8

const (
	Translated Verdict = iota
	NotTracked         // inbound with no flow: unsolicited, drop
	TableFull          // a new flow, but the table is full: drop
	Malformed          // too short for its protocol
	Fragment           // a later fragment of a datagram whose first fragment was not seen: drop
)

var verdictNames = [...]string{"translated", "not_tracked", "conntrack_full", "malformed", "fragment"}

func (v Verdict) String() string { return verdictNames[v] }

// Packet describes the IPv4 packet to translate.
type Packet struct {
	IP []byte // from the IPv4 header to the end of the packet
	// Partial: the TCP/UDP checksum field holds only the pseudo-header sum
	// (CHECKSUM_PARTIAL from a virtio-net header); it is updated for the
	// address change and the rest is left to whoever finishes it.
	Partial bool
}

// csum adjusts a checksum field for a 16-bit word going from old to new:
// a complete checksum (RFC 1624 eqn. 3) or a partial, uncomplemented sum.
func csum(field []byte, old, new uint16, partial bool) {
	v := binary.BigEndian.Uint16(field)
	if partial {
		v = pkt.ChecksumCombine(pkt.ChecksumCombine(v, ^old), new)
	} else {
		v = pkt.ChecksumUpdate16(v, old, new)
	}
	binary.BigEndian.PutUint16(field, v)
}

// setAddr writes a into b[0:4], fixing the complete checksum fields f1
// and f2 (either may be nil) and a partial one (the L4 field when the
// address is in its pseudo-header). Plain arguments, not a slice of
// fields: that would escape and allocate per packet.
func setAddr(b []byte, a netip.Addr, f1, f2, partialField []byte) {
	n := a.As4()
	for i := 0; i < 4; i += 2 {
		old := binary.BigEndian.Uint16(b[i:])
		nw := binary.BigEndian.Uint16(n[i:])
		if f1 != nil {
			csum(f1, old, nw, false)
		}
		if f2 != nil {
			csum(f2, old, nw, false)
		}
		if partialField != nil {
			csum(partialField, old, nw, true)
		}
	}
	copy(b[:4], n[:])
}

// setPort writes p into b[0:2], fixing a complete checksum field (ports
// are not in a pseudo-header, so a partial sum does not change).
func setPort(b []byte, p uint16, field []byte) {
	old := binary.BigEndian.Uint16(b)
	if field != nil {
		csum(field, old, p, false)
	}
	binary.BigEndian.PutUint16(b, p)
}

// l4 returns the layer-4 view of a packet and its checksum field (nil
// when there is none to update: UDP with checksum 0).
func l4(p pkt.IPv4) (proto uint8, b []byte, ok bool) {
	b = p.Payload()
	switch p.Protocol() {
	case protoTCP:
		return protoTCP, b, len(b) >= 20
	case protoUDP:
		return protoUDP, b, len(b) >= 8
	case protoICMP:
		return protoICMP, b, len(b) >= 8
	}
	return p.Protocol(), b, true
}

func l4Field(proto uint8, b []byte, partial bool) []byte {
	switch proto {
	case protoTCP:
		return b[16:18]
	case protoUDP:
		if !partial && b[6] == 0 && b[7] == 0 {
			return nil // no checksum stays no checksum
		}
		return b[6:8]
	}
	return nil
}

// udpNonZero keeps a rewritten UDP checksum from reading as "none": a
// sum that comes out 0x0000 is sent as 0xffff (RFC 768), as Linux's
// CSUM_MANGLED_0 does. field is nil when there is nothing to fix.
func udpNonZero(proto uint8, field []byte) {
	if proto == protoUDP && field != nil && field[0] == 0 && field[1] == 0 {
		field[0], field[1] = 0xff, 0xff
	}
}

// splitField sorts the L4 checksum field into a complete or a partial one.
func splitField(field []byte, partial bool) (full, part []byte) {
	if partial {
		return nil, field
	}
	return field, nil
}

// portTuple is the tuple of a TCP or UDP packet by its ports, of any other
// protocol by its addresses alone (ICMP's callers fill in the identifier).
func portTuple(ip pkt.IPv4, proto uint8, b []byte) Tuple {
	t := Tuple{Proto: proto, Src: netip.AddrPortFrom(ip.Src(), 0), Dst: netip.AddrPortFrom(ip.Dst(), 0)}
	if proto == protoTCP || proto == protoUDP {
		t.Src = netip.AddrPortFrom(ip.Src(), binary.BigEndian.Uint16(b[0:]))
		t.Dst = netip.AddrPortFrom(ip.Dst(), binary.BigEndian.Uint16(b[2:]))
	}
	return t
}

// followFragment translates a later fragment like the first fragment of
// its datagram was: only the address changes (the ports and the L4
// checksum were in the first fragment).
func (t *Table) followFragment(p Packet, fk fragKey, outbound bool) (Verdict, *Entry) {
	f, ok := t.frags.Load(fk)
	if !ok {
		return Fragment, nil
	}
	n := uint64(len(p.IP))
	if outbound {
		setAddr(p.IP[12:16], f.e.Outside.Src.Addr(), p.IP[10:12], nil, nil)
		f.e.pktsOut.Add(1)
		f.e.bytesOut.Add(n)
	} else {
		setAddr(p.IP[16:20], f.e.Inside.Src.Addr(), p.IP[10:12], nil, nil)
		f.e.pktsIn.Add(1)
		f.e.bytesIn.Add(n)
	}
	return Translated, f.e
}

// Outbound translates a packet leaving through the uplink: its source
// becomes outside (and, if needed, a free port). now is unix seconds.
func (t *Table) Outbound(p Packet, outside netip.Addr, now int64) (Verdict, *Entry) {
	ip := pkt.IPv4(p.IP)
	if !ip.Valid() {
		return Malformed, nil
	}
	fk := fragKey{ip.Protocol(), ip.Src(), ip.Dst(), ip.ID()}
	if ip.FlagsFrag()&pkt.IPv4FragMask != 0 {
		return t.followFragment(p, fk, true)
	}
	proto, b, ok := l4(ip)
	if !ok {
		return Malformed, nil
	}
	in := portTuple(ip, proto, b)
	switch proto {
	case protoICMP:
		if b[0] != pkt.ICMPEchoRequest {
			return NotTracked, nil // only echo starts a flow; errors go the other way
		}
		id := binary.BigEndian.Uint16(b[4:])
		in.Src, in.Dst = netip.AddrPortFrom(ip.Src(), id), netip.AddrPortFrom(ip.Dst(), id)
	}
	e := t.lookupOrCreate(in, outside, now)
	if e == nil {
		return TableFull, nil
	}
	ipsum := p.IP[10:12]
	var field []byte
	if proto == protoTCP || proto == protoUDP {
		field = l4Field(proto, b, p.Partial)
	}
	full, partialField := splitField(field, p.Partial)
	setAddr(p.IP[12:16], e.Outside.Src.Addr(), ipsum, full, partialField)
	switch proto {
	case protoTCP, protoUDP:
		if e.Outside.Src.Port() != in.Src.Port() {
			var f []byte
			if !p.Partial {
				f = field
			}
			setPort(b[0:2], e.Outside.Src.Port(), f)
		}
		udpNonZero(proto, full)
		e.track(proto, b, e.fromOutside)
	case protoICMP:
		if id := e.Outside.Src.Port(); id != in.Src.Port() {
			setPort(b[4:6], id, b[2:4])
		}
	}
	e.pktsOut.Add(1)
	e.bytesOut.Add(uint64(len(p.IP)))
	if e.lastSeen.Load() != now {
		e.lastSeen.Store(now)
	}
	if ip.FlagsFrag()&pkt.IPv4FlagMF != 0 {
		t.frags.Store(fk, fragEntry{e, now}) // the rest of the datagram follows
	}
	return Translated, e
}

// Inbound translates a packet that arrived for the outside address back
// to the guest whose flow it belongs to (including ICMP errors about such
// a flow: outer and inner headers both). Unsolicited packets are
// NotTracked.
func (t *Table) Inbound(p Packet, now int64) (Verdict, *Entry) {
	ip := pkt.IPv4(p.IP)
	if !ip.Valid() {
		return Malformed, nil
	}
	fk := fragKey{ip.Protocol(), ip.Src(), ip.Dst(), ip.ID()}
	if ip.FlagsFrag()&pkt.IPv4FragMask != 0 {
		return t.followFragment(p, fk, false)
	}
	proto, b, ok := l4(ip)
	if !ok {
		return Malformed, nil
	}
	reply := portTuple(ip, proto, b)
	switch proto {
	case protoICMP:
		switch b[0] {
		case pkt.ICMPEchoReply:
			id := binary.BigEndian.Uint16(b[4:])
			reply.Src, reply.Dst = netip.AddrPortFrom(ip.Src(), id), netip.AddrPortFrom(ip.Dst(), id)
		case pkt.ICMPUnreachable, pkt.ICMPTimeExceeded, 12:
			return t.inboundError(p, b, now)
		default:
			return NotTracked, nil
		}
	}
	e := t.lookupReply(reply)
	if e == nil && (proto == protoTCP || proto == protoUDP) {
		e = t.forward(reply, now)
	}
	if e == nil {
		return NotTracked, nil
	}
	var field []byte
	if proto == protoTCP || proto == protoUDP {
		field = l4Field(proto, b, p.Partial)
	}
	full, partialField := splitField(field, p.Partial)
	setAddr(p.IP[16:20], e.Inside.Src.Addr(), p.IP[10:12], full, partialField)
	switch proto {
	case protoTCP, protoUDP:
		if e.Inside.Src.Port() != reply.Dst.Port() {
			var f []byte
			if !p.Partial {
				f = field
			}
			setPort(b[2:4], e.Inside.Src.Port(), f)
		}
		udpNonZero(proto, full)
		e.track(proto, b, !e.fromOutside)
	case protoICMP:
		if id := e.Inside.Src.Port(); id != reply.Dst.Port() {
			setPort(b[4:6], id, b[2:4])
		}
	}
	e.pktsIn.Add(1)
	e.bytesIn.Add(uint64(len(p.IP)))
	if e.lastSeen.Load() != now {
		e.lastSeen.Store(now)
	}
	if ip.FlagsFrag()&pkt.IPv4FlagMF != 0 {
		t.frags.Store(fk, fragEntry{e, now})
	}
	return Translated, e
}

// inboundError translates an ICMP error whose quoted packet is one of our
// outbound packets: the outer destination and the quoted source go back
// to the guest, with the quoted IP checksum and the ICMP checksum fixed,
// so path MTU discovery and traceroute work through the NAT.
func (t *Table) inboundError(p Packet, icmp []byte, now int64) (Verdict, *Entry) {
	inner := pkt.IPv4(icmp[8:])
	if len(inner) < pkt.IPv4MinLen || inner[0]>>4 != 4 {
		return Malformed, nil
	}
	hl := inner.HeaderLen()
	if hl < pkt.IPv4MinLen || len(inner) < hl+8 {
		return Malformed, nil
	}
	q := inner[hl:]
	orig := Tuple{Proto: inner.Protocol()}
	switch orig.Proto {
	case protoTCP, protoUDP:
		orig.Src = netip.AddrPortFrom(inner.Src(), binary.BigEndian.Uint16(q[0:]))
		orig.Dst = netip.AddrPortFrom(inner.Dst(), binary.BigEndian.Uint16(q[2:]))
	case protoICMP:
		id := binary.BigEndian.Uint16(q[4:])
		orig.Src, orig.Dst = netip.AddrPortFrom(inner.Src(), id), netip.AddrPortFrom(inner.Dst(), id)
	default:
		orig.Src, orig.Dst = netip.AddrPortFrom(inner.Src(), 0), netip.AddrPortFrom(inner.Dst(), 0)
	}
	e := t.lookupReply(orig.reverse())
	if e == nil {
		return NotTracked, nil
	}
	icsum := icmp[2:4]
	// The quoted source address: its own header checksum and the ICMP sum
	// (which covers the quote, including that header checksum).
	oldSum := binary.BigEndian.Uint16(inner[10:12])
	setAddr(inner[12:16], e.Inside.Src.Addr(), inner[10:12], icsum, nil)
	csum(icsum, oldSum, binary.BigEndian.Uint16(inner[10:12]), false)
	switch orig.Proto {
	case protoTCP, protoUDP:
		if e.Inside.Src.Port() != orig.Src.Port() {
			setPort(q[0:2], e.Inside.Src.Port(), icsum)
		}
	case protoICMP:
		if e.Inside.Src.Port() != orig.Src.Port() {
			setPort(q[4:6], e.Inside.Src.Port(), icsum)
		}
	}
	// The outer destination: the IP header checksum only (ICMP has no
	// pseudo-header).
	setAddr(p.IP[16:20], e.Inside.Src.Addr(), p.IP[10:12], nil, nil)
	e.pktsIn.Add(1)
	e.bytesIn.Add(uint64(len(p.IP)))
	return Translated, e
}

// track moves a TCP or UDP flow's state on a packet; reply says it goes
// the other way from the flow's first packet (from the remote for a
// guest's flow, from the guest for a port forward's).
func (e *Entry) track(proto uint8, l4 []byte, reply bool) {
	if proto == protoTCP {
		e.trackTCP(l4[13], reply)
	} else if reply && e.state.Load() == StateNew {
		e.state.Store(StateEstablished)
	}
}

// trackTCP moves the state machine on a segment's flags.
func (e *Entry) trackTCP(flags byte, reply bool) {
	const fin, rst, ack = 0x01, 0x04, 0x10
	// An if chain, not a switch: gremlins cannot see coverage of case
	// expressions, and these conditions are worth mutating.
	s := e.state.Load()
	if flags&rst != 0 {
		e.state.Store(StateClosed)
	} else if flags&fin != 0 && s < StateClosing {
		e.state.Store(StateClosing)
	} else if s == StateNew && reply && flags&ack != 0 {
		e.state.Store(StateEstablished)
	}
}
