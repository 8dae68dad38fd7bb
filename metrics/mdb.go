package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	vswitch "github.com/vswitch/vswitch/switch"
)

// MDBCollector exports the switch's IGMP/MLD snooping counters (a separate
// collector, so a Source without snooping needs nothing new).
type MDBCollector struct {
	stats                    func() vswitch.MDBStats
	groups, frames           *prometheus.Desc
	reports, leaves, queries *prometheus.Desc
}

// NewMDBCollector reads stats at each scrape (*vswitch.Switch.MDBStats).
func NewMDBCollector(stats func() vswitch.MDBStats) *MDBCollector {
	proto := []string{"proto"}
	return &MDBCollector{
		stats:   stats,
		groups:  prometheus.NewDesc("vswitch_mdb_groups", "Multicast groups (per VLAN) in the snooping table.", nil, nil),
		frames:  prometheus.NewDesc("vswitch_mdb_frames_total", "Multicast frames by how they went: snooped (members and router ports only) or flooded (control groups, or no querier on the VLAN).", []string{"path"}, nil),
		reports: prometheus.NewDesc("vswitch_mdb_reports_total", "IGMP and MLD membership reports seen, by protocol.", proto, nil),
		leaves:  prometheus.NewDesc("vswitch_mdb_leaves_total", "IGMP leaves and MLD dones (and v3/v2 records leaving a group) seen, by protocol.", proto, nil),
		queries: prometheus.NewDesc("vswitch_mdb_queries_total", "IGMP and MLD queries seen (the gateway's own too), by protocol.", proto, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *MDBCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.groups, c.frames, c.reports, c.leaves, c.queries} {
		ch <- d
	}
}

// Collect implements prometheus.Collector; with snooping off it exports
// nothing.
func (c *MDBCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	if !st.Enabled {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.groups, prometheus.GaugeValue, float64(st.Groups))
	ch <- prometheus.MustNewConstMetric(c.frames, prometheus.CounterValue, float64(st.Snooped), "snooped")
	ch <- prometheus.MustNewConstMetric(c.frames, prometheus.CounterValue, float64(st.Flooded), "flooded")
	for i, proto := range []string{"igmp", "mld"} {
		ch <- prometheus.MustNewConstMetric(c.reports, prometheus.CounterValue, float64(st.Reports[i]), proto)
		ch <- prometheus.MustNewConstMetric(c.leaves, prometheus.CounterValue, float64(st.Leaves[i]), proto)
		ch <- prometheus.MustNewConstMetric(c.queries, prometheus.CounterValue, float64(st.Queries[i]), proto)
	}
}
