package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/vswitch/vswitch/internal/testnet"
)

// quickResults runs the harness with -quick and args and returns the
// results in the results.json it wrote, failing the test on any failure
// or skip.
func quickResults(t *testing.T, args ...string) []Result {
	t.Helper()
	res, failures := quickRun(t, args...)
	if len(failures) != 0 {
		t.Fatalf("failed: %v", failures)
	}
	return res
}

// quickRun is quickResults that returns the failures too (a skip still
// fails the test).
func quickRun(t *testing.T, args ...string) ([]Result, []string) {
	t.Helper()
	out := t.TempDir()
	if err := run(append([]string{"-quick", "-out", out}, args...)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Results  []Result
		Skipped  map[string]string
		Failures []string
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Skipped) != 0 {
		t.Fatalf("skipped %v", res.Skipped)
	}
	return res.Results, res.Failures
}

// TestQuickVXLAN runs the vxlan workload alone: both near ends must yield
// both directions, parsed from real iperf3 output, and Linux's rows the
// ratio to vswitch's.
func TestQuickVXLAN(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireCommands(t, "ip", "iperf3", "ethtool", "ping")
	want := map[string]bool{}
	for _, sw := range vxlanSides {
		want[sw+"/vxlan"], want[sw+"/vxlan-rev"] = true, true
	}
	for _, r := range quickResults(t, "-switches", "", "-tests", "vxlan") {
		if r.Median <= 0 || len(r.Samples) != 1 {
			t.Errorf("%s %s: median %v samples %v", r.Switch, r.Test, r.Median, r.Samples)
		}
		if r.Switch == "linux-vxlan" && r.Ratio <= 0 {
			t.Errorf("linux-vxlan %s: no vswitch ratio", r.Test)
		}
		delete(want, r.Switch+"/"+r.Test)
	}
	if len(want) != 0 {
		t.Fatalf("missing figures: %v", want)
	}
}
