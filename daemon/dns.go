package daemon

import (
	"time"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/dhcp"
	"github.com/vswitch/vswitch/dns"
	"github.com/vswitch/vswitch/metrics"
)

// newDNS is a network's DNS server, answering through deliver (UDP) and
// deliverTCP: dns.hosts,
// the dhcp.hosts names, and the names of the DHCP server's bound leases.
func newDNS(nc config.Network, srv *dhcp.Server, deliver func(dns.Answer), deliverTCP func(dns.TCPSegment)) *dns.Server {
	cfg := dns.Config{Network: nc.Name, Gateway: nc.Address, Gateway6: nc.Address6, Forwarders: nc.DNS.Forwarders, Deliver: deliver, DeliverTCP: deliverTCP,
		Hosts: dnsHosts(nc)}
	if h := nc.DHCP; h != nil {
		cfg.Domain = h.Domain
	}
	if srv != nil {
		cfg.Leases = func() []dns.Host { return leaseNames(srv.Leases(), time.Now()) }
	}
	s := dns.New(cfg)
	s.Start()
	return s
}

// dnsHosts are a network's names that always resolve: dns.hosts, then
// the names of dhcp.hosts.
func dnsHosts(nc config.Network) []dns.Host {
	var out []dns.Host
	for _, h := range nc.DNS.Hosts {
		out = append(out, dns.Host{Name: h.Name, IP: h.IP})
	}
	if h := nc.DHCP; h != nil {
		for _, hs := range h.Hosts {
			if hs.Name != "" {
				out = append(out, dns.Host{Name: hs.Name, IP: hs.IP})
			}
		}
	}
	return out
}

// leaseNames is the host names (option 12) of the leases bound now.
func leaseNames(leases []dhcp.Lease, now time.Time) []dns.Host {
	var out []dns.Host
	for _, l := range leases {
		if l.Hostname != "" && !l.Static && l.BoundAt(now) {
			out = append(out, dns.Host{Name: l.Hostname, IP: l.IP, Expiry: l.Expiry})
		}
	}
	return out
}

// dnsStats is a DNS server's counters for the collector.
func dnsStats(s *dns.Server) *metrics.DNSStats {
	st := s.Stats()
	out := &metrics.DNSStats{Queries: map[string]uint64{}, Results: map[string]uint64{}, Drops: map[string]uint64{},
		Buckets: dns.LatencyBuckets(), Latency: st.Latency[:], LatencySum: st.LatencySum}
	for i, v := range st.Queries {
		out.Queries[dns.QType(i).String()] = v
	}
	for i, v := range st.Results {
		out.Results[dns.Result(i).String()] = v
	}
	for i, v := range st.Drops {
		out.Drops[dns.DropReason(i).String()] = v
	}
	return out
}
