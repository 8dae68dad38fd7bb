package dns

import (
	"net/netip"
	"slices"
)

// SetForwarders replaces Config.Forwarders, as a config reload does
// (empty: the resolv.conf nameservers again). The server's goroutine takes
// them before its next forwarded query; answers already cached stay until
// their TTL ends.
func (s *Server) SetForwarders(list []netip.AddrPort) {
	l := slices.Clone(list)
	s.fwd.Store(&l)
}

// takeForwarders installs what SetForwarders left; the goroutine only.
func (s *Server) takeForwarders() {
	if l := s.fwd.Swap(nil); l != nil {
		s.up.static = *l
	}
}
