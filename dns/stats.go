package dns

import (
	"slices"
	"sync/atomic"
	"time"
)

// latencyBuckets are the upper bounds, in seconds, of the upstream latency
// histogram (vswitch_dns_upstream_seconds).
var latencyBuckets = [...]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// LatencyBuckets returns a copy of the histogram's upper bounds, in
// seconds: what Stats.Latency counts against. A copy, so no caller can
// move the bounds under the server.
func LatencyBuckets() []float64 { return slices.Clone(latencyBuckets[:]) }

// histogram counts observations per bucket (not cumulative) in atomics;
// the metrics collector sums them at scrape time.
type histogram struct {
	counts [len(latencyBuckets) + 1]atomic.Uint64 // the last: above every bound
	sumNs  atomic.Int64
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(latencyBuckets) && s > latencyBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(int64(d))
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	Queries [NumQTypes]uint64  // by question type
	Results [NumResults]uint64 // by how they were settled
	Drops   [NumDrops]uint64
	// Latency of answered forwarded queries: Counts[i] fell in bucket i
	// of LatencyBuckets() (the last: above all), Sum in seconds.
	Latency    [len(latencyBuckets) + 1]uint64
	LatencySum float64
	Inflight   int
	Cached     int // cache entries
}

// Stats reads the counters.
func (s *Server) Stats() Stats {
	var st Stats
	for i := range st.Queries {
		st.Queries[i] = s.qtypes[i].Load()
	}
	for i := range st.Results {
		st.Results[i] = s.results[i].Load()
	}
	for i := range st.Drops {
		st.Drops[i] = s.drops[i].Load()
	}
	for i := range st.Latency {
		st.Latency[i] = s.latency.counts[i].Load()
	}
	st.LatencySum = time.Duration(s.latency.sumNs.Load()).Seconds()
	st.Inflight = int(s.inflight.Load())
	st.Cached, _ = s.cache.len()
	return st
}
