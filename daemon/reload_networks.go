package daemon

import (
	"fmt"
	"reflect"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/dhcp"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/nat"
)

// What a reload changes in a running network, besides its static names:
// the DHCP range and options (dhcp.Server.Reconfigure: leases are kept,
// one outside the new range is refused at its renewal), the port forwards
// of a packet uplink (nat.Table.SetForwards: flows already forwarded go
// on), and the DNS forwarders. The rest of a network (its address, VLAN,
// mode, uplink, whether it has DHCP or DNS, dhcp.domain, which is also
// the DNS server's local domain) is fixed: fixedParts refuses a change.

// withoutLive is a copy of networks without what a reload may change.
func withoutLive(networks []config.Network) []config.Network {
	out := make([]config.Network, len(networks))
	for i, n := range networks {
		n.DNS.Hosts, n.DNS.Forwarders, n.Forwards = nil, nil, nil
		if n.DHCP != nil {
			n.DHCP = &config.DHCP{LeaseConfig: config.LeaseConfig{Domain: n.DHCP.Domain}} // there or not, and its domain, stay
		}
		out[i] = n
	}
	return out
}

func same(a, b any) bool {
	_, _, _, diff := firstDiff(reflect.ValueOf(a), reflect.ValueOf(b), "")
	return !diff
}

// hostsDiffer says whether a reload changes a network's static names.
func hostsDiffer(a, b config.Network) bool {
	var ah, bh []config.DHCPHost
	if a.DHCP != nil {
		ah = a.DHCP.Hosts
	}
	if b.DHCP != nil {
		bh = b.DHCP.Hosts
	}
	return !same(ah, bh) || !same(a.DNS.Hosts, b.DNS.Hosts)
}

// dhcpOptions is what Reconfigure takes of a network's dhcp:.
func dhcpOptions(h *config.DHCP) dhcp.Options {
	return dhcp.Options{RangeStart: h.RangeStart, RangeEnd: h.RangeEnd, Lease: h.Lease, DNS: h.DNS,
		Domain: h.Domain, MaxLeasesPerMAC: h.MaxLeasesPerMAC}
}

// liveRefused refuses what fixedParts lets through but this vswitch
// cannot apply: forwards of a user-mode uplink, which listen on host
// sockets of their own.
func (d *Daemon) liveRefused(nc *config.Config) error {
	user := map[string]bool{}
	for _, u := range d.cfg.Uplinks {
		user[u.Name] = u.Type == config.UplinkUser
	}
	for i, n := range nc.Networks {
		if user[n.Uplink] && !same(d.cfgNets[i].Forwards, n.Forwards) {
			return fmt.Errorf("%s:%d: networks[%d].forwards: a user-mode uplink's forwards cannot change while running: restart vswitch to apply them; nothing was changed",
				nc.Source, n.Line, i)
		}
	}
	return nil
}

// applyNetworks swaps in each network's changed names, DHCP range and
// options, DNS forwarders and forwards; it returns the networks whose
// names changed and those whose other settings did.
func (d *Daemon) applyNetworks(nc *config.Config) (hosts, changed []string) {
	fwdChanged := map[string]bool{} // uplinks whose forwards change
	for i, n := range d.nets {
		old, nu := d.cfgNets[i], nc.Networks[i]
		if hostsDiffer(old, nu) {
			if n.dhcp != nil && nu.DHCP != nil {
				n.dhcp.SetHosts(dhcpHosts(nu.DHCP))
			}
			if n.dns != nil {
				n.dns.SetHosts(dnsHosts(nu))
			}
			hosts = append(hosts, nu.Name)
		}
		diff := false
		if n.dhcp != nil && nu.DHCP != nil && !same(dhcpOptions(old.DHCP), dhcpOptions(nu.DHCP)) {
			n.dhcp.Reconfigure(dhcpOptions(nu.DHCP))
			diff = true
		}
		if n.dns != nil && !same(old.DNS.Forwarders, nu.DNS.Forwarders) {
			n.dns.SetForwarders(nu.DNS.Forwarders)
			diff = true
		}
		if !same(old.Forwards, nu.Forwards) {
			fwdChanged[nu.Uplink] = true
			diff = true
		}
		if diff {
			changed = append(changed, nu.Name)
		}
	}
	for i, u := range d.uplinks {
		name := d.cfg.Uplinks[i].Name
		if !fwdChanged[name] || u.IsUser() {
			continue
		}
		var list []nat.Forward // every network's on this uplink: they share its table
		for _, n := range nc.Networks {
			if n.Uplink == name {
				list = append(list, natForwards(n)...)
			}
		}
		u.NAT().SetForwards(list)
	}
	return hosts, changed
}

// natForwards are a network's forwards as its uplink's NAT takes them.
func natForwards(n config.Network) []nat.Forward {
	var out []nat.Forward
	for _, fw := range n.Forwards {
		proto := uint8(pkt.ProtoTCP)
		if fw.Proto == "udp" {
			proto = pkt.ProtoUDP
		}
		out = append(out, nat.Forward{Proto: proto, Port: fw.Port, To: fw.To})
	}
	return out
}
