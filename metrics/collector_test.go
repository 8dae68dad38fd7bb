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
