package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Lifecycle says when the process started, when its config was last
// loaded (Prometheus' own prometheus_config_last_reload_* pair), and how
// many TAP devices it took back from a vswitch that did not stop cleanly.
// Its setters are safe from any goroutine.
type Lifecycle struct {
	start       time.Time
	lastSuccess atomic.Int64 // Unix nanoseconds of the last config applied
	lastOK      atomic.Bool
	reattached  atomic.Uint64

	startDesc, successDesc, okDesc, reattachedDesc *prometheus.Desc
}

// NewLifecycle is the lifecycle of a process that started, and loaded its
// config, at start.
func NewLifecycle(start time.Time) *Lifecycle {
	l := &Lifecycle{
		start:          start,
		startDesc:      prometheus.NewDesc("vswitch_start_time_seconds", "When vswitch started, in seconds since the Unix epoch.", nil, nil),
		successDesc:    prometheus.NewDesc("vswitch_config_last_reload_success_timestamp_seconds", "When the config was last applied (at start or by a reload), in seconds since the Unix epoch.", nil, nil),
		okDesc:         prometheus.NewDesc("vswitch_config_last_reload_successful", "Whether the last reload was applied (1) or refused (0).", nil, nil),
		reattachedDesc: prometheus.NewDesc("vswitch_ports_reattached_total", "TAP devices taken back from a vswitch that did not stop cleanly.", nil, nil),
	}
	l.Reloaded(true, start)
	return l
}

// Reloaded records a reload at when: applied (ok) or refused.
func (l *Lifecycle) Reloaded(ok bool, when time.Time) {
	if ok {
		l.lastSuccess.Store(when.UnixNano())
	}
	l.lastOK.Store(ok)
}

// Reattached counts a TAP device taken back.
func (l *Lifecycle) Reattached() { l.reattached.Add(1) }

// Describe implements prometheus.Collector.
func (l *Lifecycle) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{l.startDesc, l.successDesc, l.okDesc, l.reattachedDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (l *Lifecycle) Collect(ch chan<- prometheus.Metric) {
	ok := 0.0
	if l.lastOK.Load() {
		ok = 1
	}
	ch <- prometheus.MustNewConstMetric(l.startDesc, prometheus.GaugeValue, float64(l.start.UnixNano())/1e9)
	ch <- prometheus.MustNewConstMetric(l.successDesc, prometheus.GaugeValue, float64(l.lastSuccess.Load())/1e9)
	ch <- prometheus.MustNewConstMetric(l.okDesc, prometheus.GaugeValue, ok)
	ch <- prometheus.MustNewConstMetric(l.reattachedDesc, prometheus.CounterValue, float64(l.reattached.Load()))
}

// Started is when the process started.
func (l *Lifecycle) Started() time.Time { return l.start }

// LastSuccess is when the config was last applied, and whether the last
// reload was.
func (l *Lifecycle) LastSuccess() (time.Time, bool) {
	return time.Unix(0, l.lastSuccess.Load()), l.lastOK.Load()
}
