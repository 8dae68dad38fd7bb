package nat

import (
	"encoding/binary"
	"net/netip"

	"github.com/vswitch/vswitch/internal/label"
	"github.com/vswitch/vswitch/internal/pkt"
)

// Verdict is what became of a packet. Each is a label value (String) for
// the drop counters of whoever hands the table packets.
type Verdict uint8

const (
	Translated  Verdict = iota
	NotTracked          // inbound with no flow: unsolicited, drop
	TableFull           // a new flow, but the table is full: drop
	Malformed           // too short for its protocol
	Fragment            // a later fragment of a datagram whose first fragment was not seen (or lost its record): drop
	SourceLimit         // a new flow, but its source holds Config.MaxPerSource flows: drop
	NumVerdicts
)

var verdictNames = [NumVerdicts]string{
	Translated:  "translated",
	NotTracked:  "not_tracked",
	TableFull:   "conntrack_full",
	Malformed:   "malformed",
	Fragment:    "fragment",
	SourceLimit: "conntrack_source_limit",
}

// String is the label value; "unknown" for a value past the last verdict.
func (v Verdict) String() string { return label.Of(verdictNames[:], v) }

// Packet describes the IPv4 packet to translate.
type Packet struct {
	IP []byte // from the IPv4 header to the end of the packet
	// Partial: the TCP/UDP checksum field holds only the pseudo-header sum
	// (CHECKSUM_PARTIAL from a virtio-net header); it is updated for the
	// address change and the rest is left to whoever finishes it.
	Partial bool
	// GSOSize, when not 0, makes a TCP or UDP packet a GSO super-frame (a
	// virtio-net header's gso_size): it is cut into segments of GSOSize
	// payload bytes after translation. It is translated once, and counted
	// and tracked as its segments would be, one by one (FIN and PSH are
	// on the last segment only, as the kernel's GSO leaves them).
	GSOSize uint16
}

// segments is how many packets p stands for, and the bytes of headers
// each segment after the first repeats: 1 and 0 unless p is a TCP or UDP
// super-frame whose payload passes GSOSize. l4 is the transport header
// and payload, long enough for proto's header.
func (p Packet) segments(proto uint8, l4 []byte) (n, hdr int) {
	n, thl := p.segmentsL4(proto, l4)
	if n == 1 {
		return 1, 0
	}
	return n, pkt.IPv4(p.IP).HeaderLen() + thl
}

// segmentsL4 is segments without the network header: how many packets,
// and the transport header's length (0 for one packet).
func (p Packet) segmentsL4(proto uint8, l4 []byte) (n, thl int) {
	if p.GSOSize == 0 {
		return 1, 0
	}
	switch proto {
	case pkt.ProtoTCP:
		thl = min(max(pkt.TCP(l4).DataOffset(), pkt.TCPMinLen), len(l4))
	case pkt.ProtoUDP:
		thl = pkt.UDPLen
	default:
		return 1, 0
	}
	payload, mss := len(l4)-thl, int(p.GSOSize)
	if payload <= mss {
		return 1, 0
	}
	return (payload + mss - 1) / mss, thl
}

// Outbound translates a packet leaving through the uplink: its source
// becomes outside (and, if needed, a free port). now is unix seconds.
func (t *Table) Outbound(p Packet, outside netip.Addr, now int64) (Verdict, *Entry) {
	return t.translate(p, out, outside, now)
}

// Inbound translates a packet that arrived for the outside address back
// to the guest whose flow it belongs to (including ICMP errors about such
// a flow: outer and inner headers both). Unsolicited packets are
// NotTracked.
func (t *Table) Inbound(p Packet, now int64) (Verdict, *Entry) {
	return t.translate(p, in, netip.Addr{}, now)
}

