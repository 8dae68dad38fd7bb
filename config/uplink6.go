package config

import (
	"fmt"
	"net/netip"

	"go.yaml.in/yaml/v3"
)

// An uplink's IPv6 side (docs/ipv6.md): address6, its static address and
// prefix on the outside link, and gateway6, the next hop, or, left out,
// the router whose advertisement the outside link carries.

// Address6Auto is the value of address6 that means "by SLAAC or DHCPv6
// from the outside" (Uplink.Auto6; internal/autoconf6).
const Address6Auto = "auto"

// uplinkKey6 parses address6 or gateway6 of an uplink.
func (d *decoder) uplinkKey6(key string, v *yaml.Node, kp string, u *Uplink) {
	s, ok := d.scalar(v, kp)
	if !ok {
		return
	}
	switch key {
	case "address6":
		if s == Address6Auto {
			u.Auto6 = true
		} else if pfx, reason := parseUplinkAddress6(s); reason != "" {
			d.errf(v, kp, "%q %s", s, reason)
		} else {
			u.Prefix6 = pfx
		}
	case "gateway6":
		a, err := netip.ParseAddr(s)
		switch {
		case err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "":
			d.errf(v, kp, "%q is not an IPv6 address", s)
		case a.IsMulticast() || a.IsUnspecified() || a.IsLoopback():
			d.errf(v, kp, "%s is not a unicast address", a)
		default:
			u.Gateway6 = a
		}
	}
}

// parseUplinkAddress6 reads an uplink's static IPv6 address, or says why
// it is refused. Any prefix length: the outside link is not a SLAAC /64
// of vswitch's own.
func parseUplinkAddress6(s string) (netip.Prefix, string) {
	pfx, err := netip.ParsePrefix(s)
	a := pfx.Addr()
	switch {
	case err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "":
		return pfx, "is not an IPv6 address with a prefix length, like 2001:db8:1::2/64"
	case a.IsLinkLocalUnicast():
		return pfx, "is link-local: the uplink has its link-local address from its MAC; give a global or unique-local address"
	case a.IsMulticast() || a.IsLoopback() || a.IsUnspecified():
		return pfx, "is not a unicast address"
	case pfx.Bits() < 127 && a == pfx.Masked().Addr():
		return pfx, "is the subnet-router anycast address (host part zero): give the uplink a host address"
	}
	return pfx, ""
}

// checkUplink6 runs the checks across an uplink's IPv6 keys.
func (d *decoder) checkUplink6(n *yaml.Node, path string, u *Uplink) {
	switch {
	case u.Type == UplinkUser && (u.Prefix6.IsValid() || u.Auto6 || u.Gateway6.IsValid()):
		d.errf(n, path, "a user uplink has no address6 or gateway6: its flows leave as the process's own sockets")
	case u.Gateway6.IsValid() && !u.Prefix6.IsValid() && !u.Auto6:
		d.errf(n, path+".gateway6", "gateway6 needs address6")
	case u.Auto6:
		// The outside link's prefix is not known yet: any gateway6 is
		// taken (it overrides the advertised router).
	case u.Gateway6.IsValid() && !u.Gateway6.IsLinkLocalUnicast() && !u.Prefix6.Contains(u.Gateway6):
		d.errf(n, path+".gateway6", "%s is neither link-local nor inside %s", u.Gateway6, u.Prefix6.Masked())
	case u.Gateway6.IsValid() && u.Gateway6 == u.Prefix6.Addr():
		d.errf(n, path+".gateway6", "%s is the uplink's own address6", u.Gateway6)
	}
}

// checkForward6 checks that an IPv6 forward's guest is in the network's
// /64: an IPv4 one is checked against address.
func (d *decoder) checkForward6(nw *Network, at *yaml.Node, path string, i int) bool {
	f := nw.Forwards[i]
	if !f.To.Addr().Is6() {
		return false
	}
	if !nw.Address6.IsValid() {
		d.errf(at, fmt.Sprintf("%s.forwards[%d].to", path, i), "%s is IPv6, but the network has no address6", f.To)
	} else if !nw.Address6.Contains(f.To.Addr()) || f.To.Addr() == nw.Address6.Addr() {
		d.errf(at, fmt.Sprintf("%s.forwards[%d].to", path, i), "%s is not a guest address in the network's address6 %s", f.To, nw.Address6.Masked())
	}
	return true
}

// forward6 is a network's first IPv6 forward, if it has one.
func forward6(n Network) (Forward, bool) {
	for _, f := range n.Forwards {
		if f.To.Addr().Is6() {
			return f, true
		}
	}
	return Forward{}, false
}
