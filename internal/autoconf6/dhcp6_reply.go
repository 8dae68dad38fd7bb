package autoconf6

import (
	"bytes"
	"encoding/binary"
	"net/netip"

	"github.com/vswitch/vswitch/internal/pkt"
)

// The DHCPv6 client's receiving side (dhcp6.go sends): a server's reply
// is read, checked against the exchange running, and taken as an offer,
// a lease or the DNS servers.

// dhcpExtra is what the client reads from a message's top-level options
// beyond DHCPv6.ParseOptions.
type dhcpExtra struct {
	status     uint16 // DHCPv6Success when absent
	pref       uint8
	dns        [MaxDNS]netip.Addr
	nDNS       int
	dnsOver    bool
	refresh    uint32
	hasRefresh bool
	bad        bool
}

func readExtra(m pkt.DHCPv6) (x dhcpExtra) {
	it := m.Options().Iter()
	for it.Next() {
		v := it.Data()
		switch it.Code() {
		case pkt.DHCPv6OptStatusCode:
			if len(v) < 2 {
				x.bad = true
			} else {
				x.status = binary.BigEndian.Uint16(v)
			}
		case pkt.DHCPv6OptPreference:
			if len(v) == 1 {
				x.pref = v[0]
			}
		case pkt.DHCPv6OptDNSServers:
			if len(v)%16 != 0 {
				x.bad = true
				continue
			}
			for ; len(v) > 0; v = v[16:] {
				a := netip.AddrFrom16([16]byte(v[:16]))
				if a.IsMulticast() || a.IsUnspecified() || a.IsLoopback() || a.Is4In6() {
					continue
				}
				if x.nDNS == MaxDNS {
					x.dnsOver = true
					break
				}
				x.dns[x.nDNS] = a
				x.nDNS++
			}
		case pkt.DHCPv6OptInfoRefresh:
			if len(v) == 4 {
				x.refresh, x.hasRefresh = binary.BigEndian.Uint32(v), true
			}
		}
	}
	x.bad = x.bad || it.Malformed()
	return x
}

// iaAddr is the address an IA_NA gives.
type iaAddr struct {
	addr        netip.Addr
	valid, pref uint32
	status      uint16
	found       bool
}

// readIA reads an IA_NA: its status and the address want (any usable
// one when want is invalid). An address whose preferred lifetime is
// above its valid one is ignored (RFC 8415 21.6).
func readIA(ia pkt.DHCPv6IANA, want netip.Addr) (r iaAddr, ok bool) {
	it := ia.Options().Iter()
	for it.Next() {
		switch v := it.Data(); it.Code() {
		case pkt.DHCPv6OptStatusCode:
			if len(v) >= 2 {
				r.status = binary.BigEndian.Uint16(v)
			}
		case pkt.DHCPv6OptIAAddr:
			a := pkt.DHCPv6IAAddr(v)
			if r.found || !a.Valid() || a.PreferredLifetime() > a.ValidLifetime() || !usablePrefix(a.Addr()) {
				continue
			}
			if want.IsValid() && a.Addr() != want {
				continue
			}
			r.addr, r.valid, r.pref, r.found = a.Addr(), a.ValidLifetime(), a.PreferredLifetime(), true
		}
	}
	return r, !it.Malformed()
}