// translate is Outbound and Inbound: find the packet's flow (d says how),
// then rewrite the end d names to where the flow sends it.
func (t *Table) translate(p Packet, d dir, outside netip.Addr, now int64) (Verdict, *Entry) {
	ip := pkt.IPv4(p.IP)
	if !ip.Valid() {
		return Malformed, nil
	}
	fk := fragKey{ip.Protocol(), ip.Src(), ip.Dst(), ip.ID()}
	if ip.FlagsFrag()&pkt.IPv4FragMask != 0 {
		return t.followFragment(p, fk, d, now)
	}
	proto, b := ip.Protocol(), ip.Payload()
	if !l4Complete(proto, b) {
		return Malformed, nil
	}
	tu := flowTuple(proto, ip.Src(), ip.Dst(), b)
	var e *Entry
	if d == out {
		if proto == pkt.ProtoICMP && pkt.ICMPv4(b).Type() != pkt.ICMPEchoRequest {
			return NotTracked, nil // only echo starts a flow; errors go the other way
		}
		var v Verdict
		if e, v = t.lookupOrCreate(tu, outside, now); e == nil {
			return v, nil
		}
	} else {
		if proto == pkt.ProtoICMP {
			switch pkt.ICMPv4(b).Type() {
			case pkt.ICMPEchoReply:
			case pkt.ICMPUnreachable, pkt.ICMPTimeExceeded, pkt.ICMPParamProblem:
				return t.inboundError(p, b)
			default:
				return NotTracked, nil
			}
		}
		e = t.lookupReply(tu)
		if e == nil && (proto == pkt.ProtoTCP || proto == pkt.ProtoUDP) {
			e = t.forward(tu, now)
		}
		if e == nil {
			return NotTracked, nil
		}
	}
	if ip.FlagsFrag()&pkt.IPv4FlagMF != 0 {
		t.frags.record(fk, e, now) // the rest of the datagram follows
	}
	rewrite(ip, proto, b, d, e.to(d), p.Partial)
	// A reply is a packet against the flow's first: inbound for a
	// guest's flow, outbound for a port forward's.
	reply := (d == in) != e.fromOutside
	segs, hdr := p.segments(proto, b)
	if segs > 1 && proto == pkt.ProtoTCP {
		// The segments before the last: the super-frame's flags without
		// FIN and PSH. trackTCP gives the same state for one of them as
		// for many.
		e.trackTCP(pkt.TCP(b).Flags()&^(pkt.TCPFlagFIN|pkt.TCPFlagPSH), reply)
		e.assure(proto, reply)
	}
	if proto == pkt.ProtoTCP || proto == pkt.ProtoUDP {
		e.track(proto, b, reply)
	}
	e.assure(proto, reply)
	e.count(d, segs, len(p.IP)+(segs-1)*hdr)
	if e.lastSeen.Load() != now {
		e.lastSeen.Store(now)
	}
	return Translated, e
}

// flow finds the flow of a packet with tuple tu going d: outbound, the
// guest's (created if new, with outside as its source); inbound, the one
// it answers, or a new one a port forward accepts. Without a flow it says
// why.
func (t *Table) flow(tu Tuple, d dir, outside netip.Addr, now int64) (*Entry, Verdict) {
	if d == out {
		return t.lookupOrCreate(tu, outside, now)
	}
	e := t.lookupReply(tu)
	if e == nil && (tu.Proto == pkt.ProtoTCP || tu.Proto == pkt.ProtoUDP) {
		e = t.forward(tu, now)
	}
	if e == nil {
		return nil, NotTracked
	}
	return e, Translated
}

// passed moves e's state and counters on a translated packet going d
// that stands for segs segments of size bytes in all (a GSO super-frame
// is several; segments). l4 is its transport header and payload.
// translate6 calls it and flow; translate (IPv4) keeps the same steps
// inline: as calls they cost NAT44 about 10 ns a packet (the minimum of
// BenchmarkTranslateEstablished over ten runs went from 165 to 180 ns).
func (e *Entry) passed(proto uint8, l4 []byte, d dir, segs, size int, now int64) {
	// A reply is a packet against the flow's first: inbound for a
	// guest's flow, outbound for a port forward's.
	reply := (d == in) != e.fromOutside
	if segs > 1 && proto == pkt.ProtoTCP {
		// The segments before the last: the super-frame's flags without
		// FIN and PSH. trackTCP gives the same state for one of them as
		// for many.
		e.trackTCP(pkt.TCP(l4).Flags()&^(pkt.TCPFlagFIN|pkt.TCPFlagPSH), reply)
		e.assure(proto, reply)
	}
	if proto == pkt.ProtoTCP || proto == pkt.ProtoUDP {
		e.track(proto, l4, reply)
	}
	e.assure(proto, reply)
	e.count(d, segs, size)
	if e.lastSeen.Load() != now {
		e.lastSeen.Store(now)
	}
}

// l4Complete reports whether l4 holds the whole header of proto (any
// length will do for a protocol without ports).
func l4Complete(proto uint8, l4 []byte) bool {
	switch proto {
	case pkt.ProtoTCP:
		return len(l4) >= pkt.TCPMinLen
	case pkt.ProtoUDP:
		return len(l4) >= pkt.UDPLen
	case pkt.ProtoICMP:
		return len(l4) >= pkt.ICMPLen
	}
	return true
}

// assure marks the flow assured once a packet has made it so: a TCP
// flow by an established state, any other by a reply.
func (e *Entry) assure(proto uint8, reply bool) {
	if !e.assured.Load() && (proto == pkt.ProtoTCP && e.state.Load() == StateEstablished || proto != pkt.ProtoTCP && reply) {
		e.assured.Store(true)
	}
}

