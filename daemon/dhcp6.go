package daemon

import (
	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/control"
	"github.com/vswitch/vswitch/dhcp"
	"github.com/vswitch/vswitch/dhcp6"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/metrics"
)

// newDHCP6 is a network's DHCPv6 server on the shared lease store; its
// DUID comes from the gateway's MAC (mac), which is stable across
// restarts, so clients renew with the same server after one. Replies
// that bind a lease leave through deliver once the lease is on disk.
func newDHCP6(nc config.Network, h *config.DHCP6, mac pkt.MAC, store *dhcp.Store, deliver func(dhcp6.Reply)) *dhcp6.Server {
	cfg := dhcp6.Config{
		Network: nc.Name, Prefix: nc.Address6.Masked(), MAC: mac, RangeStart: h.RangeStart, RangeEnd: h.RangeEnd,
		Lease: h.Lease, DNS: h.DNS, Domain: h.Domain, MaxLeasesPerMAC: h.MaxLeasesPerMAC, Deliver: deliver,
	}
	for _, hs := range h.Hosts {
		cfg.Hosts = append(cfg.Hosts, dhcp6.Host{MAC: hs.MAC, DUID: hs.DUID, IP: hs.IP, Name: hs.Name})
	}
	return dhcp6.NewServer(cfg, store)
}

// leases6 lists a DHCPv6 server's leases for the control API.
func leases6(s *dhcp6.Server) []control.Lease {
	var out []control.Lease
	for _, l := range s.Leases() {
		out = append(out, control.Lease{Network: l.Network, MAC: l.MAC, IP: l.IP.String(), Hostname: l.Hostname,
			Expiry: l.Expiry, Static: l.Static, State: l.State, Family: "ipv6", ClientID: l.ClientID})
	}
	return out
}

// dhcp6Stats adds a DHCPv6 server's counters to its network's.
func dhcp6Stats(st *metrics.NetworkStats, s *dhcp6.Server) {
	st.DHCP6 = true
	st.Leases6 = s.Active()
	st.Messages6 = s.Messages()
	st.DHCP6Drops = map[string]uint64{}
	for i, v := range s.Drops() {
		st.DHCP6Drops[dhcp6.DropReason(i).String()] = v
	}
}
