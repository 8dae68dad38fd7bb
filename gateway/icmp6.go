package gateway

import (
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// icmp6MaxQuote keeps an ICMPv6 error within the minimum IPv6 MTU (RFC
// 4443 2.4(c)): 1280 less the IPv6 and ICMPv6 headers.
const icmp6MaxQuote = 1280 - pkt.IPv6Len - pkt.ICMPv6Len

// echo6 answers a ping to one of the gateway's addresses from that
// address: the request's body back.
func (p *Port) echo6(eth pkt.Ethernet, ip pkt.IPv6, c pkt.ICMPv6) {
	n := len(c)
	if icmp6Off+n > vswitch.SmallDataLen {
		return // larger than a frame: it came fragmented, dropped above
	}
	f, b := newFrame()
	copy(b[icmp6Off:], c)
	r := pkt.ICMPv6(b[icmp6Off : icmp6Off+n])
	r.EncodeHeader(pkt.ICMPv6EchoReply, 0, c.Word())
	p.send(f, writeICMPv6(b, p.mac, eth.Src(), ip.Dst(), ip.Src(), 64, n))
}

// icmp6Error answers a packet with an ICMPv6 error quoting it, rate
// limited with the IPv4 errors. Never about an error, a packet to a
// group, or one from an address that cannot be answered (RFC 4443
// 2.4(e)).
func (p *Port) icmp6Error(eth pkt.Ethernet, ip pkt.IPv6, typ, code uint8, word uint32, now time.Time) {
	src := ip.Src()
	if src.IsUnspecified() || src.IsMulticast() || ip.Dst().IsMulticast() {
		return
	}
	if proto, off, ok := ip.UpperLayer(); ok && proto == pkt.ProtoICMPv6 &&
		(ip.Len()-off < 1 || pkt.IsICMPv6Error(ip[off])) {
		return
	}
	if !p.allowICMP(now) {
		p.drops[DropRateLimited].Add(1)
		return
	}
	quote := ip[:min(ip.Len(), icmp6MaxQuote, vswitch.SmallDataLen-icmp6Off-pkt.ICMPv6Len)]
	n := pkt.ICMPv6Len + len(quote)
	f, b := newFrame()
	pkt.ICMPv6(b[icmp6Off:]).EncodeHeader(typ, code, word)
	copy(b[icmp6Off+pkt.ICMPv6Len:], quote)
	p.send(f, writeICMPv6(b, p.mac, eth.Src(), p.v6.srcFor(src), src, 64, n))
}

// tcpReset6 answers a TCP segment to the gateway's IPv6 address (no port
// is open) with a RST, as tcpReset does over IPv4.
func (p *Port) tcpReset6(eth pkt.Ethernet, ip pkt.IPv6, t pkt.TCP) {
	rst, ok := resetFor(t)
	if !ok {
		return
	}
	n := icmp6Off + pkt.TCPMinLen
	f, b := newFrame()
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: eth.Src(), Src: p.mac, Type: pkt.TypeIPv6})
	rip := pkt.IPv6(b[pkt.EthernetLen:])
	rip.Encode(&pkt.IPv6Fields{PayloadLen: pkt.TCPMinLen, NextHeader: pkt.ProtoTCP, HopLimit: 64, Src: ip.Dst(), Dst: ip.Src()})
	rt := pkt.TCP(b[icmp6Off:n])
	rt.Encode(&rst)
	rt.SetChecksum(rip.PseudoHeaderChecksum(pkt.ProtoTCP, pkt.TCPMinLen))
	clear(b[n:max(n, 60)])
	p.send(f, max(n, 60))
}
