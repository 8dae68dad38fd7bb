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

// Collector is a prometheus.Collector over a Source.
type Collector struct {
	src     Source
	typeOf  func(port string) string
	version string

	rxPackets, rxBytes, txPackets, txBytes *prometheus.Desc
	drops, queueLen, queueCap, macs        *prometheus.Desc
	fdbEntries, fdbLearned, fdbMoves       *prometheus.Desc
	info                                   *prometheus.Desc
}

// NewCollector returns a collector for src. typeOf names a port's type
// (tap, afpacket, ...) for vswitch_port_info; version goes into
// vswitch_build_info.
func NewCollector(src Source, typeOf func(string) string, version string) *Collector {
	port := []string{"port"}
	return &Collector{
		src: src, typeOf: typeOf, version: version,
		rxPackets:  prometheus.NewDesc("vswitch_port_rx_packets_total", "Frames received on the port (before any drop).", port, nil),
		rxBytes:    prometheus.NewDesc("vswitch_port_rx_bytes_total", "Bytes received on the port.", port, nil),
		txPackets:  prometheus.NewDesc("vswitch_port_tx_packets_total", "Frames sent out of the port.", port, nil),
		txBytes:    prometheus.NewDesc("vswitch_port_tx_bytes_total", "Bytes sent out of the port.", port, nil),
		drops:      prometheus.NewDesc("vswitch_port_drops_total", "Frames dropped, by port and reason (see docs/metrics.md).", []string{"port", "reason"}, nil),
		queueLen:   prometheus.NewDesc("vswitch_port_queue_frames", "Frames waiting in the port's egress queue.", port, nil),
		queueCap:   prometheus.NewDesc("vswitch_port_queue_capacity_frames", "Size of the port's egress queue.", port, nil),
		macs:       prometheus.NewDesc("vswitch_port_macs", "MAC addresses learned on the port.", port, nil),
		fdbEntries: prometheus.NewDesc("vswitch_fdb_entries", "Entries in the forwarding database.", nil, nil),
		fdbLearned: prometheus.NewDesc("vswitch_fdb_learned_total", "MAC addresses learned.", nil, nil),
		fdbMoves:   prometheus.NewDesc("vswitch_fdb_moves_total", "MAC addresses seen moving to another port.", nil, nil),
		info:       prometheus.NewDesc("vswitch_port_info", "Port metadata; always 1.", []string{"port", "type"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.rxPackets, c.rxBytes, c.txPackets, c.txBytes, c.drops,
		c.queueLen, c.queueCap, c.macs, c.fdbEntries, c.fdbLearned, c.fdbMoves, c.info} {
		ch <- d
	}
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
	st := c.src.FDBStats()
	gauge(c.fdbEntries, float64(st.Entries))
	counter(c.fdbLearned, st.Learned)
	counter(c.fdbMoves, st.Moves)
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
