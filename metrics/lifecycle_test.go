package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestLifecycle: the start time stays; a refused reload sets successful
// to 0 and keeps the last success time; an applied one moves it.
func TestLifecycle(t *testing.T) {
	start := time.Unix(1700000000, 500_000_000)
	l := NewLifecycle(start)
	l.Reattached()
	l.Reattached()
	want := func(success string, ok string) string {
		return `
# HELP vswitch_config_last_reload_success_timestamp_seconds When the config was last applied (at start or by a reload), in seconds since the Unix epoch.
# TYPE vswitch_config_last_reload_success_timestamp_seconds gauge
vswitch_config_last_reload_success_timestamp_seconds ` + success + `
# HELP vswitch_config_last_reload_successful Whether the last reload was applied (1) or refused (0).
# TYPE vswitch_config_last_reload_successful gauge
vswitch_config_last_reload_successful ` + ok + `
# HELP vswitch_ports_reattached_total TAP devices taken back from a vswitch that did not stop cleanly.
# TYPE vswitch_ports_reattached_total counter
vswitch_ports_reattached_total 2
# HELP vswitch_start_time_seconds When vswitch started, in seconds since the Unix epoch.
# TYPE vswitch_start_time_seconds gauge
vswitch_start_time_seconds 1.7000000005e+09
`
	}
	steps := []struct {
		name      string
		ok        bool
		at        time.Time
		success   string
		succeeded string
	}{
		{"refused", false, start.Add(time.Minute), "1.7000000005e+09", "0"},
		{"applied", true, start.Add(2 * time.Minute), "1.7000001205e+09", "1"},
		{"refused again", false, start.Add(3 * time.Minute), "1.7000001205e+09", "0"},
	}
	for _, s := range steps {
		l.Reloaded(s.ok, s.at)
		if err := testutil.CollectAndCompare(l, strings.NewReader(want(s.success, s.succeeded))); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
}
