package usernet

import "net/netip"

// loopback is where the host's own services listen.
var loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// dialTarget is the host address a guest's flow to dst is dialed at: the
// host's loopback when dst is the configured HostLoopback address (as
// slirp's 10.0.2.2), else dst itself.
func (s *Stack) dialTarget(dst netip.AddrPort) netip.AddrPort {
	if s.cfg.HostLoopback.IsValid() && dst.Addr() == s.cfg.HostLoopback {
		return netip.AddrPortFrom(loopback, dst.Port())
	}
	return dst
}

// forwardPeer is the address a port forward's client appears from to the
// guest: its own, so the guest's server sees who connected. A loopback
// client (the host itself) appears from HostLoopback, as passt's
// --map-host-loopback does, because a guest can never answer 127.0.0.1;
// without HostLoopback it is refused, counted as user_forward_source, as
// is any other client without a global unicast address.
func (s *Stack) forwardPeer(client netip.AddrPort) (netip.AddrPort, bool) {
	a := client.Addr().Unmap()
	switch {
	case a.IsLoopback() && s.cfg.HostLoopback.IsValid():
		return netip.AddrPortFrom(s.cfg.HostLoopback, client.Port()), true
	case !a.Is4() || !a.IsGlobalUnicast():
		s.drops[DropForwardSource].Add(1)
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, client.Port()), true
}
