package vswitch

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vswitch/vswitch/internal/pkt"
)

// ErrNotDHCPGuarded is returned for a binding restored to a port without
// guard: dhcp.
var ErrNotDHCPGuarded = errors.New("not a guard: dhcp port")

// RestoreGuardBinding binds ip to mac on a DHCP-guarded port as the ACK
// of that lease would have, had the switch seen it: a restarted or
// upgraded vswitch rebuilds its bindings from the lease store or from the
// process before it, instead of dropping the port's hosts as spoofed
// until they renew. The address leaves any other port that held it, as
// with a snooped ACK. A binding expired at now is not added.
func (s *Switch) RestoreGuardBinding(port string, mac pkt.MAC, ip netip.Addr, expiry, now int64) error {
	p, ok := s.topo.Load().byName[port]
	if !ok {
		return fmt.Errorf("restore guard binding on %s: %w", port, ErrNoSuchPort)
	}
	if p.guard == nil || !p.guard.dhcp {
		return fmt.Errorf("restore guard binding on %s: %w", port, ErrNotDHCPGuarded)
	}
	if !(ip.Is4() || ip.Is6() && !ip.Is4In6() && ip.IsGlobalUnicast()) || mac.IsMulticast() || mac.IsZero() {
		return fmt.Errorf("restore guard binding on %s: %s at %s is not a lease", port, ip, mac)
	}
	if expiry <= now {
		return nil
	}
	if ip.Is6() { // a DHCPv6 lease
		s.bind6(p, mac, ip.As16(), expiry, now)
		return nil
	}
	ip4 := ip.As4()
	for _, other := range s.topo.Load().ports {
		if other != p && other.guard != nil && other.guard.dhcp {
			other.guard.unbind(ip4, now)
		}
	}
	p.guard.bind(binding{mac: mac, ip: ip4, expiry: expiry}, now)
	return nil
}
