package dhcp6

import (
	"net/netip"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// msg is one message being served: what Handle parsed and where the
// reply is being written. It lives on Handle's stack.
type msg struct {
	m    pkt.DHCPv6
	o    pkt.DHCPv6OptionSet
	from From
	now  time.Time
	w    pkt.DHCPv6Writer
	// bind: the reply binds, extends, releases or declines a lease, so it
	// leaves only once the leases are on disk.
	bind bool
}

// Handle serves one message from a client on the link and writes the
// reply into buf (1500 bytes is always enough). It returns false when
// there is nothing to send now: the message was dropped (counted), or
// its reply waits for the disk and Config.Deliver will send it.
func (s *Server) Handle(m pkt.DHCPv6, from From, buf []byte) (Reply, bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.rate.Allow(from.MAC, now.UnixNano()) {
		return s.drop(DropRateLimited)
	}
	if !m.Valid() {
		return s.drop(DropMalformed)
	}
	t := m.Type()
	if t < numTypes {
		s.msgs[t].Add(1)
	}
	if t == pkt.DHCPv6RelayForw || t == pkt.DHCPv6RelayRepl {
		return s.drop(DropNotForUs) // no relay agents: another header, not parsed
	}
	x := msg{m: m, o: m.ParseOptions(), from: from, now: now, w: pkt.DHCPv6Writer{B: buf}}
	if x.o.Malformed {
		return s.drop(DropMalformed)
	}
	var r DropReason
	switch t {
	case pkt.DHCPv6Solicit:
		r = s.solicit(&x)
	case pkt.DHCPv6Request:
		r = s.request(&x)
	case pkt.DHCPv6Renew, pkt.DHCPv6Rebind:
		r = s.renew(&x, t == pkt.DHCPv6Rebind)
	case pkt.DHCPv6Release, pkt.DHCPv6Decline:
		r = s.release(&x, t == pkt.DHCPv6Decline)
	case pkt.DHCPv6Confirm:
		r = s.confirm(&x)
	case pkt.DHCPv6InfoRequest:
		r = s.info(&x)
	default:
		r = DropNotForUs // a server's or a relay's message
	}
	switch r {
	case dropNone:
	case dropCounted:
		return Reply{}, false
	default:
		return s.drop(r)
	}
	if x.w.Short {
		return s.drop(DropMalformed) // a reply that cannot fit: the client's DUID or IA options were too big
	}
	rep := Reply{Msg: buf[:x.w.N], DstMAC: from.MAC, Dst: from.Src}
	s.msgs[buf[0]].Add(1)
	if x.bind {
		return s.commit(rep)
	}
	return rep, true
}

// dropNone says a message was served, dropCounted that it was dropped
// and counted already; neither is a label.
const (
	dropNone    = NumDrops
	dropCounted = NumDrops + 1
)

func (s *Server) drop(r DropReason) (Reply, bool) {
	s.drops[r].Add(1)
	return Reply{}, false
}

// header starts a reply: type, the client's transaction id, server and
// client id (RFC 8415 18.3).
func (s *Server) header(x *msg, typ uint8) {
	x.w.Header(typ, x.m.TransactionID())
	x.w.Option(pkt.DHCPv6OptServerID, s.duid[:])
	if x.o.ClientID != nil {
		x.w.Option(pkt.DHCPv6OptClientID, x.o.ClientID)
	}
}

// config writes the options every reply with configuration carries: DNS
// servers and the domain search list.
func (s *Server) config(x *msg) {
	if len(s.cfg.DNS) > 0 {
		at := x.w.Begin(pkt.DHCPv6OptDNSServers)
		for _, a := range s.cfg.DNS {
			x.w.Addr(a)
		}
		x.w.End(at)
	}
	if s.cfg.Domain != "" {
		at := x.w.Begin(pkt.DHCPv6OptDomainList)
		x.w.DomainName(s.cfg.Domain)
		x.w.End(at)
	}
}

// checkIDs applies RFC 8415 16's rules on the identifier options: a
// client id always (but INFORMATION-REQUEST), a server id that is ours
// when it must be present, none when it must be absent, and multicast
// for the messages a client may never unicast.
func (s *Server) checkIDs(x *msg, serverID int) DropReason {
	switch {
	case x.o.ClientID == nil && x.m.Type() != pkt.DHCPv6InfoRequest:
		return DropMalformed
	case serverID > 0 && x.o.ServerID == nil, serverID < 0 && x.o.ServerID != nil:
		return DropMalformed
	case x.o.ServerID != nil && string(x.o.ServerID) != string(s.duid[:]):
		return DropNotForUs
	}
	return dropNone
}

// checkMulticast is checkIDs for a message that must come multicast: a
// unicast one is discarded (RFC 8415 16), as not for us.
func (s *Server) checkMulticast(x *msg, serverID int) DropReason {
	if x.from.Unicast {
		return DropNotForUs
	}
	return s.checkIDs(x, serverID)
}

// checkUnicast is checkIDs for the messages a client may unicast only
// when the server invites it (RFC 8415 18.4), which this one never does:
// done when the message is refused (r its reason) or answered with
// UseMulticast (r dropNone).
func (s *Server) checkUnicast(x *msg, serverID int) (r DropReason, done bool) {
	if r := s.checkIDs(x, serverID); r != dropNone {
		return r, true
	}
	if x.from.Unicast {
		return s.useMulticast(x), true
	}
	return dropNone, false
}

// Server id rules for checkIDs.
const (
	serverIDAbsent   = -1
	serverIDOptional = 0
	serverIDRequired = 1
)

// useMulticast answers a unicast message the server never invited
// (it sends no Server Unicast option): a REPLY with UseMulticast (RFC
// 8415 18.4), counted.
func (s *Server) useMulticast(x *msg) DropReason {
	s.drops[DropUseMulticast].Add(1)
	s.header(x, pkt.DHCPv6Reply)
	x.w.Status(pkt.DHCPv6UseMulticast, "use multicast")
	return dropNone
}

// lifetimes are the valid and preferred lifetime of a lease, and its T1
// and T2 (0.5 and 0.8 of it, RFC 8415 21.4's recommendation).
func (s *Server) lifetimes() (valid, t1, t2 uint32) {
	v := uint32(s.cfg.Lease / time.Second)
	return v, v / 2, v / 5 * 4
}

// ia writes an IA_NA with one address and its lifetimes (0 and 0 take an
// address back), or, with no address, the status code.
func (s *Server) ia(x *msg, iaid uint32, a netip.Addr, valid uint32, status uint16, text string) {
	_, t1, t2 := s.lifetimes()
	if !a.IsValid() || valid == 0 {
		t1, t2 = 0, 0
	}
	at := x.w.Begin(pkt.DHCPv6OptIANA)
	x.w.U32(iaid)
	x.w.U32(t1)
	x.w.U32(t2)
	if a.IsValid() {
		ad := x.w.Begin(pkt.DHCPv6OptIAAddr)
		x.w.Addr(a)
		x.w.U32(valid) // preferred = valid: addresses are not deprecated before they go
		x.w.U32(valid)
		x.w.End(ad)
	}
	if status != pkt.DHCPv6Success {
		x.w.Status(status, text)
	}
	x.w.End(at)
}

// iaHint is the first address the client put in its IA_NA, if any.
func iaHint(ia pkt.DHCPv6IANA) netip.Addr {
	it := ia.Options().Iter()
	for it.Next() {
		if a := pkt.DHCPv6IAAddr(it.Data()); it.Code() == pkt.DHCPv6OptIAAddr && a.Valid() {
			return a.Addr()
		}
	}
	return netip.Addr{}
}

func (s *Server) solicit(x *msg) DropReason {
	if r := s.checkMulticast(x, serverIDAbsent); r != dropNone {
		return r
	}
	if !s.Stateful() {
		return DropStateless
	}
	rapid := x.o.RapidCommit
	typ := uint8(pkt.DHCPv6Advertise)
	if rapid {
		typ = pkt.DHCPv6Reply
	}
	s.header(x, typ)
	if rapid {
		x.w.Option(pkt.DHCPv6OptRapidCommit, nil)
	}
	x.w.Option(pkt.DHCPv6OptPreference, []byte{255}) // the only server: take this one at once (RFC 8415 18.2.1)
	return s.assign(x, !rapid)
}

func (s *Server) request(x *msg) DropReason {
	if r, done := s.checkUnicast(x, serverIDRequired); done {
		return r
	}
	if !s.Stateful() {
		return DropStateless
	}
	s.header(x, pkt.DHCPv6Reply)
	return s.assign(x, false)
}

// assign answers the IA_NA of a SOLICIT or REQUEST, after the header:
// with a lease, an offer when offer is set (an ADVERTISE), else bound
// once it is on disk; or with NoAddrsAvail, at the top level of a
// SOLICIT's answer (RFC 8415 18.3.1) and in the IA of a REQUEST's
// (18.3.2).
func (s *Server) assign(x *msg, offer bool) DropReason {
	if x.o.IANA == nil {
		x.w.Status(pkt.DHCPv6NoAddrsAvail, "only IA_NA is served")
		s.config(x)
		return dropNone
	}
	iaid := x.o.IANA.IAID()
	l, r := s.lease(x, iaid, iaHint(x.o.IANA), offer)
	switch {
	case r == DropPoolExhausted && x.m.Type() == pkt.DHCPv6Solicit:
		s.drops[r].Add(1)
		x.w.Status(pkt.DHCPv6NoAddrsAvail, "no addresses available")
	case r == DropPoolExhausted:
		s.drops[r].Add(1)
		s.ia(x, iaid, netip.Addr{}, 0, pkt.DHCPv6NoAddrsAvail, "no addresses available")
	case r != dropNone:
		return r
	default:
		valid, _, _ := s.lifetimes()
		s.ia(x, iaid, l.IP, valid, pkt.DHCPv6Success, "")
		x.bind = !offer
	}
	s.config(x)
	return dropNone
}

// lease finds or makes the lease of the client's IA: its own one (kept
// or renewed), its host's reservation, or a free dynamic address
// (preferring hint). offer makes a new one an offer that is held for
// offerHold and not stored; otherwise the lease is bound for Lease.
// s.mu is held.
func (s *Server) lease(x *msg, iaid uint32, hint netip.Addr, offer bool) (*lease, DropReason) {
	key := s.clientKey(x.o.ClientID, iaid)
	h, static := s.host(x.o.ClientID, x.from.MAC)
	l := s.byClient[string(key)]
	if l != nil && (static && l.IP != h.IP || !static && !s.inRange(l.IP)) {
		s.remove(l) // the reservations or range changed under it
		l = nil
	}
	if l == nil {
		var a netip.Addr
		switch {
		case static:
			a = h.IP
			if old := s.byIP[a]; old != nil {
				s.remove(old) // another IA of the host's had it
			}
		default:
			if s.macFull(x.from.MAC, x.now) {
				return nil, DropMACLeaseLimit
			}
			if len(s.byIP) >= maxLeases {
				s.reap(x.now)
			}
			var ok bool
			if a, ok = s.pick(hint, x.now); !ok || len(s.byIP) >= maxLeases {
				return nil, DropPoolExhausted
			}
		}
		l = &lease{duid: string(x.o.ClientID), iaid: iaid, mac: x.from.MAC, offered: true}
		l.Network, l.ClientID, l.IP, l.Static = s.cfg.Network, string(key), a, static
		l.MAC = x.from.MAC.String()
		if static {
			l.Hostname = h.Name
		}
		s.add(l)
	}
	if offer {
		if l.offered {
			l.Expiry = x.now.Add(offerHold)
		}
		return l, dropNone // a bound lease is advertised as it is: only a write extends it
	}
	l.offered = false
	l.State = "bound"
	l.Expiry = x.now.Add(s.cfg.Lease)
	return l, dropNone
}

// own returns the client's lease of its IA, if it has one.
func (s *Server) own(x *msg, iaid uint32) *lease {
	l := s.byClient[string(s.clientKey(x.o.ClientID, iaid))]
	if l == nil || l.offered || !live(l, x.now) {
		return nil
	}
	return l
}

// renew extends the client's lease (RENEW to this server, REBIND to any
// server). An IA the server does not hold: RENEW gets NoBinding (RFC 8415
// 18.3.4); REBIND gets its addresses back with lifetimes 0 when they are
// not on this link, and no answer otherwise (18.3.5).
func (s *Server) renew(x *msg, rebind bool) DropReason {
	sid := serverIDRequired
	if rebind {
		if x.from.Unicast {
			return DropNotForUs
		}
		sid = serverIDAbsent
	}
	if r, done := s.checkUnicast(x, sid); done {
		return r
	}
	if x.o.IANA == nil {
		return DropMalformed
	}
	iaid, hint := x.o.IANA.IAID(), iaHint(x.o.IANA)
	l := s.own(x, iaid)
	s.header(x, pkt.DHCPv6Reply)
	if l == nil {
		s.drops[DropNoBinding].Add(1)
		switch {
		case !rebind:
			s.ia(x, iaid, netip.Addr{}, 0, pkt.DHCPv6NoBinding, "no binding")
		case hint.IsValid() && !s.cfg.Prefix.Contains(hint):
			s.ia(x, iaid, hint, 0, pkt.DHCPv6Success, "")
		default:
			return dropCounted
		}
		s.config(x)
		return dropNone
	}
	if _, r := s.lease(x, iaid, netip.Addr{}, false); r != dropNone {
		return r
	}
	valid, _, _ := s.lifetimes()
	s.ia(x, iaid, l.IP, valid, pkt.DHCPv6Success, "")
	x.bind = true
	s.config(x)
	return dropNone
}

// release ends (RELEASE) or quarantines (DECLINE) the client's leases of
// its IA; a REPLY says Success, with NoBinding for an IA it does not hold
// (RFC 8415 18.3.7, 18.3.8). Only the IA's own client (DUID and IAID)
// reaches its lease, and only an address in the range is quarantined.
func (s *Server) release(x *msg, decline bool) DropReason {
	if r, done := s.checkUnicast(x, serverIDRequired); done {
		return r
	}
	if x.o.IANA == nil {
		return DropMalformed
	}
	s.header(x, pkt.DHCPv6Reply)
	x.w.Status(pkt.DHCPv6Success, "")
	iaid, hint := x.o.IANA.IAID(), iaHint(x.o.IANA)
	l := s.own(x, iaid)
	if l == nil || hint.IsValid() && hint != l.IP {
		s.drops[DropNoBinding].Add(1)
		s.ia(x, iaid, netip.Addr{}, 0, pkt.DHCPv6NoBinding, "no binding")
		return dropNone
	}
	s.remove(l)
	if decline && s.inRange(l.IP) {
		s.decline(l.IP, x.now)
	}
	x.bind = true // the lease's end is written before the REPLY says so
	return dropNone
}

// confirm tells a client that moved whether its addresses are on this
// link: Success, or NotOnLink (RFC 8415 18.3.3); no answer without
// addresses.
func (s *Server) confirm(x *msg) DropReason {
	if r := s.checkMulticast(x, serverIDAbsent); r != dropNone {
		return r
	}
	n, on := 0, true
	it := x.m.Options().Iter()
	for it.Next() {
		if it.Code() != pkt.DHCPv6OptIANA || !pkt.DHCPv6IANA(it.Data()).Valid() {
			continue
		}
		in := pkt.DHCPv6IANA(it.Data()).Options().Iter()
		for in.Next() {
			if a := pkt.DHCPv6IAAddr(in.Data()); in.Code() == pkt.DHCPv6OptIAAddr && a.Valid() {
				n++
				on = on && s.cfg.Prefix.Contains(a.Addr())
			}
		}
	}
	if n == 0 {
		return DropNoBinding
	}
	s.header(x, pkt.DHCPv6Reply)
	if on {
		x.w.Status(pkt.DHCPv6Success, "all addresses on link")
	} else {
		x.w.Status(pkt.DHCPv6NotOnLink, "not on link")
	}
	return dropNone
}

// info answers an INFORMATION-REQUEST with configuration: stateless
// DHCPv6 (RFC 8415 18.3.6). One with an IA option is refused (16.12).
func (s *Server) info(x *msg) DropReason {
	if r := s.checkMulticast(x, serverIDOptional); r != dropNone {
		return r
	}
	if x.o.NumIANA > 0 {
		return DropMalformed
	}
	s.header(x, pkt.DHCPv6Reply)
	s.config(x)
	return dropNone
}