// count adds pkts packets of n bytes in all going d.
func (e *Entry) count(d dir, pkts, n int) {
	e.pkts[d].Add(uint64(pkts))
	e.bytes[d].Add(uint64(n))
}

// followFragment translates a later fragment like the first fragment of
// its datagram was: only the address changes (the ports and the L4
// checksum were in the first fragment).
func (t *Table) followFragment(p Packet, fk fragKey, d dir, now int64) (Verdict, *Entry) {
	ip := pkt.IPv4(p.IP)
	e := t.frags.follow(fk, now, ip.FlagsFrag()&pkt.IPv4FlagMF == 0)
	if e == nil {
		return Fragment, nil
	}
	d.setAddr(ip, e.to(d).Addr())
	e.count(d, 1, len(p.IP))
	return Translated, e
}

// inboundError translates an ICMP error whose quoted packet is one of our
// outbound packets: the outer destination and the quoted source go back
// to the guest, with the quoted IP checksum and the ICMP checksum fixed,
// so path MTU discovery and traceroute work through the NAT. The quoted
// TCP/UDP checksum is left as it is: the quote may end before it.
func (t *Table) inboundError(p Packet, icmp pkt.ICMPv4) (Verdict, *Entry) {
	inner := pkt.IPv4(icmp.Payload())
	if len(inner) == 0 || inner[0]>>4 != 4 {
		return Malformed, nil
	}
	// The header and the 8 bytes after it that name the flow.
	hl := inner.HeaderLen()
	if hl < pkt.IPv4MinLen || len(inner) < hl+8 {
		return Malformed, nil
	}
	q := inner[hl:]
	sent := flowTuple(inner.Protocol(), inner.Src(), inner.Dst(), q)
	e := t.lookupReply(sent.reverse())
	if e == nil {
		return NotTracked, nil
	}
	// The quote is an outbound packet: its source goes back to the
	// guest's end. The ICMP checksum covers the whole quote, so it takes
	// every change: the address, the quoted header's checksum, the port.
	g := e.Inside.Src
	oldSum := inner.Checksum()
	inner.SetSrc(g.Addr())
	c := pkt.ChecksumUpdateAddress(icmp.Checksum(), sent.Src.Addr(), g.Addr())
	c = pkt.ChecksumUpdate16(c, oldSum, inner.Checksum())
	if g.Port() != sent.Src.Port() {
		off := 0 // the source port of TCP and UDP
		if sent.Proto == pkt.ProtoICMP {
			off = 4 // the echo identifier
		}
		binary.BigEndian.PutUint16(q[off:], g.Port())
		c = pkt.ChecksumUpdate16(c, sent.Src.Port(), g.Port())
	}
	binary.BigEndian.PutUint16(icmp[pkt.ICMPChecksumOffset:], c)
	// The outer destination: the IP header checksum only (ICMP has no
	// pseudo-header).
	pkt.IPv4(p.IP).SetDst(g.Addr())
	e.count(in, 1, len(p.IP))
	return Translated, e
}

// track moves a TCP or UDP flow's state on a packet; reply says it goes
// the other way from the flow's first packet (from the remote for a
// guest's flow, from the guest for a port forward's).
func (e *Entry) track(proto uint8, l4 []byte, reply bool) {
	if proto == pkt.ProtoTCP {
		e.trackTCP(pkt.TCP(l4).Flags(), reply)
	} else if reply && e.state.Load() == StateNew {
		e.state.Store(StateEstablished)
	}
}

// trackTCP moves the state machine on a segment's flags.
func (e *Entry) trackTCP(flags byte, reply bool) {
	// An if chain, not a switch: gremlins cannot see coverage of case
	// expressions, and these conditions are worth mutating.
	// A SYN-ACK alone does not establish a flow: a spoofed SYN flood at a
	// port forward is answered by the guest, and must stay evictable and
	// short-lived until the initiator's ACK completes the handshake.
	s := e.state.Load()
	if flags&pkt.TCPFlagRST != 0 {
		e.state.Store(StateClosed)
	} else if flags&pkt.TCPFlagFIN != 0 && (s <= StateEstablished || s == StateSynRecv) {
		e.state.Store(StateClosing)
	} else if s == StateNew && reply && flags&(pkt.TCPFlagSYN|pkt.TCPFlagACK) == pkt.TCPFlagSYN|pkt.TCPFlagACK {
		e.state.Store(StateSynRecv)
	} else if s == StateNew && reply && flags&pkt.TCPFlagACK != 0 {
		e.state.Store(StateEstablished) // an answer mid-stream: a flow picked up again
	} else if s == StateSynRecv && !reply && flags&pkt.TCPFlagACK != 0 {
		e.state.Store(StateEstablished)
	}
}
