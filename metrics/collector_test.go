package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	vswitch "github.com/vswitch/vswitch/switch"
)

type fakeSource struct{}

func (fakeSource) Ports() []vswitch.PortStatus {
	p := vswitch.PortStatus{Name: "vm1", RxPackets: 100, RxBytes: 9800, TxPackets: 7, QueueCap: 1024}
	p.Drops[vswitch.DropVLANNotAllowed] = 3
	return []vswitch.PortStatus{p}
}

func (fakeSource) FDBStats() vswitch.FDBStats {
	return vswitch.FDBStats{Entries: 2, Learned: 5, Moves: 1, Evicted: 3}
}

func TestCollector(t *testing.T) {
	c := NewCollector(fakeSource{}, func(string) string { return "tap" }, "test")
	want := `
# HELP vswitch_port_rx_packets_total Frames received on the port (before any drop).
# TYPE vswitch_port_rx_packets_total counter
vswitch_port_rx_packets_total{port="vm1"} 100
# HELP vswitch_fdb_entries Entries in the forwarding database.
# TYPE vswitch_fdb_entries gauge
vswitch_fdb_entries 2
# HELP vswitch_fdb_evictions_total FDB entries evicted to let a port under its fair share learn.
# TYPE vswitch_fdb_evictions_total counter
vswitch_fdb_evictions_total 3
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "vswitch_port_rx_packets_total", "vswitch_fdb_entries", "vswitch_fdb_evictions_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c, "vswitch_port_drops_total"); n != int(vswitch.NumDropReasons) {
		t.Fatalf("%d drop series, want one per reason", n)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil || len(problems) != 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
}

func TestCollectorDriverCounters(t *testing.T) {
	c := NewCollector(fakeSource{}, nil, "test")
	c.Driver = func() map[string]map[string]uint64 {
		return map[string]map[string]uint64{"vx": {"unknown_vtep": 3, "malformed": 0}, "vm3": {"refused": 1}}
	}
	want := `
# HELP vswitch_port_driver_total A port driver's own counters (see docs/metrics.md).
# TYPE vswitch_port_driver_total counter
vswitch_port_driver_total{counter="malformed",port="vx"} 0
vswitch_port_driver_total{counter="refused",port="vm3"} 1
vswitch_port_driver_total{counter="unknown_vtep",port="vx"} 3
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "vswitch_port_driver_total"); err != nil {
		t.Fatal(err)
	}
}

// TestUplinkMetrics: conntrack and NAT figures are summed over the
// uplinks, split by address family.
func TestUplinkMetrics(t *testing.T) {
	c := NewCollector(fakeSource{}, nil, "test")
	c.Uplinks = func() []UplinkStats {
		return []UplinkStats{{Name: "a", Conntrack: 3, EarlyDrops: 5, FragEvicted: 1, Conntrack6: 1, TranslationsOut: 10, TranslationsIn: 9, TranslationsOut6: 4, TranslationsIn6: 3},
			{Name: "b", Conntrack: 1, EarlyDrops: 2, FragEvicted: 3, TranslationsOut: 1}}
	}
	want := `
# HELP vswitch_conntrack_early_drops_total Flows not assured (no completed TCP handshake, no reply) evicted from a full conntrack table to make room for a new one.
# TYPE vswitch_conntrack_early_drops_total counter
vswitch_conntrack_early_drops_total 7
# HELP vswitch_conntrack_fragment_evictions_total Fragmented datagrams in flight whose record a new datagram took (their later fragments are dropped as fragment).
# TYPE vswitch_conntrack_fragment_evictions_total counter
vswitch_conntrack_fragment_evictions_total 4
# HELP vswitch_conntrack_entries Tracked connections, by address family.
# TYPE vswitch_conntrack_entries gauge
vswitch_conntrack_entries{family="ipv4"} 3
vswitch_conntrack_entries{family="ipv6"} 1
# HELP vswitch_nat_translations_total Packets translated by the NAT, by direction and address family.
# TYPE vswitch_nat_translations_total counter
vswitch_nat_translations_total{direction="inbound",family="ipv4"} 6
vswitch_nat_translations_total{direction="inbound",family="ipv6"} 3
vswitch_nat_translations_total{direction="outbound",family="ipv4"} 7
vswitch_nat_translations_total{direction="outbound",family="ipv6"} 4
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "vswitch_conntrack_early_drops_total", "vswitch_conntrack_fragment_evictions_total",
		"vswitch_conntrack_entries", "vswitch_nat_translations_total"); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) != 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
}

// TestUplinkAutoconf6Metrics: an address6: auto uplink's client counters
// by uplink and label; an uplink without the client has no series.
func TestUplinkAutoconf6Metrics(t *testing.T) {
	c := NewCollector(fakeSource{}, nil, "test")
	c.Uplinks = func() []UplinkStats {
		return []UplinkStats{{Name: "wan", Autoconf6Drops: map[string]uint64{"bad_hop_limit": 2, "spoofed_lla": 0}, Autoconf6Events: map[string]uint64{"ra": 5}},
			{Name: "static"}}
	}
	want := `
# HELP vswitch_uplink_autoconf6_drops_total Router advertisements, DHCPv6 replies and their options an address6: auto uplink refused, by uplink and reason.
# TYPE vswitch_uplink_autoconf6_drops_total counter
vswitch_uplink_autoconf6_drops_total{reason="bad_hop_limit",uplink="wan"} 2
vswitch_uplink_autoconf6_drops_total{reason="spoofed_lla",uplink="wan"} 0
# HELP vswitch_uplink_autoconf6_events_total What happened to an address6: auto uplink's IPv6 configuration, by uplink and event.
# TYPE vswitch_uplink_autoconf6_events_total counter
vswitch_uplink_autoconf6_events_total{event="ra",uplink="wan"} 5
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "vswitch_uplink_autoconf6_drops_total", "vswitch_uplink_autoconf6_events_total"); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) != 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
}

func TestCollectorEVPN(t *testing.T) {
	c := NewCollector(fakeSource{}, nil, "test")
	c.EVPN = func() (map[string]int, map[[2]string]int, bool) {
		return map[string]int{"established": 2, "active": 1}, map[[2]string]int{{"mac", "remote"}: 3, {"imet", "local"}: 1}, true
	}
	want := `
# HELP vswitch_evpn_routes Best EVPN routes, by type (mac, imet) and origin (local, remote).
# TYPE vswitch_evpn_routes gauge
vswitch_evpn_routes{origin="local",type="imet"} 1
vswitch_evpn_routes{origin="local",type="mac"} 0
vswitch_evpn_routes{origin="remote",type="imet"} 0
vswitch_evpn_routes{origin="remote",type="mac"} 3
# HELP vswitch_evpn_sessions BGP sessions of the EVPN speaker, by state.
# TYPE vswitch_evpn_sessions gauge
vswitch_evpn_sessions{state="active"} 1
vswitch_evpn_sessions{state="connect"} 0
vswitch_evpn_sessions{state="established"} 2
vswitch_evpn_sessions{state="idle"} 0
vswitch_evpn_sessions{state="openconfirm"} 0
vswitch_evpn_sessions{state="opensent"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "vswitch_evpn_sessions", "vswitch_evpn_routes"); err != nil {
		t.Fatal(err)
	}
	c.EVPN = func() (map[string]int, map[[2]string]int, bool) { return nil, nil, false }
	if n := testutil.CollectAndCount(c, "vswitch_evpn_sessions", "vswitch_evpn_routes"); n != 0 {
		t.Fatalf("%d EVPN series with EVPN off", n)
	}
}
