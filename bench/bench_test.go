package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/vswitch/vswitch/internal/testnet"
)

// TestMain lets the test binary serve as the rr client and server that the
// harness runs inside the namespaces (it re-executes itself).
func TestMain(m *testing.M) {
	if rrRole(os.Args) {
		return
	}
	os.Exit(m.Run())
}

// TestQuickRun is the harness's smoke test: a -quick run of vswitch and the
// Linux bridge, whose every figure must be a positive number parsed from
// real iperf3 and rr output.
func TestQuickRun(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireCommands(t, "ip", "iperf3")
	out := t.TempDir()
	if err := run([]string{"-quick", "-switches", "vswitch,linux-bridge", "-tests", "tcp,udp64,rr", "-out", out}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Machine map[string]any `json:"machine"`
		Results []Result       `json:"results"`
		Skipped map[string]string
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Skipped) != 0 {
		t.Fatalf("skipped: %v", res.Skipped)
	}
	want := map[string]bool{}
	for _, sw := range []string{"vswitch", "linux-bridge"} {
		for _, test := range []string{"tcp", "udp64", "rr-p50", "rr-p99"} {
			want[sw+"/"+test] = true
		}
	}
	for _, r := range res.Results {
		if r.Test == "udp64-loss" || r.Test == "cpu-per-gb" {
			continue
		}
		if r.Median <= 0 || len(r.Samples) != 1 {
			t.Errorf("%s %s: median %v samples %v", r.Switch, r.Test, r.Median, r.Samples)
		}
		delete(want, r.Switch+"/"+r.Test)
	}
	if len(want) != 0 {
		t.Fatalf("missing figures: %v", want)
	}
	for _, f := range []string{"report.md", "throughput.svg", "pps.svg", "latency-cdf.svg"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if res.Machine["cores"] == nil || res.Machine["kernel"] == "" {
		t.Errorf("machine description: %v", res.Machine)
	}
}

// snmp reads the value under its name in the protocol's second line, not
// another protocol's nor the names line.
func TestSNMP(t *testing.T) {
	text := "Ip: Forwarding InReceives\nIp: 1 100\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\nUdp: 438565 0 343771 12 343770 0\nUdpLite: InDatagrams RcvbufErrors\nUdpLite: 5 7\n"
	for _, tt := range []struct {
		proto, name string
		want        float64
	}{
		{"Udp", "RcvbufErrors", 343770},
		{"Udp", "InDatagrams", 438565},
		{"UdpLite", "RcvbufErrors", 7},
		{"Udp", "Nope", 0},
		{"Tcp", "RcvbufErrors", 0},
	} {
		if got := snmp(text, tt.proto, tt.name); got != tt.want {
			t.Errorf("snmp(%s, %s) = %v, want %v", tt.proto, tt.name, got, tt.want)
		}
	}
}
