package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	vswitch "github.com/vswitch/vswitch/switch"
)

func TestMDBCollector(t *testing.T) {
	c := NewMDBCollector(func() vswitch.MDBStats {
		return vswitch.MDBStats{Enabled: true, Groups: 3, Reports: [2]uint64{5, 7}, Leaves: [2]uint64{1, 0}, Queries: [2]uint64{2, 2},
			Snooped: 40, Flooded: 9}
	})
	want := `
# HELP vswitch_mdb_groups Multicast groups (per VLAN) in the snooping table.
# TYPE vswitch_mdb_groups gauge
vswitch_mdb_groups 3
# HELP vswitch_mdb_reports_total IGMP and MLD membership reports seen, by protocol.
# TYPE vswitch_mdb_reports_total counter
vswitch_mdb_reports_total{proto="igmp"} 5
vswitch_mdb_reports_total{proto="mld"} 7
# HELP vswitch_mdb_frames_total Multicast frames by how they went: snooped (members and router ports only) or flooded (control groups, or no querier on the VLAN).
# TYPE vswitch_mdb_frames_total counter
vswitch_mdb_frames_total{path="flooded"} 9
vswitch_mdb_frames_total{path="snooped"} 40
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "vswitch_mdb_groups", "vswitch_mdb_reports_total", "vswitch_mdb_frames_total"); err != nil {
		t.Fatal(err)
	}
	off := NewMDBCollector(func() vswitch.MDBStats { return vswitch.MDBStats{} })
	if n := testutil.CollectAndCount(off); n != 0 {
		t.Errorf("snooping off: %d metrics, want none", n)
	}
}
