package dhcp6

import (
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// clientKey is a lease's ClientID in the store: the DUID in hex, "/",
// the IAID in decimal. It is built in s.key; the string is made only
// when a new lease is stored (a map lookup with string(b) does not
// allocate). s.mu is held.
func (s *Server) clientKey(duid []byte, iaid uint32) []byte {
	b := hex.AppendEncode(s.key[:0], duid)
	b = append(b, '/')
	b = strconv.AppendUint(b, uint64(iaid), 10)
	s.key = b
	return b
}

// parseKey undoes clientKey; a key it cannot read gives an empty DUID,
// which no client sends, so nobody can renew or release that lease.
func parseKey(k string) (string, uint32) {
	h, n, ok := strings.Cut(k, "/")
	d, err := hex.DecodeString(h)
	iaid, err2 := strconv.ParseUint(n, 10, 32)
	if !ok || err != nil || err2 != nil {
		return "", 0
	}
	return string(d), uint32(iaid)
}

// add indexes l. s.mu is held.
func (s *Server) add(l *lease) {
	s.byClient[l.ClientID] = l
	s.byIP[l.IP] = l
	s.byMAC[l.mac] = append(s.byMAC[l.mac], l)
}

// remove drops l from every index and lets its address go. s.mu is held.
func (s *Server) remove(l *lease) {
	if s.byClient[l.ClientID] == l {
		delete(s.byClient, l.ClientID)
	}
	if s.byIP[l.IP] == l {
		delete(s.byIP, l.IP)
	}
	held := s.byMAC[l.mac]
	for i, h := range held {
		if h == l {
			held = append(held[:i], held[i+1:]...)
			break
		}
	}
	if len(held) == 0 {
		delete(s.byMAC, l.mac)
	} else {
		s.byMAC[l.mac] = held
	}
	if s.inRange(l.IP) && l.IP.Less(s.freeFrom) {
		s.freeFrom = l.IP
	}
}

func (s *Server) inRange(a netip.Addr) bool {
	return s.cfg.RangeStart.IsValid() && s.cfg.RangeStart.Compare(a) <= 0 && a.Compare(s.cfg.RangeEnd) <= 0
}

// live reports whether l still holds its address at now.
func live(l *lease, now time.Time) bool { return l.Expiry.After(now) }

// macFull reports whether m holds MaxLeasesPerMAC live leases, offers
// and quarantined declines; it lets expired ones go first. s.mu is held.
func (s *Server) macFull(m pkt.MAC, now time.Time) bool {
	n := 0
	for _, l := range s.byMAC[m] {
		if live(l, now) {
			n++
		}
	}
	return n >= s.cfg.MaxLeasesPerMAC
}

// host returns the reservation for a client: by DUID, else by the
// frame's MAC or the link-layer address in its DUID-LL or DUID-LLT.
func (s *Server) host(duid []byte, mac pkt.MAC) (Host, bool) {
	dmac, hasMAC := duidMAC(duid)
	for _, h := range s.cfg.Hosts {
		if h.DUID != nil && string(h.DUID) == string(duid) {
			return h, true
		}
	}
	for _, h := range s.cfg.Hosts {
		if h.DUID == nil && (h.MAC == mac || hasMAC && h.MAC == dmac) {
			return h, true
		}
	}
	return Host{}, false
}

// duidMAC is the Ethernet address in a DUID-LLT or DUID-LL.
func duidMAC(d []byte) (pkt.MAC, bool) {
	switch {
	case len(d) == 14 && d[1] == pkt.DHCPv6DUIDTypeLLT && d[3] == pkt.DHCPv6HardwareEthernet && d[0] == 0 && d[2] == 0:
		return pkt.MAC(d[8:14]), true
	case len(d) == 10 && d[1] == pkt.DHCPv6DUIDTypeLL && d[3] == pkt.DHCPv6HardwareEthernet && d[0] == 0 && d[2] == 0:
		return pkt.MAC(d[4:10]), true
	}
	return pkt.MAC{}, false
}

// isFree reports whether a dynamic address may be handed out at now: in
// the range, not reserved, not quarantined, and no live lease on it
// (an expired one is let go). s.mu is held.
func (s *Server) isFree(a netip.Addr, now time.Time) bool {
	if !s.inRange(a) || s.static[a] {
		return false
	}
	if until, ok := s.declined[a]; ok {
		if until.After(now) {
			return false
		}
		delete(s.declined, a)
	}
	if l := s.byIP[a]; l != nil {
		if live(l, now) {
			return false
		}
		s.remove(l)
	}
	return true
}

// pick returns a free dynamic address: hint if it is free, else the
// lowest free one. The scan starts at freeFrom, so its cost is bounded
// by the addresses taken (at most maxLeases + reservations +
// maxDeclined). s.mu is held.
func (s *Server) pick(hint netip.Addr, now time.Time) (netip.Addr, bool) {
	if hint.IsValid() && s.isFree(hint, now) {
		return hint, true
	}
	// From freeFrom, then (for leases that lapsed below it since) from
	// the start.
	for _, from := range [2]netip.Addr{s.freeFrom, s.cfg.RangeStart} {
		for a := from; a.IsValid() && s.inRange(a); a = a.Next() {
			if s.isFree(a, now) {
				s.freeFrom = a
				return a, true
			}
		}
	}
	return netip.Addr{}, false
}

// reap lets every expired lease and quarantine go, so a full table
// holds only live ones. s.mu is held.
func (s *Server) reap(now time.Time) {
	for _, l := range s.byIP {
		if !live(l, now) {
			s.remove(l)
		}
	}
	for a, until := range s.declined {
		if !until.After(now) {
			delete(s.declined, a)
		}
	}
}

// decline quarantines a. When the quarantine is full, the one that ends
// first goes early. s.mu is held.
func (s *Server) decline(a netip.Addr, now time.Time) {
	if len(s.declined) >= maxDeclined {
		var first netip.Addr
		var at time.Time
		for d, until := range s.declined {
			if !first.IsValid() || until.Before(at) {
				first, at = d, until
			}
		}
		delete(s.declined, first)
	}
	s.declined[a] = now.Add(quarantine)
}
