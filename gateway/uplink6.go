package gateway

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/vswitch/vswitch/internal/autoconf6"
	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// An uplink's IPv6 side (UplinkConfig.Address6): the uplink is a host on
// the outside link with a static address and its link-local address
// (EUI-64 of its MAC). It does duplicate address detection for both when
// it starts, answers neighbour solicitations for them and pings to them,
// and resolves its next hop by solicitation: gateway6, or, without one,
// the router whose advertisement it hears (the RA's source, a link-local
// address). Neighbours are learned only from NS and NA (and the router's
// RA), never from a packet's source, as on the networks (ndp.go). What it
// routes is nat66.go's.

// DefaultMTU is the MTU of a link whose MTU is not given: Ethernet's.
const DefaultMTU = 1500

// uplink6 is an uplink's IPv6 state; nil without Address6.
type uplink6 struct {
	prefix netip.Prefix // the address and its on-link prefix
	ip, ll netip.Addr
	static netip.Addr                 // gateway6 as configured; invalid: learned from RA
	gw     atomic.Pointer[netip.Addr] // the next hop; nil: none known yet
	state  [2]atomic.Int32            // DAD, by stLL and stGlobal
	macs   [3]pkt.MAC                 // all-nodes and the two solicited-node groups
	neigh  *neighbours
	nsTok  tokens
	mtu    int // of the outside link
	// auto is address6: auto's client (uplink_auto6.go): the address,
	// its prefix and the router come from its State, not the fields above.
	auto *autoconf6.Client
	kick atomic.Bool // the client took a frame: its timers may be closer
}

func newUplink6(pfx netip.Prefix, gw netip.Addr, mac pkt.MAC, mtu int) *uplink6 {
	if mtu <= 0 {
		mtu = DefaultMTU
	}
	v := &uplink6{prefix: pfx, ip: pfx.Addr(), ll: pkt.LinkLocalFromMAC(mac), static: gw, neigh: newNeighbours(1024), mtu: mtu}
	v.macs = [3]pkt.MAC{pkt.MulticastMAC6(pkt.IPv6AllNodes),
		pkt.MulticastMAC6(pkt.SolicitedNode(v.ip)), pkt.MulticastMAC6(pkt.SolicitedNode(v.ll))}
	if gw.IsValid() {
		v.gw.Store(&gw)
	}
	return v
}

func (v *uplink6) wantMAC(dst pkt.MAC) bool {
	if v.auto != nil {
		return dst[0] == 0x33 && dst[1] == 0x33 // the groups of whatever address the outside gives
	}
	return dst == v.macs[0] || dst == v.macs[1] || dst == v.macs[2]
}

// own returns which of the uplink's addresses a is (stLL, stGlobal), or -1.
func (v *uplink6) own(a netip.Addr) int {
	if v.auto != nil {
		return autoOwn(v.auto.State(), a)
	}
	switch a {
	case v.ll:
		return stLL
	case v.ip:
		return stGlobal
	}
	return -1
}

func (v *uplink6) usable(i int) bool {
	if v.auto != nil {
		return autoUsable(v.auto.State(), i)
	}
	return v.state[i].Load() == addrPreferred
}

// source is the global address the uplink sends from; invalid while
// there is none (DAD running, a duplicate, nothing learned yet).
func (v *uplink6) source() netip.Addr {
	if v.auto != nil {
		return v.auto.State().Addr.Addr()
	}
	if v.usable(stGlobal) {
		return v.ip
	}
	return netip.Addr{}
}

// onLink reports whether a may be a neighbour on the outside link: the
// on-link prefix or link-local, and not one of the uplink's addresses.
func (v *uplink6) onLink(a netip.Addr) bool {
	if v.auto != nil {
		return autoOnLink(v.auto.State(), a)
	}
	return (a.IsLinkLocalUnicast() || v.prefix.Contains(a)) && v.own(a) < 0
}

// nextHop is where a packet to dst goes: dst itself on the outside
// link's prefix, else the router; invalid when no router is known.
func (v *uplink6) nextHop(dst netip.Addr) netip.Addr {
	if v.auto != nil {
		return v.autoNextHop(dst)
	}
	if v.prefix.Contains(dst) {
		return dst
	}
	if g := v.gw.Load(); g != nil {
		return *g
	}
	return netip.Addr{}
}

