package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollectorDNS(t *testing.T) {
	c := NewCollector(fakeSource{}, nil, "test")
	c.Networks = func() []NetworkStats {
		return []NetworkStats{{Name: "n1", DNS: &DNSStats{
			Queries: map[string]uint64{"A": 3}, Results: map[string]uint64{"local": 2, "forwarded": 1},
			Drops:   map[string]uint64{"ratelimit": 4},
			Buckets: []float64{0.01, 0.1}, Latency: []uint64{1, 2, 3}, LatencySum: 1.5,
		}}}
	}
	want := `
# HELP vswitch_dns_results_total DNS queries by network and how they were settled.
# TYPE vswitch_dns_results_total counter
vswitch_dns_results_total{network="n1",result="forwarded"} 1
vswitch_dns_results_total{network="n1",result="local"} 2
# HELP vswitch_dns_drops_total DNS queries dropped unanswered, by network and reason.
# TYPE vswitch_dns_drops_total counter
vswitch_dns_drops_total{network="n1",reason="ratelimit"} 4
# HELP vswitch_dns_upstream_seconds Time to an upstream DNS server's answer, by network.
# TYPE vswitch_dns_upstream_seconds histogram
vswitch_dns_upstream_seconds_bucket{network="n1",le="0.01"} 1
vswitch_dns_upstream_seconds_bucket{network="n1",le="0.1"} 3
vswitch_dns_upstream_seconds_bucket{network="n1",le="+Inf"} 6
vswitch_dns_upstream_seconds_sum{network="n1"} 1.5
vswitch_dns_upstream_seconds_count{network="n1"} 6
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "vswitch_dns_results_total", "vswitch_dns_drops_total", "vswitch_dns_upstream_seconds"); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) != 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
}
