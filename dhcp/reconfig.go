package dhcp

import (
	"net/netip"
	"time"
)

// Options are what a reload may change in a running server: the range
// and the options it hands out. The network's address is fixed.
type Options struct {
	RangeStart, RangeEnd netip.Addr
	Lease                time.Duration // 0: an hour
	DNS                  []netip.Addr
	Domain               string
	MaxLeasesPerMAC      int // 0: DefaultMaxLeasesPerMAC
}

// Reconfigure applies a reload's range and options at once, between two
// messages. Leases are kept as they are: one inside the new range renews
// as before; one outside it is refused (NAK) at its client's next
// REQUEST, so the client asks again and is given an address of the new
// range, and its old address goes with its expiry, never handed out
// again while outside the range. New options (lease time, DNS, domain)
// go out in the next OFFER or ACK, a renewal's included. This is what
// dnsmasq does when restarted on its lease file with a new dhcp-range.
func (s *Server) Reconfigure(o Options) {
	if o.Lease <= 0 {
		o.Lease = time.Hour
	}
	if o.MaxLeasesPerMAC <= 0 {
		o.MaxLeasesPerMAC = DefaultMaxLeasesPerMAC
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.RangeStart, s.cfg.RangeEnd = o.RangeStart, o.RangeEnd
	s.cfg.Lease, s.cfg.DNS, s.cfg.Domain = o.Lease, append([]netip.Addr(nil), o.DNS...), o.Domain
	s.cfg.MaxLeasesPerMAC = o.MaxLeasesPerMAC
	s.freeFrom = o.RangeStart // the hint is about the old range
}
