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
	return vswitch.FDBStats{Entries: 2, Learned: 5, Moves: 1}
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
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "vswitch_port_rx_packets_total", "vswitch_fdb_entries"); err != nil {
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

// TestUplinkMetrics: conntrack figures are summed over the uplinks.
func TestUplinkMetrics(t *testing.T) {
	c := NewCollector(fakeSource{}, nil, "test")
	c.Uplinks = func() []UplinkStats {
		return []UplinkStats{{Name: "a", Conntrack: 3, EarlyDrops: 5, FragEvicted: 1}, {Name: "b", Conntrack: 1, EarlyDrops: 2, FragEvicted: 3}}
	}
	want := `
# HELP vswitch_conntrack_early_drops_total Flows not assured (no completed TCP handshake, no reply) evicted from a full conntrack table to make room for a new one.
# TYPE vswitch_conntrack_early_drops_total counter
vswitch_conntrack_early_drops_total 7
# HELP vswitch_conntrack_fragment_evictions_total Fragmented datagrams in flight whose record a new datagram took (their later fragments are dropped as fragment).
# TYPE vswitch_conntrack_fragment_evictions_total counter
vswitch_conntrack_fragment_evictions_total 4
# HELP vswitch_conntrack_entries Tracked connections.
# TYPE vswitch_conntrack_entries gauge
vswitch_conntrack_entries 4
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "vswitch_conntrack_early_drops_total", "vswitch_conntrack_fragment_evictions_total", "vswitch_conntrack_entries"); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) != 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
}
