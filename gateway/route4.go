package gateway

import (
	"time"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// Routing a network's IPv4 packets: a guest's out through the uplink
// (route), the outside's in to a guest (deliver); routed and put serve
// IPv6 (route6.go, nat66.go) too.

// route sends a guest's packet for the outside through the uplink:
// TTL decremented here, the rest (translation, hairpin, next hop) is the
// uplink's.
func (p *Port) route(eth pkt.Ethernet, ip pkt.IPv4, now time.Time) {
	u := p.cfg.Uplink
	if !u.ready() {
		return // counted by the uplink
	}
	p.neigh.confirm(ip.Src(), eth.Src(), now)
	if ip.TTL() <= 1 {
		p.icmpError(eth, ip, pkt.ICMPTimeExceeded, 0, now)
		p.drops[DropTTLExceeded].Add(1)
		return
	}
	f := p.routed(eth, pkt.EthernetLen+ip.TotalLen())
	f.VNet = p.vnet
	pkt.IPv4(f.Bytes()[pkt.EthernetLen:]).DecTTL()
	u.output(f, p.cfg.Mode == config.ModeNAT, now)
}

// deliver puts a packet from the outside (in f, after a 14-byte Ethernet
// header) onto this network, addressed to the guest's MAC. It reports
// false, and asks the network by ARP, when the guest is not known yet.
func (p *Port) deliver(f *vswitch.Frame, now time.Time) bool {
	b := f.Bytes()
	dst := pkt.IPv4(b[pkt.EthernetLen:]).Dst()
	mac, ok := p.neigh.lookup(dst)
	if !ok {
		p.drops[DropNeighMiss].Add(1)
		if p.arpTok.allow(now) {
			r, rb := newFrame()
			p.send(r, writeARP(rb, pkt.ARPRequest, p.mac, p.ip, pkt.MAC{}, dst))
		}
		return false
	}
	return p.put(f, mac, pkt.TypeIPv4, now)
}

// put addresses f, a packet of Ethernet type typ after a 14-byte Ethernet
// header, to the guest at mac and hands it to the network (deliver,
// deliver6): forwarded by the calling goroutine (the uplink's reader, as
// a rule) once the switch has attached the port, else queued for
// ReadBatch. false means it was counted dropped here; the switch counts
// its own drops on the port.
func (p *Port) put(f *vswitch.Frame, mac pkt.MAC, typ uint16, now time.Time) bool {
	pkt.Ethernet(f.Bytes()).Encode(&pkt.EthernetFields{Dst: mac, Src: p.mac, Type: typ})
	if in := p.in.Load(); in != nil {
		in.Forward(f, now)
		return true
	}
	if !p.q.Put(f) {
		p.drops[DropQueueFull].Add(1)
		return false
	}
	return true
}

// routed is a frame holding the first n bytes of eth, a packet routed on:
// the very frame WriteBatch is handling when eth is in it and the switch
// lets the port keep it (not shared: vswitch.Frame.Take), else a copy. A
// 64 KiB super-frame out through the NAT is then read once and sent once,
// never copied in between. Only on a switch (attached: AddPort), whose
// writers release what WriteBatch leaves in the slots; a caller of
// WriteBatch that keeps its frames (tests, tools) gets copies.
func (p *Port) routed(eth pkt.Ethernet, n int) *vswitch.Frame {
	if f := p.cur; f != nil && p.in.Load() != nil && len(eth) > 0 && f.Len() > 0 && &f.Bytes()[0] == &eth[0] && f.Take(n) {
		p.cur = nil // kept (handleFrame)
		return f
	}
	f := vswitch.NewFrameFor(n)
	copy(f.RxBuf(), eth[:n])
	f.SetLen(n)
	return f
}
