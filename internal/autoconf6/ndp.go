package autoconf6

import (
	"net/netip"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// Router advertisements (RFC 4861 6.1.2, 6.3.4), prefixes for SLAAC
// (RFC 4862 5.5.3), RDNSS (RFC 8106) and duplicate address detection
// (RFC 4862 5.4).

var allNodesMAC = pkt.MulticastMAC6(pkt.IPv6AllNodes)

// icmpOff is where an ICMPv6 message starts in a frame the client sends.
const icmpOff = pkt.EthernetLen + pkt.IPv6Len

// isLinkLocal reports whether a is in fe80::/10 (IPv6 proper: netip
// calls ::ffff:169.254.0.1 link-local too).
func isLinkLocal(a netip.Addr) bool {
	b := a.As16()
	return a.Is6() && !a.Is4In6() && b[0] == 0xfe && b[1]&0xc0 == 0x80
}

// usablePrefix reports whether an advertised prefix can be on the link
// or give an address: not in ::/8 (unspecified, loopback, IPv4-mapped),
// link-local or multicast.
func usablePrefix(a netip.Addr) bool {
	b := a.As16()
	return b[0] != 0 && b[0] != 0xff && !isLinkLocal(a)
}

// ndpValid applies the checks RFC 4861 7.1 and 6.1.2 share: hop limit
// 255, code 0, the fixed part there, the checksum (when verify),
// well-formed options.
func (c *Client) ndpValid(ip pkt.IPv6, m pkt.ICMPv6, verify bool) bool {
	switch {
	case ip.HopLimit() != 255:
		c.drop(DropHopLimit)
	case len(m) < pkt.NDPOptionsOffset(m.Type()) || m.Code() != 0:
		c.drop(DropBadNDP)
	case verify && !m.ChecksumOK(ip.PseudoHeaderChecksum(pkt.ProtoICMPv6, uint16(len(m)))):
		c.drop(DropBadChecksum)
	default:
		return true
	}
	return false
}

// routerAdvert validates an advertisement and takes what it says.
func (c *Client) routerAdvert(eth pkt.Ethernet, ip pkt.IPv6, m pkt.ICMPv6, verify bool) {
	switch dst := ip.Dst(); {
	case eth.Dst() != c.cfg.MAC && eth.Dst() != allNodesMAC,
		dst != pkt.IPv6AllNodes && dst != c.llAddr:
		c.drop(DropNotForUs)
		return
	case eth.Src() == c.cfg.MAC:
		c.drop(DropOwnFrame)
		return
	case !isLinkLocal(ip.Src()):
		c.drop(DropNotLinkLocal)
		return
	}
	if !c.ndpValid(ip, m, verify) {
		return
	}
	opts := m.NDPOptions()
	for opts.Next() {
		if opts.Type() != pkt.NDPOptSourceLLA {
			continue
		}
		if mac, ok := pkt.NDPLinkLayerAddr(opts.Data()); !ok {
			c.drop(DropBadNDP)
			return
		} else if mac != eth.Src() {
			c.drop(DropSpoofedLLA)
			return
		}
	}
	if opts.Malformed() {
		c.drop(DropBadNDP)
		return
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || c.ll == addrDuplicate {
		c.drop(DropDisabled)
		return
	}
	t := c.cfg.Now().UnixNano()
	ra := pkt.NDPRouterAdvert(m)
	c.event(EventRA)
	c.takeRouter(ip.Src(), eth.Src(), ra.RouterLifetime(), t)
	for opts = ra.Options(); opts.Next(); {
		switch d := opts.Data(); opts.Type() {
		case pkt.NDPOptPrefixInfo:
			c.takePrefix(d, t)
		case pkt.NDPOptMTU:
			if mtu, ok := pkt.NDPMTU(d); ok && mtu >= 1280 && mtu <= c.cfg.LinkMTU {
				c.mtu = mtu
			} else {
				c.drop(DropBadMTU)
			}
		case pkt.NDPOptRDNSS:
			c.takeRDNSS(d, t)
		}
	}
	c.wantDHCP(ra.Flags(), t)
	c.publish(t)
}

// takeRouter adds, refreshes or (lifetime 0) removes a default router. A
// router with a lifetime ends the solicitations (RFC 4861 6.3.7).
func (c *Client) takeRouter(a netip.Addr, mac pkt.MAC, life uint16, t int64) {
	if life > 0 {
		c.rsNext = 0
	}
	until := t + int64(life)*int64(time.Second)
	for i := range c.routers[:c.nRouters] {
		if r := &c.routers[i]; r.addr == a {
			if life == 0 {
				c.removeRouter(i)
			} else {
				r.mac, r.until = mac, until
			}
			return
		}
	}
	switch {
	case life == 0:
	case c.nRouters == MaxRouters:
		c.drop(DropRouterLimit)
	default:
		c.routers[c.nRouters] = router{addr: a, mac: mac, until: until}
		c.nRouters++
	}
}

// takePrefix reads a prefix information option: the on-link flag, and
// with the A flag on a /64 an address by SLAAC, probed before use.
func (c *Client) takePrefix(d []byte, t int64) {
	pi := pkt.NDPPrefixInfo(d)
	if !pi.Valid() {
		c.drop(DropBadNDP)
		return
	}
	onLink, auto := pi.Flags()&pkt.NDPPrefixOnLink != 0, pi.Flags()&pkt.NDPPrefixAuto != 0
	if !onLink && !auto {
		return // nothing in it for a host
	}
	pfx := pi.Prefix()
	valid, pref := pi.ValidLifetime(), pi.PreferredLifetime()
	if !pfx.IsValid() || !usablePrefix(pfx.Masked().Addr()) || pref > valid || auto && !onLink && pfx.Bits() != 64 {
		c.drop(DropBadPrefix)
		return
	}
	pfx = pfx.Masked()
	if auto && pfx.Bits() != 64 {
		// RFC 4862 5.5.3 d: no 64-bit interface identifier fits; the
		// on-link part still holds.
		c.drop(DropBadPrefix)
		auto = false
	}
	for i := range c.prefixes[:c.nPrefixes] {
		if p := &c.prefixes[i]; p.pfx == pfx {
			c.refreshPrefix(i, onLink, auto, valid, pref, t)
			return
		}
	}
	switch {
	case valid == 0:
	case c.nPrefixes == MaxPrefixes:
		c.drop(DropPrefixLimit)
	default:
		c.order++
		c.prefixes[c.nPrefixes] = prefix{pfx: pfx, onLink: onLink, validUntil: lifetime(t, valid),
			prefUntil: min(lifetime(t, pref), lifetime(t, valid)), order: c.order}
		c.nPrefixes++
		if auto {
			c.startSLAAC(&c.prefixes[c.nPrefixes-1], t)
		}
	}
}

// refreshPrefix applies a prefix option to the prefix held at i. The
// valid lifetime of a SLAAC address follows RFC 4862 5.5.3 e: an
// unauthenticated advertisement cannot cut it below two hours, so a
// forged one cannot take the address away.
func (c *Client) refreshPrefix(i int, onLink, auto bool, valid, pref uint32, t int64) {
	p := &c.prefixes[i]
	p.onLink = p.onLink || onLink
	if auto && !p.auto {
		c.startSLAAC(p, t)
	}
	nv := lifetime(t, valid)
	switch {
	case !p.auto:
		if valid == 0 {
			c.nPrefixes--
			copy(c.prefixes[i:], c.prefixes[i+1:c.nPrefixes+1])
			c.prefixes[c.nPrefixes] = prefix{}
			return
		}
		p.validUntil = nv
	case int64(valid)*int64(time.Second) > int64(twoHours) || nv > p.validUntil:
		p.validUntil = nv
	case p.validUntil-t <= int64(twoHours):
		// keep it
	default:
		p.validUntil = t + int64(twoHours)
	}
	p.prefUntil = min(lifetime(t, pref), p.validUntil)
}

// startSLAAC forms the prefix's address from the MAC's EUI-64 and
// probes it.
func (c *Client) startSLAAC(p *prefix, t int64) {
	a, ll := p.pfx.Addr().As16(), c.llAddr.As16()
	copy(a[8:], ll[8:])
	p.auto, p.addr, p.state, p.dadEnd = true, netip.AddrFrom16(a), addrTentative, t+int64(retransTimer)
	c.sendDADProbe(p.addr)
}

// takeRDNSS adds, refreshes or (lifetime 0) removes the servers of an
// RDNSS option.
func (c *Client) takeRDNSS(d []byte, t int64) {
	r := pkt.NDPRDNSS(d)
	if !r.Valid() {
		c.drop(DropBadNDP)
		return
	}
	until := lifetime(t, r.Lifetime())
next:
	for k := range r.Count() {
		a := r.Addr(k)
		if !a.Is6() || a.Is4In6() || a.IsMulticast() || a.IsUnspecified() || a.IsLoopback() {
			c.drop(DropBadNDP)
			continue
		}
		for i := range c.rdnss[:c.nRDNSS] {
			if s := &c.rdnss[i]; s.addr == a {
				if r.Lifetime() == 0 {
					c.nRDNSS--
					copy(c.rdnss[i:], c.rdnss[i+1:c.nRDNSS+1])
					c.rdnss[c.nRDNSS] = dnsServer{}
				} else {
					s.until = until
				}
				continue next
			}
		}
		switch {
		case r.Lifetime() == 0:
		case c.nRDNSS == MaxDNS:
			c.drop(DropDNSLimit)
		default:
			c.rdnss[c.nRDNSS] = dnsServer{addr: a, until: until}
			c.nRDNSS++
		}
	}
}

// neighbour reads a solicitation or advertisement for DAD: one that
// claims an address being probed makes it a duplicate (RFC 4862 5.4.3,
// 5.4.4). A solicitation from a unicast source is address resolution,
// not a probe, and claims nothing.
func (c *Client) neighbour(eth pkt.Ethernet, ip pkt.IPv6, m pkt.ICMPv6, verify bool) {
	if c.tentative.Load() == 0 || eth.Src() == c.cfg.MAC {
		return // nothing being probed; or our own probe looped back
	}
	if len(m) < pkt.NDPNeighSolicitLen {
		return // the uplink's to count
	}
	target := pkt.NDPNeighSolicit(m).Target()
	if m.Type() == pkt.ICMPv6NeighSolicit && !ip.Src().IsUnspecified() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.isTentative(target) || !c.ndpValid(ip, m, verify) {
		return
	}
	t := c.cfg.Now().UnixNano()
	c.event(EventDADConflict)
	switch {
	case target == c.llAddr:
		// RFC 4862 5.4.5: with its link-local address taken, the
		// interface does no IPv6 at all.
		c.ll, c.rsNext = addrDuplicate, 0
		c.dhcp.phase = dhcpIdle
	case c.dhcp.addr == target:
		c.leaseDuplicate(t)
	default:
		for i := range c.prefixes[:c.nPrefixes] {
			if p := &c.prefixes[i]; p.auto && p.addr == target {
				p.state = addrDuplicate
			}
		}
	}
	c.countTentative()
	c.publish(t)
}

// isTentative reports whether a is an address being probed.
func (c *Client) isTentative(a netip.Addr) bool {
	if c.ll == addrTentative && a == c.llAddr || c.dhcp.addrState == addrTentative && a == c.dhcp.addr {
		return true
	}
	for i := range c.prefixes[:c.nPrefixes] {
		if p := &c.prefixes[i]; p.auto && p.state == addrTentative && p.addr == a {
			return true
		}
	}
	return false
}

// countTentative keeps the count neighbour reads without the lock.
func (c *Client) countTentative() {
	n := int32(0)
	if c.ll == addrTentative {
		n++
	}
	if c.dhcp.addrState == addrTentative {
		n++
	}
	for i := range c.prefixes[:c.nPrefixes] {
		if c.prefixes[i].state == addrTentative {
			n++
		}
	}
	c.tentative.Store(n)
}

// sendDADProbe solicits target from the unspecified address, without a
// link-layer address option (RFC 4862 5.4.2).
func (c *Client) sendDADProbe(target netip.Addr) {
	b := c.buf[:]
	pkt.NDPNeighSolicit(b[icmpOff:]).Encode(target)
	group := pkt.SolicitedNode(target)
	c.sendICMPv6(pkt.MulticastMAC6(group), netip.IPv6Unspecified(), group, pkt.NDPNeighSolicitLen)
}

// sendRS solicits routers from the link-local address, with the MAC as
// source link-layer address (RFC 4861 6.3.7).
func (c *Client) sendRS() {
	b := c.buf[icmpOff:]
	pkt.ICMPv6(b).EncodeHeader(pkt.ICMPv6RouterSolicit, 0, 0)
	w := pkt.NDPOptionWriter{B: b, N: pkt.NDPRouterSolicitLen}
	w.AddLinkLayerAddr(pkt.NDPOptSourceLLA, c.cfg.MAC)
	c.sendICMPv6(pkt.MulticastMAC6(pkt.IPv6AllRouters), c.llAddr, pkt.IPv6AllRouters, w.N)
}

// sendICMPv6 frames the n-byte ICMPv6 message at c.buf[icmpOff:] with
// hop limit 255 and sends it.
func (c *Client) sendICMPv6(dmac pkt.MAC, src, dst netip.Addr, n int) {
	b := c.buf[:]
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: dmac, Src: c.cfg.MAC, Type: pkt.TypeIPv6})
	ip := pkt.IPv6(b[pkt.EthernetLen:])
	ip.Encode(&pkt.IPv6Fields{PayloadLen: uint16(n), NextHeader: pkt.ProtoICMPv6, HopLimit: 255, Src: src, Dst: dst})
	pkt.ICMPv6(b[icmpOff : icmpOff+n]).SetChecksum(ip.PseudoHeaderChecksum(pkt.ProtoICMPv6, uint16(n)))
	c.send(icmpOff + n)
}

// send pads the frame at c.buf to Ethernet's minimum and sends it.
func (c *Client) send(end int) {
	clear(c.buf[end:max(end, 60)])
	if c.cfg.Send != nil {
		c.cfg.Send(c.buf[:max(end, 60)])
	}
}
