package dhcp

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// pick chooses the address to offer.
func (s *Server) pick(r request, now time.Time) netip.Addr {
	if h, ok := s.static[r.mac]; ok {
		return h.IP // a reservation always wins
	}
	if cur, ok := s.byClient[r.clientID]; ok && s.assignable(r, cur.IP, now) {
		return cur.IP // sticky
	}
	if r.reqIP.IsValid() && s.inRange(r.reqIP) && s.assignable(r, r.reqIP, now) {
		return r.reqIP
	}
	// A never-used address first, so expired leases stay with their
	// clients as long as possible. The lowest is found from freeFrom on:
	// a flood of new clients costs one step each, not a walk over every
	// lease.
	from := s.cfg.RangeStart
	if from.Less(s.freeFrom) {
		from = s.freeFrom
	}
	// The hint moves only over addresses that stay taken until a lease
	// leaves byIP (drop lowers it again), not over quarantined ones.
	advance := true
	for a := from; a.IsValid() && !s.cfg.RangeEnd.Less(a); a = a.Next() {
		if s.quarantined(a, now) {
			advance = false
			continue
		}
		if s.staticIP[a] || !s.guest(a) {
			continue
		}
		if advance {
			s.freeFrom = a
		}
		if _, used := s.byIP[a]; !used {
			return a // hold takes it; the next search starts here
		}
	}
	var oldest *lease
	for a := s.cfg.RangeStart; a.IsValid() && !s.cfg.RangeEnd.Less(a); a = a.Next() {
		if s.staticIP[a] || !s.guest(a) || s.quarantined(a, now) {
			continue
		}
		l, used := s.byIP[a]
		if !used {
			return a // below the hint only if a test changed the tables under it
		}
		if !l.offered && (l.Expiry.Before(now) || l.State == "released") && (oldest == nil || l.Expiry.Before(oldest.Expiry)) {
			oldest = l
		}
	}
	if oldest != nil {
		ip := oldest.IP
		s.drop(oldest)
		return ip
	}
	return netip.Addr{}
}

func (s *Server) inRange(a netip.Addr) bool {
	return s.cfg.RangeStart.IsValid() && !a.Less(s.cfg.RangeStart) && !s.cfg.RangeEnd.Less(a)
}

