package dhcp

import (
	"net/netip"

	"github.com/vswitch/vswitch/internal/pkt"
)

// SetHosts replaces the static reservations, as a config reload does. A
// client whose lease no longer fits (its reservation moved, or its
// address became someone's reservation) is refused (NAK) at its next
// REQUEST and asks again.
func (s *Server) SetHosts(hosts []Host) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setHosts(hosts)
}

// setHosts builds the reservation maps; under mu, or before the server runs.
func (s *Server) setHosts(hosts []Host) {
	s.static, s.staticIP = map[pkt.MAC]Host{}, map[netip.Addr]bool{}
	for _, h := range hosts {
		if !s.guest(h.IP) {
			continue // a reservation on the gateway, network or broadcast address
		}
		s.static[h.MAC] = h
		s.staticIP[h.IP] = true
	}
}
