package config

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vswitch/vswitch/internal/pkt"
)

// DHCP6 configures the DHCPv6 server of a network with address6. With a
// range it hands out addresses (stateful, the RA's M flag); without one
// it answers INFORMATION-REQUEST only (stateless, the O flag): the range
// is then invalid. DNS defaults to the gateway's address6 while dns is on,
// Domain to dhcp.domain.
type DHCP6 struct {
	LeaseConfig
	Hosts []DHCP6Host
}

// DHCP6Host is a static reservation by MAC or by DUID.
type DHCP6Host struct {
	MAC  pkt.MAC
	DUID []byte
	IP   netip.Addr
	Name string
}

func (d *decoder) dhcp6(n *yaml.Node, path string) *DHCP6 {
	h := &DHCP6{LeaseConfig: defaultLeaseConfig}
	d.leaseServer(n, path, "dhcp6", &h.LeaseConfig, true, func(item *yaml.Node, p string, seen hostSeen) {
		var hs DHCP6Host
		ids6, hasIP := 0, false // keys given, valid or not: a bad value is reported once
		d.fields(item, p, "a DHCPv6 host", []string{"mac", "duid", "ip", "name"}, func(key string, _, v *yaml.Node) {
			switch key {
			case "mac", "duid":
				ids6++
			case "ip":
				hasIP = true
			}
			switch key {
			case "mac":
				hs.MAC = d.hostMAC(v, p+".mac", seen)
			case "duid":
				if s, ok := d.scalar(v, p+".duid"); ok {
					b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
					switch {
					case err != nil || len(b) < 3 || len(b) > pkt.DHCPv6MaxDUIDLen:
						d.errf(v, p+".duid", "%q is not a DUID in hex, like 00:03:00:01:52:54:00:12:34:56", s)
					case seen.ids["duid "+string(b)]:
						d.errf(v, p+".duid", "%s has two host entries", s)
					default:
						hs.DUID = b
						seen.ids["duid "+string(b)] = true
					}
				}
			case "ip":
				hs.IP = d.hostIP(v, p+".ip", true, seen)
			case "name":
				d.str(v, p+".name", &hs.Name)
			}
		})
		if ids6 != 1 || !hasIP {
			d.errf(item, p, "a DHCPv6 host needs ip and one of mac or duid")
		}
		h.Hosts = append(h.Hosts, hs)
	})
	return h
}

// is6 reports whether a is an IPv6 address proper: not IPv4-mapped, no zone.
func is6(a netip.Addr) bool { return a.Is6() && !a.Is4In6() && a.Zone() == "" }

// addr6 reads an IPv6 unicast address; invalid (and an error) otherwise.
func (d *decoder) addr6(v *yaml.Node, key string) netip.Addr {
	var out netip.Addr
	value(d, v, key, &out, func(s string) (netip.Addr, string) {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" || a.IsMulticast() || a.IsUnspecified() {
			return netip.Addr{}, fmt.Sprintf("%q is not an IPv6 unicast address", s)
		}
		return a, ""
	})
	return out
}

// domain parses a DHCP or DHCPv6 domain: a name DNS can carry, since
// DHCPv6 writes it in DNS wire format (and inherits DHCPv4's) and the
// gateway's DNS serves names under it.
func (d *decoder) domain(v *yaml.Node, key string, dst *string) {
	value(d, v, key, dst, func(s string) (string, string) {
		if s != "" && !validDomain(s) {
			return "", fmt.Sprintf("%q is not a domain name like lab.example", s)
		}
		return s, ""
	})
}

// validDomain reports whether s can be written as a DNS name: labels of
// 1 to 63 bytes, at most 253 in all.
func validDomain(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
	}
	return true
}

// checkDHCP6 checks a network's dhcp6 against its address6 and fills in
// the defaults that depend on the rest of the network.
func (d *decoder) checkDHCP6(nw *Network, n *yaml.Node, path string) {
	h := nw.DHCP6
	if !nw.Address6.IsValid() {
		d.errf(n, path+".dhcp6", "dhcp6 needs address6 on the network (the /64 it serves)")
		return
	}
	pfx, gw := nw.Address6.Masked(), nw.Address6.Addr()
	if h.RangeStart.IsValid() {
		if !pfx.Contains(h.RangeStart) || !pfx.Contains(h.RangeEnd) {
			d.errf(n, path+".dhcp6.range", "%s-%s is not inside %s", h.RangeStart, h.RangeEnd, pfx)
		} else if h.RangeStart.Compare(gw) <= 0 && gw.Compare(h.RangeEnd) <= 0 {
			d.errf(n, path+".dhcp6.range", "%s-%s contains the gateway address %s", h.RangeStart, h.RangeEnd, gw)
		} else if h.RangeStart == pfx.Addr() {
			d.errf(n, path+".dhcp6.range", "%s-%s starts at the subnet-router anycast address %s", h.RangeStart, h.RangeEnd, pfx.Addr())
		}
	}
	for i, hs := range h.Hosts {
		if hs.IP.IsValid() && (!pfx.Contains(hs.IP) || hs.IP == gw || hs.IP == pfx.Addr()) {
			d.errf(n, fmt.Sprintf("%s.dhcp6.hosts[%d].ip", path, i), "%s is not a guest address in %s", hs.IP, pfx)
		}
	}
	if nw.DNS.Enable && len(h.DNS) == 0 {
		h.DNS = []netip.Addr{gw}
	}
	if h.Domain == "" && nw.DHCP != nil {
		h.Domain = nw.DHCP.Domain
	}
}