// Address6 is the uplink's IPv6 address (invalid without one).
func (u *Uplink) Address6() netip.Prefix {
	if u.v6 == nil {
		return netip.Prefix{}
	}
	if u.v6.auto != nil {
		return u.v6.auto.State().Addr
	}
	return u.v6.prefix
}

// Gateway6 is the IPv6 next hop: gateway6, or the router learned from
// the outside's advertisements; invalid while none is known.
func (u *Uplink) Gateway6() netip.Addr {
	if u.v6 != nil {
		if g := u.v6.gw.Load(); g != nil {
			return *g
		}
		if u.v6.auto != nil {
			return u.v6.auto.State().Router
		}
	}
	return netip.Addr{}
}

// dad6 runs duplicate address detection for the uplink's two addresses
// (RFC 4862 5.4: one probe each, a second's wait), then announces them
// (an unsolicited NA to all nodes, as Linux does) and solicits the next
// hop. wait is time.After (a fake in tests).
func (u *Uplink) dad6(wait func(time.Duration) <-chan time.Time) {
	defer u.wg.Done()
	v := u.v6
	for _, a := range []netip.Addr{v.ll, v.ip} {
		f, b := newFrame()
		u.enqueue(f, writeNS(b, u.mac, netip.IPv6Unspecified(), a))
	}
	select {
	case <-u.done:
		return
	case <-wait(time.Second):
	}
	for i, a := range []netip.Addr{stLL: v.ll, stGlobal: v.ip} {
		if !v.state[i].CompareAndSwap(addrTentative, addrPreferred) {
			u.cfg.Log.Warn("uplink: IPv6 address is in use on the outside link: not used", "uplink", u.cfg.Name, "address", a)
			continue
		}
		f, b := newFrame()
		u.enqueue(f, writeNA(b, u.mac, pkt.MulticastMAC6(pkt.IPv6AllNodes), a, pkt.IPv6AllNodes, pkt.NDPNARouter|pkt.NDPNAOverride))
	}
	if g := v.gw.Load(); g != nil {
		u.solicit6(*g, u.clk.Now())
	}
}

// solicit6 asks the outside link for a neighbour's MAC (rate limited).
func (u *Uplink) solicit6(a netip.Addr, now time.Time) {
	v := u.v6
	src := v.ll
	if g := v.source(); !a.IsLinkLocalUnicast() && g.IsValid() {
		src = g
	}
	if !v.usable(stLL) && src == v.ll || !v.nsTok.allow(now) {
		return
	}
	f, b := newFrame()
	u.enqueue(f, writeNS(b, u.mac, src, a))
}

// control6 handles the ICMPv6 the uplink answers itself: neighbour
// discovery, router advertisements (to learn the router) and pings to
// its addresses. It reports false for anything else, which is traffic
// to route.
func (u *Uplink) control6(eth pkt.Ethernet, ip pkt.IPv6, proto uint8, off int, now time.Time) bool {
	if proto != pkt.ProtoICMPv6 || off+pkt.ICMPv6Len > ip.Len() {
		return false
	}
	c := pkt.ICMPv6(ip[off:ip.Len()])
	typ := c.Type()
	mine := u.v6.own(ip.Dst())
	switch typ {
	case pkt.ICMPv6NeighSolicit, pkt.ICMPv6NeighAdvert, pkt.ICMPv6RouterAdvert:
	case pkt.ICMPv6EchoRequest:
		if mine < 0 || u.v6.own(ip.Src()) >= 0 {
			return false // to route (a routed network's guest), or a hairpin's to NAT
		}
	case pkt.ICMPv6RouterSolicit, pkt.ICMPv6Redirect, pkt.ICMPv6MLDQuery, pkt.ICMPv6MLDReport, pkt.ICMPv6MLDDone, pkt.ICMPv6MLDv2Report:
		return true // not a router on the outside; redirects are not followed
	default:
		return false
	}
	if !c.ChecksumOK(ip.PseudoHeaderChecksum(pkt.ProtoICMPv6, uint16(len(c)))) {
		u.drops[UplinkMalformed].Add(1)
		return true
	}
	if typ == pkt.ICMPv6EchoRequest {
		if u.v6.usable(mine) && c.Code() == 0 {
			u.echo6(eth, ip, c)
		}
		return true
	}
	lla, has, ok := ndpCheck(ip, c)
	if !ok {
		u.drops[UplinkMalformed].Add(1)
		return true
	}
	switch typ {
	case pkt.ICMPv6NeighSolicit:
		u.neighSolicit6(eth, ip, pkt.NDPNeighSolicit(c).Target(), lla, has, now)
	case pkt.ICMPv6NeighAdvert:
		u.neighAdvert6(eth, pkt.NDPNeighAdvert(c).Target(), lla, has, now)
	case pkt.ICMPv6RouterAdvert:
		u.routerAdvert6(eth, ip, pkt.NDPRouterAdvert(c), lla, has, now)
	}
	return true
}