// dhcpReply validates a message to the client port and hands it to the
// exchange waiting for it.
func (c *Client) dhcpReply(eth pkt.Ethernet, ip pkt.IPv6, u pkt.UDP, verify bool) {
	switch {
	case eth.Dst() != c.cfg.MAC || ip.Dst() != c.llAddr:
		c.drop(DropNotForUs)
		return
	case eth.Src() == c.cfg.MAC:
		c.drop(DropOwnFrame)
		return
	case u.SrcPort() != pkt.DHCPv6ServerPort:
		c.drop(DropBadDHCP6)
		return
	case verify && (u.Checksum() == 0 || pkt.Checksum(u[:u.Length()], ip.PseudoHeaderChecksum(pkt.ProtoUDP, uint16(u.Length()))) != 0xffff):
		c.drop(DropBadChecksum) // IPv6 makes the UDP checksum mandatory
		return
	}
	m := pkt.DHCPv6(u.Payload())
	if !m.Valid() {
		c.drop(DropBadDHCP6)
		return
	}
	o := m.ParseOptions()
	if o.Malformed || len(o.ServerID) == 0 {
		c.drop(DropBadDHCP6)
		return
	}
	if !bytes.Equal(o.ClientID, c.dhcp.duid[:]) {
		c.drop(DropDHCP6NotOurs)
		return
	}
	x := readExtra(m)
	if x.bad {
		c.drop(DropBadDHCP6)
		return
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	d := &c.dhcp
	switch {
	case c.stopped || c.ll == addrDuplicate:
		c.drop(DropDisabled)
		return
	case d.phase == dhcpIdle || d.phase == dhcpBound || d.phase == dhcpInformed || d.count == 0 || m.TransactionID() != d.xid:
		c.drop(DropDHCP6NotOurs)
		return
	case (m.Type() == pkt.DHCPv6Advertise) != (d.phase == dhcpSolicit),
		m.Type() != pkt.DHCPv6Advertise && m.Type() != pkt.DHCPv6Reply,
		(d.phase == dhcpRequest || d.phase == dhcpRenew) && !bytes.Equal(o.ServerID, d.server[:d.sLen]):
		c.drop(DropDHCP6Unexpected)
		return
	}
	if x.dnsOver {
		c.drop(DropDNSLimit)
	}
	t := c.cfg.Now().UnixNano()
	switch d.phase {
	case dhcpSolicit:
		c.advertise(o, &x, t)
	case dhcpDecline:
		d.dropLease()
		c.begin(dhcpSolicit, t)
	case dhcpInfo:
		if x.status != pkt.DHCPv6Success {
			c.drop(DropDHCP6Unexpected)
			return
		}
		d.dns, d.nDNS = x.dns, x.nDNS
		r := uint32(infoRefreshDefault)
		if x.hasRefresh {
			r = max(x.refresh, infoRefreshMin)
		}
		d.phase, d.sendAt, d.refreshAt = dhcpInformed, 0, lifetime(t, r)
	default:
		c.leaseReply(o, &x, t)
	}
	c.publish(t)
}

// advertise weighs an ADVERTISE: the best by preference is requested
// when the first RT ends, one with preference 255 or one after the
// first RT at once (RFC 8415 18.2.1, 18.2.9).
func (c *Client) advertise(o pkt.DHCPv6OptionSet, x *dhcpExtra, t int64) {
	d := &c.dhcp
	if x.status != pkt.DHCPv6Success || o.IANA == nil || o.IANA.IAID() != d.iaid {
		c.drop(DropDHCP6NoAddrs)
		return
	}
	r, ok := readIA(o.IANA, netip.Addr{})
	if !ok {
		c.drop(DropBadDHCP6)
		return
	}
	if !r.found || r.status != pkt.DHCPv6Success || r.valid == 0 {
		c.drop(DropDHCP6NoAddrs)
		return
	}
	if !d.adv || x.pref > d.advPref {
		d.adv, d.advPref, d.advAddr = true, x.pref, r.addr
		d.advSLen = copy(d.advServer[:], o.ServerID)
	}
	if x.pref == prefPreferMax || d.count > 1 {
		c.request(t)
	}
}

// leaseReply takes the REPLY to a REQUEST, RENEW or REBIND.
func (c *Client) leaseReply(o pkt.DHCPv6OptionSet, x *dhcpExtra, t int64) {
	d := &c.dhcp
	if x.status != pkt.DHCPv6Success {
		c.drop(DropDHCP6Unexpected) // the exchange goes on (and a REQUEST runs out of tries)
		return
	}
	if o.IANA == nil || o.IANA.IAID() != d.iaid || o.IANA.T2() != 0 && o.IANA.T1() > o.IANA.T2() {
		c.drop(DropBadDHCP6)
		return
	}
	want := d.addr
	if d.phase == dhcpRequest {
		want = netip.Addr{}
	}
	r, ok := readIA(o.IANA, want)
	switch {
	case !ok:
		c.drop(DropBadDHCP6)
		return
	case r.status == pkt.DHCPv6NoBinding && d.phase != dhcpRequest:
		// RFC 8415 18.2.10.1: the server lost the binding; ask for it.
		c.drop(DropDHCP6NoAddrs)
		d.advAddr = d.addr
		c.begin(dhcpRequest, t)
		c.transmit(t)
		return
	case r.status != pkt.DHCPv6Success || !r.found:
		c.drop(DropDHCP6NoAddrs)
		if d.phase == dhcpRequest {
			c.begin(dhcpSolicit, t)
		}
		return
	case r.valid == 0:
		// The server took the address back.
		if d.addrState == addrPreferred {
			c.event(EventAddrExpired)
		}
		d.dropLease()
		c.begin(dhcpSolicit, t)
		return
	}
	if d.phase == dhcpRequest {
		c.event(EventDHCP6Bound)
	} else {
		c.event(EventDHCP6Renewed)
	}
	if r.addr != d.addr {
		c.order++
		d.addr, d.addrState, d.dadEnd, d.order = r.addr, addrTentative, t+int64(retransTimer), c.order
		c.sendDADProbe(r.addr)
	}
	d.sLen = copy(d.server[:], o.ServerID)
	d.validUntil, d.prefUntil = lifetime(t, r.valid), lifetime(t, r.pref)
	// T1 and T2 of 0 leave them to the client: 0.5 and 0.8 of the
	// preferred lifetime (RFC 8415 21.4).
	// A deprecated address (preferred 0) counts from its valid lifetime,
	// so a renewal is never due at once.
	t1, t2, base := o.IANA.T1(), o.IANA.T2(), r.pref
	if base == 0 {
		base = r.valid
	}
	if t1 == 0 {
		t1 = base / 2
	}
	if t2 == 0 {
		t2 = uint32(uint64(base) * 4 / 5)
	}
	if base == 0xffffffff && o.IANA.T1() == 0 {
		t1, t2 = 0xffffffff, 0xffffffff
	}
	d.t1 = min(lifetime(t, t1), d.validUntil)
	d.t2 = max(min(lifetime(t, t2), d.validUntil), d.t1)
	d.dns, d.nDNS = x.dns, x.nDNS
	d.phase, d.sendAt, d.end = dhcpBound, 0, 0
}
