package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	vswitch "github.com/vswitch/vswitch/switch"
)

// Source is what the collector reads; *vswitch.Switch satisfies it.
type Source interface {
	Ports() []vswitch.PortStatus
	FDBStats() vswitch.FDBStats
}

// NetworkStats are one network's gateway and DHCP counters.
type NetworkStats struct {
	Name         string
	DHCP         bool
	Leases       int               // active bound leases
	Messages     map[string]uint64 // DHCP messages by type
	DHCPDrops    map[string]uint64 // DHCP messages ignored, by reason
	GatewayDrops map[string]uint64 // frames the gateway dropped, by reason
	DNS          *DNSStats         // nil: no DNS on the network
	DHCP6        bool              // a DHCPv6 server: the fields below are set
	Leases6      int               // active DHCPv6 leases
	Messages6    map[string]uint64 // DHCPv6 messages by type
	DHCP6Drops   map[string]uint64 // DHCPv6 messages not served as asked, by reason
}

// DNSStats are one network's DNS counters.
type DNSStats struct {
	Queries    map[string]uint64 // by question type
	Results    map[string]uint64 // by result: local, forwarded, cached, ...
	Drops      map[string]uint64 // by reason
	Buckets    []float64         // upstream latency bucket bounds, seconds
	Latency    []uint64          // answers per bucket (not cumulative), one more than Buckets: above all
	LatencySum float64           // seconds
}

// UplinkStats are one uplink's NAT and drop counters.
type UplinkStats struct {
	Name            string
	Conntrack       int
	EarlyDrops      uint64 // flows not assured, evicted to make room for new ones
	FragEvicted     uint64 // fragmented datagrams in flight whose record a new one took
	TranslationsOut uint64
	TranslationsIn  uint64
	Drops           map[string]uint64

	// Of Conntrack and the translations, the IPv6 ones (NAT66): the
	// family label's "ipv6", the rest "ipv4".
	Conntrack6                        int
	TranslationsOut6, TranslationsIn6 uint64

	// GSOOut and GSOIn count the GSO super-frames among the translations:
	// each translated once, whole.
	GSOOut, GSOIn uint64

	// Autoconf6Drops and Autoconf6Events are the address6: auto client's
	// counters, by reason and by event; nil for any other uplink.
	Autoconf6Drops, Autoconf6Events map[string]uint64
}

// Collector is a prometheus.Collector over a Source.
type Collector struct {
	// Uplinks, when set, adds conntrack, NAT and uplink metrics.
	Uplinks func() []UplinkStats

	// Networks, when set, adds the gateway and DHCP metrics.
	Networks func() []NetworkStats

	// Driver, when set, adds the drivers' own counters: port -> name -> value.
	Driver func() map[string]map[string]uint64

	// EVPN, when set, adds the BGP sessions by state and the EVPN routes
	// by type and origin; ok is false when EVPN is off.
	EVPN func() (sessions map[string]int, routes map[[2]string]int, ok bool)

	src     Source
	typeOf  func(port string) string
	version string

	rxPackets, rxBytes, txPackets, txBytes *prometheus.Desc
	drops, queueLen, queueCap, macs        *prometheus.Desc
	fdbEntries, fdbLearned, fdbMoves       *prometheus.Desc
	info                                   *prometheus.Desc
	leases, dhcpMsgs, dhcpDrops, gwDrops   *prometheus.Desc
	leases6, dhcp6Msgs, dhcp6Drops         *prometheus.Desc
	conntrack, natTrans, upDrops           *prometheus.Desc
	earlyDrops, driver                     *prometheus.Desc
	evpnSessions, evpnRoutes               *prometheus.Desc
	dnsQueries, dnsResults, dnsDrops       *prometheus.Desc
	dnsLatency                             *prometheus.Desc
	fragEvict                              *prometheus.Desc
	fdbEvicted                             *prometheus.Desc
	natGSO                                 *prometheus.Desc
	ac6Drops, ac6Events                    *prometheus.Desc
}