// guest reports whether a may be a guest's address: inside the prefix,
// neither the gateway nor, below /31 (RFC 3021), the network or broadcast
// address.
func (s *Server) guest(a netip.Addr) bool {
	p := s.cfg.Gateway.Masked()
	if !p.Contains(a) || a == s.cfg.Gateway.Addr() {
		return false
	}
	return p.Bits() >= 31 || a != p.Addr() && a != broadcast(p)
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	v := binary.BigEndian.Uint32(b[:]) | ^(^uint32(0) << (32 - p.Bits()))
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

func (s *Server) quarantined(a netip.Addr, now time.Time) bool {
	d, ok := s.declined[a]
	return ok && d.until.After(now)
}

// setMAC records the lease's holder and its client's chaddr.
func (l *leaseState) setMAC(holder, chaddr pkt.MAC) {
	l.mac = holder
	if l.hw != chaddr || l.MAC == "" {
		l.hw, l.MAC = chaddr, chaddr.String()
	}
}

// live reports whether l keeps its address from others at now: an
// unexpired offer or binding.
func (l *leaseState) live(now time.Time) bool {
	return l.Expiry.After(now) && (l.offered || l.State == "bound")
}

// full reports whether r's source MAC holds MaxLeasesPerMAC besides the
// lease of r's client id (which the message may keep or replace, but not
// add to). A trusted relay has no limit.
func (s *Server) full(r request, now time.Time) bool {
	if r.trusted {
		return false
	}
	cur := s.byClient[r.clientID]
	if cur != nil && cur.mac == r.src && cur.live(now) {
		// It keeps or replaces what it holds: never more than before, so
		// no need to count (renewals cost no scan).
		return false
	}
	n := 0
	for _, l := range s.byClient {
		if l != cur && l.mac == r.src && l.live(now) {
			n++
		}
	}
	for _, d := range s.declined {
		if d.by == r.src && d.until.After(now) {
			n++
		}
	}
	return n >= s.cfg.MaxLeasesPerMAC
}

// decline quarantines the address of a DECLINE (RFC 2131 4.3.3: the
// client found it in use) if the sender holds it.
func (s *Server) decline(r request, now time.Time) DropReason {
	switch {
	case r.serverID != s.cfg.Gateway.Addr():
		return DropNotOurs
	case !r.reqIP.IsValid():
		return DropNotHolder
	case !s.inRange(r.reqIP) || s.staticIP[r.reqIP]:
		return DropDeclineRange // a static address is its host's whatever it finds
	}
	cur, ok := s.byClient[r.clientID]
	if !ok || cur.IP != r.reqIP || cur.mac != r.src || !cur.live(now) {
		return DropNotHolder
	}
	s.drop(cur)
	if _, ok := s.declined[r.reqIP]; !ok && len(s.declined) >= maxDeclined {
		var first netip.Addr
		var until time.Time
		for a, d := range s.declined {
			if !first.IsValid() || d.until.Before(until) {
				first, until = a, d.until
			}
		}
		delete(s.declined, first)
	}
	s.declined[r.reqIP] = decline{until: now.Add(Quarantine), by: r.src}
	s.expiresAt(now.Add(Quarantine))
	s.changed()
	return dropNone
}

// assignable reports whether a may go to the client of r.
func (s *Server) assignable(r request, a netip.Addr, now time.Time) bool {
	if !s.guest(a) || s.quarantined(a, now) {
		return false
	}
	if h, ok := s.static[r.mac]; ok {
		return h.IP == a
	}
	if s.staticIP[a] {
		return false
	}
	if !s.inRange(a) {
		return false
	}
	l, used := s.byIP[a]
	if !used || l.ClientID == r.clientID {
		return true
	}
	return !l.offered && (l.Expiry.Before(now) || l.State == "released")
}

// hold records that a is the client's (an offer until a REQUEST binds it).
func (s *Server) hold(r request, a netip.Addr, now time.Time) *lease {
	if cur, ok := s.byClient[r.clientID]; ok && cur.IP != a {
		s.drop(cur)
	}
	if other, ok := s.byIP[a]; ok && other.ClientID != r.clientID {
		s.drop(other)
	}
	l, ok := s.byClient[r.clientID]
	if !ok {
		l = &lease{leaseState: leaseState{Lease: Lease{Network: s.cfg.Network, ClientID: r.clientID, IP: a}}}
		l.setMAC(r.src, r.mac)
		s.byClient[r.clientID] = l
		s.byIP[a] = l
	}
	if l.State != "bound" || l.Expiry.Before(now) {
		l.offered = true
		l.Expiry = now.Add(OfferHold)
		s.expiresAt(l.Expiry)
		l.setMAC(r.src, r.mac) // the offer counts against the MAC it went to
	}
	return l
}

func (s *Server) drop(l *lease) {
	delete(s.byClient, l.ClientID)
	if s.byIP[l.IP] == l {
		delete(s.byIP, l.IP)
		s.freed(l.IP)
	}
}

// freed notes that a may be free again for pick.
func (s *Server) freed(a netip.Addr) {
	if a.Less(s.freeFrom) {
		s.freeFrom = a
	}
}

// expiresAt notes an offer or a quarantine that ends at t.
func (s *Server) expiresAt(t time.Time) {
	if t.Before(s.nextExpiry) {
		s.nextExpiry = t
	}
}

// never is later than any offer or quarantine ends.
var never = time.Unix(1<<40, 0)

// expire forgets offers that were never taken and ended quarantines. It
// walks the tables only when one of them is due (nextExpiry).
func (s *Server) expire(now time.Time) {
	if !s.nextExpiry.Before(now) {
		return
	}
	next := never
	for _, l := range s.byClient {
		if !l.offered {
			continue
		}
		if l.Expiry.Before(now) {
			s.drop(l)
		} else if l.Expiry.Before(next) {
			next = l.Expiry
		}
	}
	for a, d := range s.declined {
		if d.until.Before(now) {
			delete(s.declined, a)
		} else if d.until.Before(next) {
			next = d.until
		}
	}
	s.nextExpiry = next
}
