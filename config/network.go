package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	"go.yaml.in/yaml/v3"
)

func (d *decoder) network(n *yaml.Node, path string) Network {
	nw := Network{Line: n.Line, VLAN: 1, Mode: ModeIsolated, DNS: DNS{Enable: true}}
	keys := map[string]*yaml.Node{}
	d.fields(n, path, "a network", []string{"name", "vlan", "address", "address6", "mode", "uplink", "dhcp", "dhcp6", "dns", "forwards"},
		func(key string, k, v *yaml.Node) {
			keys[key] = v
			kp := path + "." + key
			switch key {
			case "name":
				d.str(v, kp, &nw.Name)
			case "vlan":
				d.vlan(v, kp, &nw.VLAN)
			case "address":
				if s, ok := d.scalar(v, kp); ok {
					pfx, err := netip.ParsePrefix(s)
					switch {
					case err != nil || !pfx.Addr().Is4():
						d.errf(v, kp, "%q is not an IPv4 address with a prefix length, like 192.168.122.1/24", s)
					case pfx.Bits() > 30:
						d.errf(v, kp, "%s: the prefix must be /30 or shorter to hold guests", s)
					case pfx.Addr() == pfx.Masked().Addr() || pfx.Addr() == lastAddr(pfx):
						d.errf(v, kp, "%s is the network or broadcast address: give the gateway a host address", s)
					default:
						nw.Address = pfx
					}
				}
			case "address6":
				if s, ok := d.scalar(v, kp); ok {
					if pfx, reason := parseAddress6(s); reason != "" {
						d.errf(v, kp, "%q %s", s, reason)
					} else {
						nw.Address6 = pfx
					}
				}
			case "mode":
				var m string
				d.str(v, kp, &m)
				if i := slices.Index(modeNames[:], m); i >= 0 {
					nw.Mode = Mode(i)
				} else {
					d.errf(v, kp, "unknown mode %q (isolated, nat or routed)", m)
				}
			case "uplink":
				d.str(v, kp, &nw.Uplink)
			case "dhcp":
				nw.DHCP = d.dhcp(v, kp)
			case "dhcp6":
				nw.DHCP6 = d.dhcp6(v, kp)
			case "dns":
				nw.DNS = d.dns(v, kp)
			case "forwards":
				d.seq(v, kp, func(i int, item *yaml.Node) {
					nw.Forwards = append(nw.Forwards, d.forward(item, fmt.Sprintf("%s[%d]", kp, i)))
				})
			}
		})
	if nw.Name == "" {
		d.errf(n, path, "a network needs a name")
	}
	if keys["address"] == nil {
		d.errf(n, path, "a network needs an address (the gateway's, like 192.168.122.1/24)")
	}
	if nw.Address.IsValid() && nw.DHCP != nil {
		h := nw.DHCP
		r := keys["dhcp"]
		if h.RangeStart.IsValid() {
			if !nw.Address.Contains(h.RangeStart) || !nw.Address.Contains(h.RangeEnd) {
				d.errf(r, path+".dhcp.range", "%s-%s is not inside %s", h.RangeStart, h.RangeEnd, nw.Address.Masked())
			} else if h.RangeStart.Compare(nw.Address.Addr()) <= 0 && nw.Address.Addr().Compare(h.RangeEnd) <= 0 {
				d.errf(r, path+".dhcp.range", "%s-%s contains the gateway address %s", h.RangeStart, h.RangeEnd, nw.Address.Addr())
			}
		}
		for i, hs := range h.Hosts {
			if hs.IP.IsValid() && (!nw.Address.Contains(hs.IP) || hs.IP == nw.Address.Addr()) {
				d.errf(r, fmt.Sprintf("%s.dhcp.hosts[%d].ip", path, i), "%s is not a guest address in %s", hs.IP, nw.Address.Masked())
			}
		}
	}
	if nw.DHCP6 != nil {
		d.checkDHCP6(&nw, keys["dhcp6"], path)
	}
	// Guests ask the gateway while it answers DNS (libvirt hands out its
	// own address the same way).
	if nw.Address.IsValid() && nw.DHCP != nil && nw.DNS.Enable && len(nw.DHCP.DNS) == 0 {
		nw.DHCP.DNS = []netip.Addr{nw.Address.Addr()}
	}
	if nw.Address.IsValid() {
		for i, f := range nw.Forwards {
			if f.To.IsValid() && !d.checkForward6(&nw, keys["forwards"], path, i) && !nw.Address.Contains(f.To.Addr()) {
				d.errf(keys["forwards"], fmt.Sprintf("%s.forwards[%d].to", path, i), "%s is not inside %s", f.To, nw.Address.Masked())
			}
		}
	}
	return nw
}

