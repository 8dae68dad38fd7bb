package gateway

import (
	"encoding/binary"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// The gateway's own answers about IPv4 packets, as a Linux host gives
// them: echo replies, ICMP errors (rate limited) and TCP resets.

// echoReply answers a ping: the request's payload back, addresses swapped.
func (p *Port) echoReply(eth pkt.Ethernet, ip pkt.IPv4) {
	body := ip.Payload()
	n := pkt.EthernetLen + pkt.IPv4MinLen + len(body)
	if n > vswitch.SmallDataLen {
		return // a ping larger than a frame arrives fragmented; handled above
	}
	f, b := newFrame()
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: eth.Src(), Src: p.mac, Type: pkt.TypeIPv4})
	icmp := b[pkt.EthernetLen+pkt.IPv4MinLen : n]
	copy(icmp, body)
	icmp[0], icmp[2], icmp[3] = pkt.ICMPEchoReply, 0, 0
	binary.BigEndian.PutUint16(icmp[2:], ^pkt.Checksum(icmp, 0))
	pkt.IPv4(b[pkt.EthernetLen:]).Encode(&pkt.IPv4Fields{TotalLen: uint16(pkt.IPv4MinLen + len(body)),
		ID: uint16(p.ipID.Add(1)), TTL: 64, Protocol: pkt.ProtoICMP, Src: p.ip, Dst: ip.Src()})
	clear(b[n:max(n, 60)]) // zero padding: pooled buffers hold other frames' bytes
	p.send(f, max(n, 60))
}

// icmpError answers with an ICMP error quoting the offending header and
// 8 bytes, rate limited.
func (p *Port) icmpError(eth pkt.Ethernet, ip pkt.IPv4, typ, code uint8, now time.Time) {
	if !p.allowICMP(now) {
		p.drops[DropRateLimited].Add(1)
		return
	}
	quote := ip[:min(len(ip), ip.HeaderLen()+8)]
	n := pkt.EthernetLen + pkt.IPv4MinLen + pkt.ICMPLen + len(quote)
	f, b := newFrame()
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: eth.Src(), Src: p.mac, Type: pkt.TypeIPv4})
	icmp := b[pkt.EthernetLen+pkt.IPv4MinLen : n]
	clear(icmp[:pkt.ICMPLen])
	icmp[0], icmp[1] = typ, code
	copy(icmp[pkt.ICMPLen:], quote)
	binary.BigEndian.PutUint16(icmp[2:], ^pkt.Checksum(icmp, 0))
	pkt.IPv4(b[pkt.EthernetLen:]).Encode(&pkt.IPv4Fields{TotalLen: uint16(n - pkt.EthernetLen),
		ID: uint16(p.ipID.Add(1)), TTL: 64, Protocol: pkt.ProtoICMP, Src: p.ip, Dst: ip.Src()})
	p.send(f, max(n, 60))
}

func (p *Port) allowICMP(now time.Time) bool {
	sec := now.Unix()
	if last := p.lastFill.Load(); last != sec && p.lastFill.CompareAndSwap(last, sec) {
		p.tokens.Store(icmpBurst)
	}
	return p.tokens.Add(-1) >= 0
}

// tcpReset answers a TCP segment to the gateway (no port is open) the way
// Linux does for a closed port (RFC 793 "Reset Generation").
func (p *Port) tcpReset(eth pkt.Ethernet, ip pkt.IPv4) {
	rst, ok := resetFor(pkt.TCP(ip.Payload()))
	if !ok {
		return
	}
	n := pkt.EthernetLen + pkt.IPv4MinLen + pkt.TCPMinLen
	f, b := newFrame()
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: eth.Src(), Src: p.mac, Type: pkt.TypeIPv4})
	rip := pkt.IPv4(b[pkt.EthernetLen:])
	rip.Encode(&pkt.IPv4Fields{TotalLen: pkt.IPv4MinLen + pkt.TCPMinLen, ID: uint16(p.ipID.Add(1)),
		Flags: pkt.IPv4FlagDF, TTL: 64, Protocol: pkt.ProtoTCP, Src: p.ip, Dst: ip.Src()})
	rt := pkt.TCP(b[pkt.EthernetLen+pkt.IPv4MinLen : n])
	rt.Encode(&rst)
	rt.SetChecksum(rip.PseudoHeaderChecksum(pkt.ProtoTCP, pkt.TCPMinLen))
	clear(b[n:60]) // zero padding, as for echo replies
	p.send(f, 60)
}

// resetFor is the RST that answers segment t (RFC 793 "Reset
// Generation"), over IPv4 or IPv6; none for a RST or a short segment.
func resetFor(t pkt.TCP) (pkt.TCPFields, bool) {
	if !t.Valid() || t.Flags()&pkt.TCPFlagRST != 0 { // never answer a RST
		return pkt.TCPFields{}, false
	}
	rst := pkt.TCPFields{SrcPort: t.DstPort(), DstPort: t.SrcPort(), Flags: pkt.TCPFlagRST}
	if t.Flags()&pkt.TCPFlagACK != 0 {
		rst.Seq = t.Ack() // a RST takes its sequence from their ACK
	} else {
		segLen := uint32(len(t.Payload()))
		if t.Flags()&pkt.TCPFlagSYN != 0 {
			segLen++
		}
		if t.Flags()&pkt.TCPFlagFIN != 0 {
			segLen++
		}
		rst.Ack, rst.Flags = t.Seq()+segLen, pkt.TCPFlagRST|pkt.TCPFlagACK
	}
	return rst, true
}