// NewCollector returns a collector for src. typeOf names a port's type
// (tap, afpacket, ...) for vswitch_port_info; version goes into
// vswitch_build_info.
func NewCollector(src Source, typeOf func(string) string, version string) *Collector {
	port := []string{"port"}
	return &Collector{
		src: src, typeOf: typeOf, version: version,
		rxPackets:    prometheus.NewDesc("vswitch_port_rx_packets_total", "Frames received on the port (before any drop).", port, nil),
		rxBytes:      prometheus.NewDesc("vswitch_port_rx_bytes_total", "Bytes received on the port.", port, nil),
		txPackets:    prometheus.NewDesc("vswitch_port_tx_packets_total", "Frames sent out of the port.", port, nil),
		txBytes:      prometheus.NewDesc("vswitch_port_tx_bytes_total", "Bytes sent out of the port.", port, nil),
		drops:        prometheus.NewDesc("vswitch_port_drops_total", "Frames dropped, by port and reason (see docs/metrics.md).", []string{"port", "reason"}, nil),
		queueLen:     prometheus.NewDesc("vswitch_port_queue_frames", "Frames waiting in the port's egress queue.", port, nil),
		queueCap:     prometheus.NewDesc("vswitch_port_queue_capacity_frames", "Size of the port's egress queue.", port, nil),
		macs:         prometheus.NewDesc("vswitch_port_macs", "MAC addresses learned on the port.", port, nil),
		fdbEntries:   prometheus.NewDesc("vswitch_fdb_entries", "Entries in the forwarding database.", nil, nil),
		fdbLearned:   prometheus.NewDesc("vswitch_fdb_learned_total", "MAC addresses learned.", nil, nil),
		fdbMoves:     prometheus.NewDesc("vswitch_fdb_moves_total", "MAC addresses seen moving to another port.", nil, nil),
		info:         prometheus.NewDesc("vswitch_port_info", "Port metadata; always 1.", []string{"port", "type"}, nil),
		leases:       prometheus.NewDesc("vswitch_dhcp_leases", "Active DHCP leases.", []string{"network"}, nil),
		dhcpMsgs:     prometheus.NewDesc("vswitch_dhcp_messages_total", "DHCP messages received and sent, by type.", []string{"type"}, nil),
		dhcpDrops:    prometheus.NewDesc("vswitch_dhcp_drops_total", "DHCP messages ignored, by reason.", []string{"reason"}, nil),
		leases6:      prometheus.NewDesc("vswitch_dhcp6_leases", "Active DHCPv6 leases.", []string{"network"}, nil),
		dhcp6Msgs:    prometheus.NewDesc("vswitch_dhcp6_messages_total", "DHCPv6 messages received and sent, by network and type.", []string{"network", "type"}, nil),
		dhcp6Drops:   prometheus.NewDesc("vswitch_dhcp6_drops_total", "DHCPv6 messages not served as asked, by network and reason.", []string{"network", "reason"}, nil),
		gwDrops:      prometheus.NewDesc("vswitch_gateway_drops_total", "Frames the gateway dropped, by network and reason.", []string{"network", "reason"}, nil),
		conntrack:    prometheus.NewDesc("vswitch_conntrack_entries", "Tracked connections, by address family.", []string{"family"}, nil),
		earlyDrops:   prometheus.NewDesc("vswitch_conntrack_early_drops_total", "Flows not assured (no completed TCP handshake, no reply) evicted from a full conntrack table to make room for a new one.", nil, nil),
		fragEvict:    prometheus.NewDesc("vswitch_conntrack_fragment_evictions_total", "Fragmented datagrams in flight whose record a new datagram took (their later fragments are dropped as fragment).", nil, nil),
		natTrans:     prometheus.NewDesc("vswitch_nat_translations_total", "Packets translated by the NAT, by direction and address family.", []string{"direction", "family"}, nil),
		upDrops:      prometheus.NewDesc("vswitch_uplink_drops_total", "Packets an uplink dropped, by uplink and reason.", []string{"uplink", "reason"}, nil),
		ac6Drops:     prometheus.NewDesc("vswitch_uplink_autoconf6_drops_total", "Router advertisements, DHCPv6 replies and their options an address6: auto uplink refused, by uplink and reason.", []string{"uplink", "reason"}, nil),
		ac6Events:    prometheus.NewDesc("vswitch_uplink_autoconf6_events_total", "What happened to an address6: auto uplink's IPv6 configuration, by uplink and event.", []string{"uplink", "event"}, nil),
		driver:       prometheus.NewDesc("vswitch_port_driver_total", "A port driver's own counters (see docs/metrics.md).", []string{"port", "counter"}, nil),
		evpnSessions: prometheus.NewDesc("vswitch_evpn_sessions", "BGP sessions of the EVPN speaker, by state.", []string{"state"}, nil),
		evpnRoutes:   prometheus.NewDesc("vswitch_evpn_routes", "Best EVPN routes, by type (mac, imet) and origin (local, remote).", []string{"type", "origin"}, nil),
		dnsQueries:   prometheus.NewDesc("vswitch_dns_queries_total", "DNS queries the gateway parsed, by network and question type.", []string{"network", "type"}, nil),
		dnsResults:   prometheus.NewDesc("vswitch_dns_results_total", "DNS queries by network and how they were settled.", []string{"network", "result"}, nil),
		dnsDrops:     prometheus.NewDesc("vswitch_dns_drops_total", "DNS queries dropped unanswered, by network and reason.", []string{"network", "reason"}, nil),
		dnsLatency:   prometheus.NewDesc("vswitch_dns_upstream_seconds", "Time to an upstream DNS server's answer, by network.", []string{"network"}, nil),
		fdbEvicted:   prometheus.NewDesc("vswitch_fdb_evictions_total", "FDB entries evicted to let a port under its fair share learn.", nil, nil),
		natGSO:       prometheus.NewDesc("vswitch_nat_gso_translations_total", "GSO super-frames among the NAT translations (each translated once, whole), by direction.", []string{"direction"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.rxPackets, c.rxBytes, c.txPackets, c.txBytes, c.drops,
		c.queueLen, c.queueCap, c.macs, c.fdbEntries, c.fdbLearned, c.fdbMoves, c.info,
		c.leases, c.dhcpMsgs, c.dhcpDrops, c.gwDrops, c.conntrack, c.natTrans, c.upDrops, c.earlyDrops, c.driver, c.evpnSessions, c.evpnRoutes,
		c.dnsQueries, c.dnsResults, c.dnsDrops, c.dnsLatency, c.fragEvict, c.leases6, c.dhcp6Msgs, c.dhcp6Drops} {
		ch <- d
	}
	ch <- c.fdbEvicted
	ch <- c.natGSO
	ch <- c.ac6Drops
	ch <- c.ac6Events
}

// Collect implements prometheus.Collector: one snapshot per scrape.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, p := range c.src.Ports() {
		counter(c.rxPackets, p.RxPackets, p.Name)
		counter(c.rxBytes, p.RxBytes, p.Name)
		counter(c.txPackets, p.TxPackets, p.Name)
		counter(c.txBytes, p.TxBytes, p.Name)
		// Every reason, zeros too, so rate() works from the first drop.
		for r := vswitch.DropReason(0); r < vswitch.NumDropReasons; r++ {
			counter(c.drops, p.Drops[r], p.Name, r.String())
		}
		gauge(c.queueLen, float64(p.QueueLen), p.Name)
		gauge(c.queueCap, float64(p.QueueCap), p.Name)
		gauge(c.macs, float64(p.MACs), p.Name)
		typ := ""
		if c.typeOf != nil {
			typ = c.typeOf(p.Name)
		}
		gauge(c.info, 1, p.Name, typ)
	}
	if c.EVPN != nil {
		if sessions, routes, ok := c.EVPN(); ok {
			for _, st := range []string{"idle", "connect", "active", "opensent", "openconfirm", "established"} {
				gauge(c.evpnSessions, float64(sessions[st]), st)
			}
			for _, typ := range []string{"mac", "imet"} {
				for _, origin := range []string{"local", "remote"} {
					gauge(c.evpnRoutes, float64(routes[[2]string{typ, origin}]), typ, origin)
				}
			}
		}
	}
	if c.Driver != nil {
		for port, ctrs := range c.Driver() {
			for name, v := range ctrs {
				counter(c.driver, v, port, name)
			}
		}
	}
	st := c.src.FDBStats()
	gauge(c.fdbEntries, float64(st.Entries))
	counter(c.fdbLearned, st.Learned)
	counter(c.fdbMoves, st.Moves)
	counter(c.fdbEvicted, st.Evicted)
	if c.Uplinks != nil {
		entries, entries6 := 0, 0
		var out, in, out6, in6, early, frags, gsoOut, gsoIn uint64
		for _, u := range c.Uplinks() {
			entries += u.Conntrack
			entries6 += u.Conntrack6
			early += u.EarlyDrops
			frags += u.FragEvicted
			out += u.TranslationsOut
			in += u.TranslationsIn
			out6 += u.TranslationsOut6
			in6 += u.TranslationsIn6
			gsoOut += u.GSOOut
			gsoIn += u.GSOIn
			for reason, v := range u.Drops {
				counter(c.upDrops, v, u.Name, reason)
			}
			for reason, v := range u.Autoconf6Drops {
				counter(c.ac6Drops, v, u.Name, reason)
			}
			for event, v := range u.Autoconf6Events {
				counter(c.ac6Events, v, u.Name, event)
			}
		}
		gauge(c.conntrack, float64(entries-entries6), "ipv4")
		gauge(c.conntrack, float64(entries6), "ipv6")
		counter(c.earlyDrops, early)
		counter(c.fragEvict, frags)
		counter(c.natTrans, out-out6, "outbound", "ipv4")
		counter(c.natTrans, in-in6, "inbound", "ipv4")
		counter(c.natTrans, out6, "outbound", "ipv6")
		counter(c.natTrans, in6, "inbound", "ipv6")
		counter(c.natGSO, gsoOut, "outbound")
		counter(c.natGSO, gsoIn, "inbound")
	}
	if c.Networks == nil {
		return
	}
	// Message and drop counters are summed over networks: the label set is
	// the documented {type} and {reason}.
	msgs, drops := map[string]uint64{}, map[string]uint64{}
	anyDHCP := false
	for _, n := range c.Networks() {
		for reason, v := range n.GatewayDrops {
			counter(c.gwDrops, v, n.Name, reason)
		}
		if n.DNS != nil {
			c.collectDNS(ch, n.Name, n.DNS)
		}
		if n.DHCP6 {
			gauge(c.leases6, float64(n.Leases6), n.Name)
			for k, v := range n.Messages6 {
				counter(c.dhcp6Msgs, v, n.Name, k)
			}
			for k, v := range n.DHCP6Drops {
				counter(c.dhcp6Drops, v, n.Name, k)
			}
		}
		if !n.DHCP {
			continue
		}
		anyDHCP = true
		gauge(c.leases, float64(n.Leases), n.Name)
		for k, v := range n.Messages {
			msgs[k] += v
		}
		for k, v := range n.DHCPDrops {
			drops[k] += v
		}
	}
	if !anyDHCP {
		return
	}
	for k, v := range msgs {
		counter(c.dhcpMsgs, v, k)
	}
	for k, v := range drops {
		counter(c.dhcpDrops, v, k)
	}
}

func (c *Collector) collectDNS(ch chan<- prometheus.Metric, network string, d *DNSStats) {
	for _, m := range []struct {
		desc *prometheus.Desc
		v    map[string]uint64
	}{{c.dnsQueries, d.Queries}, {c.dnsResults, d.Results}, {c.dnsDrops, d.Drops}} {
		for k, v := range m.v {
			ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(v), network, k)
		}
	}
	buckets := make(map[float64]uint64, len(d.Buckets))
	var n uint64
	for i, b := range d.Buckets {
		n += d.Latency[i]
		buckets[b] = n // cumulative, as Prometheus wants
	}
	n += d.Latency[len(d.Buckets)]
	ch <- prometheus.MustNewConstHistogram(c.dnsLatency, n, d.LatencySum, buckets, network)
}

// Registry returns a registry with the collector, build info, and the Go
// and process collectors.
func Registry(c *Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	reg.MustRegister(prometheus.NewGoCollector())
	reg.MustRegister(prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	bi := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "vswitch_build_info",
		Help:        "Build information; always 1.",
		ConstLabels: prometheus.Labels{"version": c.version, "goversion": runtime.Version()},
	})
	bi.Set(1)
	reg.MustRegister(bi)
	return reg
}