// parseAddress6 reads the gateway's IPv6 address on a network, or says
// why it is refused. Only a /64: SLAAC forms a guest's address from the
// prefix and a 64-bit interface identifier (RFC 4862 5.5.3, RFC 4291
// 2.5.1), so a router advertising any other length gives guests nothing.
func parseAddress6(s string) (netip.Prefix, string) {
	pfx, err := netip.ParsePrefix(s)
	a := pfx.Addr()
	switch {
	case err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "":
		return pfx, "is not an IPv6 address with a prefix length, like fd00:122::1/64"
	case pfx.Bits() != 64:
		return pfx, "must be a /64: guests form their addresses by SLAAC from a 64-bit prefix"
	case a.IsLinkLocalUnicast():
		return pfx, "is link-local: the gateway has its link-local address from its MAC; give a global or unique-local (fd00::/8) address"
	case a.IsMulticast():
		return pfx, "is a multicast address"
	case a.IsLoopback() || a.IsUnspecified():
		return pfx, "is not a unicast address"
	case a == pfx.Masked().Addr():
		return pfx, "is the subnet-router anycast address (host part zero): give the gateway a host address"
	}
	return pfx, ""
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// addrRange reads "A-B": two addresses of one family (fam) in order;
// invalid ones (and an error naming example) otherwise.
func (d *decoder) addrRange(v *yaml.Node, kp string, fam func(netip.Addr) bool, example string) (netip.Addr, netip.Addr) {
	s, ok := d.scalar(v, kp)
	if !ok {
		return netip.Addr{}, netip.Addr{}
	}
	a, b, found := strings.Cut(s, "-")
	lo, err1 := netip.ParseAddr(strings.TrimSpace(a))
	hi, err2 := netip.ParseAddr(strings.TrimSpace(b))
	switch {
	case !found || err1 != nil || err2 != nil || !fam(lo) || !fam(hi):
		d.errf(v, kp, "%q is not a range like %s", s, example)
	case hi.Less(lo):
		d.errf(v, kp, "%q ends before it starts", s)
	default:
		return lo, hi
	}
	return netip.Addr{}, netip.Addr{}
}

// leaseKeys are the keys of dhcp and of dhcp6: leaseKey's and hosts.
var leaseKeys = []string{"range", "lease", "dns", "domain", "hosts", "max_leases_per_mac"}

var defaultLeaseConfig = LeaseConfig{Lease: DefaultLease, MaxLeasesPerMAC: DefaultMaxLeasesPerMAC}

// leaseServer parses a dhcp or dhcp6 mapping (what): the keys both have
// into c, with IPv6 addresses when v6 is set, else IPv4; each item of
// hosts, with its path and what the hosts before it hold, through host.
func (d *decoder) leaseServer(n *yaml.Node, path, what string, c *LeaseConfig, v6 bool, host func(item *yaml.Node, p string, seen hostSeen)) {
	seen := hostSeen{ids: map[string]bool{}, ips: map[netip.Addr]bool{}}
	d.fields(n, path, what, leaseKeys, func(key string, _, v *yaml.Node) {
		kp := path + "." + key
		switch key {
		case "range":
			if v6 {
				c.RangeStart, c.RangeEnd = d.addrRange(v, kp, is6, "fd00:122::100-fd00:122::1ff")
			} else {
				c.RangeStart, c.RangeEnd = d.addrRange(v, kp, netip.Addr.Is4, "192.168.122.2-192.168.122.254")
			}
		case "lease":
			d.duration(v, kp, time.Minute, &c.Lease)
		case "dns":
			d.seq(v, kp, func(i int, item *yaml.Node) {
				if a := d.familyAddr(item, fmt.Sprintf("%s[%d]", kp, i), v6); a.IsValid() {
					c.DNS = append(c.DNS, a)
				}
			})
		case "domain":
			d.domain(v, kp, &c.Domain)
		case "max_leases_per_mac":
			d.int(v, kp, 1, 1<<16, &c.MaxLeasesPerMAC)
		case "hosts":
			d.seq(v, kp, func(i int, item *yaml.Node) { host(item, fmt.Sprintf("%s[%d]", kp, i), seen) })
		}
	})
}

// familyAddr parses an IPv6 unicast address when v6 is set, else an IPv4
// address; invalid when v is neither.
func (d *decoder) familyAddr(v *yaml.Node, key string, v6 bool) netip.Addr {
	if v6 {
		return d.addr6(v, key)
	}
	var a netip.Addr
	d.addr(v, key, &a)
	return a
}

// hostSeen is what a server's reserved hosts hold so far, none of which
// another host may have: ids, its client identifiers ("mac " and the MAC,
// or "duid " and the DUID), and ips.
type hostSeen struct {
	ids map[string]bool
	ips map[netip.Addr]bool
}

// hostIP parses a reserved host's ip.
func (d *decoder) hostIP(v *yaml.Node, key string, v6 bool, seen hostSeen) netip.Addr {
	a := d.familyAddr(v, key, v6)
	if a.IsValid() && seen.ips[a] {
		d.errf(v, key, "%s is given to two hosts", a)
	}
	seen.ips[a] = true
	return a
}

// hostMAC parses a reserved host's mac.
func (d *decoder) hostMAC(v *yaml.Node, key string, seen hostSeen) pkt.MAC {
	var m pkt.MAC
	d.mac(v, key, &m)
	if id := "mac " + m.String(); seen.ids[id] {
		d.errf(v, key, "%s has two host entries", m)
	} else {
		seen.ids[id] = true
	}
	return m
}

func (d *decoder) dhcp(n *yaml.Node, path string) *DHCP {
	h := &DHCP{LeaseConfig: defaultLeaseConfig}
	d.leaseServer(n, path, "dhcp", &h.LeaseConfig, false, func(item *yaml.Node, p string, seen hostSeen) {
		var hs DHCPHost
		d.fields(item, p, "a DHCP host", []string{"mac", "ip", "name"}, func(key string, _, v *yaml.Node) {
			switch key {
			case "mac":
				hs.MAC = d.hostMAC(v, p+".mac", seen)
			case "ip":
				hs.IP = d.hostIP(v, p+".ip", false, seen)
			case "name":
				d.str(v, p+".name", &hs.Name)
			}
		})
		if hs.MAC.IsZero() || !hs.IP.IsValid() {
			d.errf(item, p, "a DHCP host needs mac and ip")
		}
		h.Hosts = append(h.Hosts, hs)
	})
	return h
}

func (d *decoder) forward(n *yaml.Node, path string) Forward {
	f := Forward{Line: n.Line}
	d.fields(n, path, "a forward", []string{"proto", "port", "to"}, func(key string, _, v *yaml.Node) {
		kp := path + "." + key
		switch key {
		case "proto":
			d.str(v, kp, &f.Proto)
			if f.Proto != "tcp" && f.Proto != "udp" {
				d.errf(v, kp, "unknown protocol %q (tcp or udp)", f.Proto)
			}
		case "port":
			var p int
			d.int(v, kp, 1, 65535, &p)
			f.Port = uint16(p)
		case "to":
			if s, ok := d.scalar(v, kp); ok {
				ap, err := netip.ParseAddrPort(s)
				if err != nil || ap.Addr().Is4In6() || ap.Addr().Zone() != "" || ap.Port() == 0 {
					d.errf(v, kp, "%q is not an address and port like 192.168.122.10:80 or [fd00:122::10]:80", s)
				} else {
					f.To = ap
				}
			}
		}
	})
	if f.Proto == "" || f.Port == 0 || !f.To.IsValid() {
		d.errf(n, path, "a forward needs proto, port and to")
	}
	return f
}

func (d *decoder) uplink(n *yaml.Node, path string) Uplink {
	u := Uplink{Line: n.Line, Type: UplinkPacket}
	d.fields(n, path, "an uplink", []string{"name", "type", "device", "address", "gateway", "mac", "host_loopback", "address6", "gateway6"}, func(key string, _, v *yaml.Node) {
		kp := path + "." + key
		switch key {
		case "name":
			d.str(v, kp, &u.Name)
		case "type":
			d.str(v, kp, &u.Type)
			if u.Type != UplinkPacket && u.Type != UplinkUser {
				d.errf(v, kp, "%q is not %s or %s", u.Type, UplinkPacket, UplinkUser)
			}
		case "device":
			d.str(v, kp, &u.Device)
		case "address":
			d.str(v, kp, &u.Address)
			if u.Address == "dhcp" {
				u.DHCP = true
			} else if p, err := netip.ParsePrefix(u.Address); err != nil || !p.Addr().Is4() {
				d.errf(v, kp, "%q is not \"dhcp\" or an IPv4 address with prefix length", u.Address)
			} else {
				u.Prefix = p
			}
		case "gateway":
			d.addr(v, kp, &u.Gateway)
		case "mac":
			d.mac(v, kp, &u.MAC)
		case "address6", "gateway6":
			d.uplinkKey6(key, v, kp, &u)
		case "host_loopback":
			d.addr(v, kp, &u.HostLoopback)
			if a := u.HostLoopback; a.IsValid() && (!a.Is4() || !a.IsGlobalUnicast()) {
				d.errf(v, kp, "%s is not a unicast IPv4 address a guest can route to (not loopback, link-local, multicast or broadcast)", a)
			}
		}
	})
	switch {
	case u.HostLoopback.IsValid() && u.Type != UplinkUser:
		d.errf(n, path+".host_loopback", "host_loopback is a user uplink's (type: user)")
	case u.Type == UplinkUser && u.Name == "":
		d.errf(n, path, "an uplink needs a name")
	case u.Type == UplinkUser && (u.Device != "" || u.Address != "" || u.Gateway.IsValid() || !u.MAC.IsZero()):
		d.errf(n, path, "a user uplink has no device, address, gateway or mac: its flows leave as the process's own sockets")
	case u.Type == UplinkUser:
	case u.Name == "" || u.Device == "" || u.Address == "":
		d.errf(n, path, "an uplink needs name, device and address")
	case u.Prefix.IsValid() && !u.Gateway.IsValid():
		d.errf(n, path, "an uplink with a static address needs a gateway")
	case u.Prefix.IsValid() && !u.Prefix.Contains(u.Gateway):
		d.errf(n, path+".gateway", "%s is not inside %s", u.Gateway, u.Prefix.Masked())
	}
	d.checkUplink6(n, path, &u)
	return u
}

// check runs the checks that span sections: unique names, references.
func (d *decoder) check(c *Config) {
	names, devices, sockets := map[string]int{}, map[string]int{}, map[string]int{}
	ports := map[string]*Port{}
	for i := range c.Ports {
		p := &c.Ports[i]
		if p.Name != "" {
			if l, dup := names[p.Name]; dup {
				d.errs = append(d.errs, &Error{File: d.file, Line: p.Line, Key: fmt.Sprintf("ports[%d].name", i), Msg: fmt.Sprintf("duplicate port name %q (first on line %d)", p.Name, l)})
			} else {
				names[p.Name] = p.Line
				ports[p.Name] = p
			}
		}
		for _, pair := range []struct {
			m    map[string]int
			v, k string
		}{{devices, p.Device, "device"}, {sockets, p.Socket + p.Listen, "socket"}} {
			if pair.v == "" {
				continue
			}
			key := p.Netns + "/" + pair.v
			if l, dup := pair.m[key]; dup {
				d.errs = append(d.errs, &Error{File: d.file, Line: p.Line, Key: fmt.Sprintf("ports[%d].%s", i, pair.k), Msg: fmt.Sprintf("%s is already used by the port on line %d", pair.v, l)})
			}
			pair.m[key] = p.Line
		}
	}
	for i, e := range c.FDB.Static {
		if p, ok := ports[e.Port]; !ok {
			if e.Port != "" {
				d.errs = append(d.errs, &Error{File: d.file, Line: e.Line, Key: fmt.Sprintf("fdb.static[%d].port", i), Msg: fmt.Sprintf("no port named %q", e.Port)})
			}
		} else if !p.Carries(e.VLAN) {
			d.errs = append(d.errs, &Error{File: d.file, Line: e.Line, Key: fmt.Sprintf("fdb.static[%d].vlan", i), Msg: fmt.Sprintf("port %s does not carry VLAN %d", e.Port, e.VLAN)})
		}
	}
	uplinks, userUplinks, uplink6 := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, u := range c.Uplinks {
		for _, n := range c.Networks {
			if u.HostLoopback.IsValid() && n.Address.Contains(u.HostLoopback) {
				d.errs = append(d.errs, &Error{File: d.file, Line: u.Line, Key: fmt.Sprintf("uplinks[%d].host_loopback", i),
					Msg: fmt.Sprintf("%s is inside network %s (%s): guests reach it through the gateway, so it must be outside every network", u.HostLoopback, n.Name, n.Address.Masked())})
			}
		}
		userUplinks[u.Name] = u.Type == UplinkUser
		if uplinks[u.Name] {
			d.errs = append(d.errs, &Error{File: d.file, Line: u.Line, Key: fmt.Sprintf("uplinks[%d].name", i), Msg: fmt.Sprintf("duplicate uplink name %q", u.Name)})
		}
		if l, dup := names[u.Name]; dup { // an uplink is a switch port under its name
			d.errs = append(d.errs, &Error{File: d.file, Line: u.Line, Key: fmt.Sprintf("uplinks[%d].name", i), Msg: fmt.Sprintf("%q is the name of the port on line %d", u.Name, l)})
		}
		uplinks[u.Name] = true
		uplink6[u.Name] = u.Prefix6.IsValid() || u.Auto6
	}
	nwNames, vlans, prefixes6 := map[string]bool{}, map[uint16]string{}, map[netip.Prefix]string{}
	for i, n := range c.Networks {
		at := func(key, format string, args ...any) {
			d.errs = append(d.errs, &Error{File: d.file, Line: n.Line, Key: fmt.Sprintf("networks[%d].%s", i, key), Msg: fmt.Sprintf(format, args...)})
		}
		if n.Name != "" && nwNames[n.Name] {
			at("name", "duplicate network name %q", n.Name)
		}
		nwNames[n.Name] = true
		if other, dup := vlans[n.VLAN]; dup {
			at("vlan", "VLAN %d already has network %q", n.VLAN, other)
		}
		vlans[n.VLAN] = n.Name
		// The gateway routes IPv6 between networks by prefix, so two
		// networks on one /64 would make it ambiguous.
		if p := n.Address6.Masked(); n.Address6.IsValid() {
			if other, dup := prefixes6[p]; dup {
				at("address6", "%s is already the prefix of network %q", p, other)
			}
			prefixes6[p] = n.Name
		}
		switch {
		case n.Mode.RoutesOut() && n.Uplink == "":
			at("uplink", "mode %s needs an uplink", n.Mode)
		case n.Uplink != "" && !uplinks[n.Uplink]:
			at("uplink", "no uplink named %q", n.Uplink)
		case userUplinks[n.Uplink] && n.Mode != ModeNAT:
			at("uplink", "user uplink %s serves mode nat only (mode is %s)", n.Uplink, n.Mode)
		}
		if len(n.Forwards) > 0 && n.Mode != ModeNAT {
			at("forwards", "forwards need mode nat (mode is %s)", n.Mode)
		}
		if f, ok := forward6(n); ok && !uplink6[n.Uplink] {
			at("forwards", "%s is an IPv6 forward: uplink %s needs address6", f.To, n.Uplink)
		}
	}
}
