package nat

import (
	"net/netip"

	"github.com/vswitch/vswitch/internal/pkt"
)

// dir is the way a packet crosses the NAT, and so which of its ends the
// rewrite changes: the source of a guest's packet going out (SNAT), the
// destination of one arriving for the outside address (its undoing, or a
// port forward's DNAT). It indexes an entry's per-direction counters.
type dir uint8

const (
	out dir = iota // guest -> remote: the source becomes the flow's outside end
	in             // remote -> outside address: the destination becomes the guest's end
)

// addr is the address d rewrites.
func (d dir) addr(ip pkt.IPv4) netip.Addr {
	if d == out {
		return ip.Src()
	}
	return ip.Dst()
}

// setAddr writes the address d rewrites, keeping the header checksum.
func (d dir) setAddr(ip pkt.IPv4, a netip.Addr) {
	if d == out {
		ip.SetSrc(a)
	} else {
		ip.SetDst(a)
	}
}

// to is where an entry sends a packet going d: the source it leaves
// with, or the guest end it arrives at.
func (e *Entry) to(d dir) netip.AddrPort {
	if d == out {
		return e.Outside.Src
	}
	return e.Inside.Src
}

// rewrite points the end of a packet that d names at to: the address
// (IP header and TCP/UDP pseudo-header), the port or echo identifier, every
// checksum updated incrementally. partial: the TCP/UDP field holds only
// the pseudo-header sum (Packet.Partial). l4 is long enough for proto's
// header (checked at the start of translate).
func rewrite(ip pkt.IPv4, proto uint8, l4 []byte, d dir, to netip.AddrPort, partial bool) {
	switch proto {
	case pkt.ProtoTCP:
		rewritePorts(pkt.TCP(l4), d, d.addr(ip), to, !partial)
	case pkt.ProtoUDP:
		rewritePorts(pkt.UDP(l4), d, d.addr(ip), to, !partial)
	case pkt.ProtoICMP:
		// The identifier is the echo's "port"; ICMP has no
		// pseudo-header, so the address is the IP header's alone.
		if c := pkt.ICMPv4(l4); c.Ident() != to.Port() {
			c.SetIdent(to.Port())
		}
	}
	d.setAddr(ip, to.Addr())
}

// rewritePorts does a TCP or UDP header's part of rewrite: the address in
// the pseudo-header goes from old to to's, the port d names becomes to's.
// A type parameter, not a pkt.Transport argument: boxing the view would
// allocate.
func rewritePorts[T pkt.Transport](t T, d dir, old netip.Addr, to netip.AddrPort, fullChecksum bool) {
	t.UpdateChecksumPseudoHeaderAddress(old, to.Addr(), fullChecksum)
	if d == out {
		if t.SrcPort() != to.Port() {
			t.SetSrcPort(to.Port(), fullChecksum)
		}
	} else if t.DstPort() != to.Port() {
		t.SetDstPort(to.Port(), fullChecksum)
	}
}

// flowTuple is the tuple of a packet from src to dst: by its ports for TCP
// and UDP, by its echo identifier (at both ends) for ICMP, by the
// addresses alone for any other protocol. l4 is long enough for proto's
// header, or its first 8 bytes when it is quoted in an ICMP error.
func flowTuple(proto uint8, src, dst netip.Addr, l4 []byte) Tuple {
	var sp, dp uint16
	switch proto {
	case pkt.ProtoTCP, pkt.ProtoUDP:
		// Both headers start with the two ports; the UDP view reads
		// them from a quote too short for a TCP one.
		sp, dp = pkt.UDP(l4).SrcPort(), pkt.UDP(l4).DstPort()
	case pkt.ProtoICMP:
		sp = pkt.ICMPv4(l4).Ident()
		dp = sp
	}
	return Tuple{Proto: proto, Src: netip.AddrPortFrom(src, sp), Dst: netip.AddrPortFrom(dst, dp)}
}