// neighSolicit6 answers a solicitation for one of the uplink's addresses;
// a DAD probe for a tentative one makes it a duplicate.
func (u *Uplink) neighSolicit6(eth pkt.Ethernet, ip pkt.IPv6, t netip.Addr, lla pkt.MAC, has bool, now time.Time) {
	v := u.v6
	mine := v.own(t)
	src := ip.Src()
	switch {
	case mine < 0:
		return
	case v.state[mine].Load() == addrTentative:
		if src.IsUnspecified() {
			v.state[mine].Store(addrDuplicate)
		}
		return
	case !v.usable(mine) || has && lla != eth.Src():
		return
	}
	dmac, dst, flags := eth.Src(), src, uint8(pkt.NDPNARouter|pkt.NDPNASolicited|pkt.NDPNAOverride)
	if src.IsUnspecified() {
		// Someone probing the uplink's address: tell every node it is taken.
		dmac, dst, flags = pkt.MulticastMAC6(pkt.IPv6AllNodes), pkt.IPv6AllNodes, pkt.NDPNARouter|pkt.NDPNAOverride
	} else if !v.onLink(src) {
		return
	} else if has {
		v.neigh.learn(src, lla, now)
	}
	f, b := newFrame()
	u.enqueue(f, writeNA(b, u.mac, dmac, t, dst, flags))
}

// neighAdvert6 learns an outside neighbour; one for a tentative address
// of the uplink makes it a duplicate.
func (u *Uplink) neighAdvert6(eth pkt.Ethernet, t netip.Addr, lla pkt.MAC, has bool, now time.Time) {
	v := u.v6
	if mine := v.own(t); mine >= 0 {
		v.state[mine].CompareAndSwap(addrTentative, addrDuplicate)
		return
	}
	if !v.onLink(t) || has && lla != eth.Src() {
		return
	}
	v.neigh.learn(t, eth.Src(), now)
}

// routerAdvert6 takes the advertising router as the next hop when no
// gateway6 is configured (a router lifetime of 0 withdraws it), and
// learns its MAC from the source link-layer option.
func (u *Uplink) routerAdvert6(eth pkt.Ethernet, ip pkt.IPv6, ra pkt.NDPRouterAdvert, lla pkt.MAC, has bool, now time.Time) {
	v := u.v6
	src := ip.Src()
	if !src.IsLinkLocalUnicast() { // RFC 4861 6.1.2
		u.drops[UplinkMalformed].Add(1)
		return
	}
	if has && lla == eth.Src() {
		v.neigh.learn(src, lla, now)
	}
	if v.static.IsValid() {
		return
	}
	cur := v.gw.Load()
	switch {
	case ra.RouterLifetime() == 0:
		if cur != nil && *cur == src {
			v.gw.CompareAndSwap(cur, nil)
		}
	case cur == nil || *cur != src:
		v.gw.Store(&src)
		u.cfg.Log.Info("uplink: IPv6 router learned", "uplink", u.cfg.Name, "router", src)
	}
}

// echo6 answers a ping to one of the uplink's addresses.
func (u *Uplink) echo6(eth pkt.Ethernet, ip pkt.IPv6, c pkt.ICMPv6) {
	n := len(c)
	if icmp6Off+n > vswitch.SmallDataLen {
		return // a ping larger than a frame comes fragmented: not answered
	}
	f, b := newFrame()
	copy(b[icmp6Off:], c)
	pkt.ICMPv6(b[icmp6Off:icmp6Off+n]).EncodeHeader(pkt.ICMPv6EchoReply, 0, c.Word())
	u.enqueue(f, writeICMPv6(b, u.mac, eth.Src(), ip.Dst(), ip.Src(), 64, n))
}
