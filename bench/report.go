package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Result is one (switch, test) figure: the median of its samples.
type Result struct {
	Switch  string    `json:"switch"`
	Test    string    `json:"test"`
	Unit    string    `json:"unit"`
	Median  float64   `json:"median"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Samples []float64 `json:"samples"`
	Ratio   float64   `json:"vswitch_ratio,omitempty"` // vswitch's median / this peer's, same run
}

type report struct {
	o        options
	Machine  map[string]any    `json:"machine"`
	Results  []Result          `json:"results"`
	Skipped  map[string]string `json:"skipped,omitempty"`
	Failures []string          `json:"failures,omitempty"`
	versions map[string]string
	samples  map[[2]string][]float64
	cdfs     map[string][]float64
	order    []string
}

func newReport(o options) *report {
	return &report{o: o, Skipped: map[string]string{}, versions: map[string]string{},
		samples: map[[2]string][]float64{}, cdfs: map[string][]float64{}}
}

func (r *report) skip(sw string, err error) { r.Skipped[sw] = err.Error() }

func (r *report) fail(sw, test string, err error) {
	r.Failures = append(r.Failures, fmt.Sprintf("%s %s: %v", sw, test, err))
}

func (r *report) add(sw string, s sample, cdf []float64) {
	for k, v := range s {
		key := [2]string{sw, k}
		if _, ok := r.samples[key]; !ok {
			r.order = append(r.order, sw+"\x00"+k)
		}
		r.samples[key] = append(r.samples[key], v)
	}
	if cdf != nil {
		r.cdfs[sw] = cdf // the last repetition's distribution
	}
}

func median(s []float64) (med, lo, hi float64) {
	c := append([]float64(nil), s...)
	sort.Float64s(c)
	return c[len(c)/2], c[0], c[len(c)-1]
}

func (r *report) finish() {
	for _, k := range r.order {
		sw, test, _ := strings.Cut(k, "\x00")
		s := r.samples[[2]string{sw, test}]
		med, lo, hi := median(s)
		r.Results = append(r.Results, Result{Switch: sw, Test: test, Unit: testUnits[test], Median: med, Min: lo, Max: hi, Samples: s})
	}
	for i, res := range r.Results {
		if res.Switch == "vswitch" {
			continue
		}
		for _, v := range r.Results {
			if v.Switch == "vswitch" && v.Test == res.Test && res.Median != 0 {
				r.Results[i].Ratio = v.Median / res.Median
			}
		}
	}
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	kernel, _ := sh("uname", "-r")
	iperfV, _ := sh("iperf3", "--version")
	r.Machine = map[string]any{
		"date": time.Now().UTC().Format(time.RFC3339), "cpu": cpu, "cores": runtime.NumCPU(),
		"kernel": strings.TrimSpace(kernel), "go": runtime.Version(),
		"iperf3": strings.SplitN(strings.TrimSpace(iperfV), "\n", 2)[0], "versions": r.versions,
		"reps": r.o.reps, "secs": r.o.secs,
	}
}

// table is the human summary.
func (r *report) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-13s %-11s %12s %12s %12s %10s  %s\n", "switch", "test", "median", "min", "max", "vswitch/x", "unit")
	for _, res := range r.Results {
		ratio := ""
		if res.Ratio != 0 {
			ratio = fmt.Sprintf("%.2f", res.Ratio)
		}
		fmt.Fprintf(&b, "%-13s %-11s %12.3f %12.3f %12.3f %10s  %s\n", res.Switch, res.Test, res.Median, res.Min, res.Max, ratio, res.Unit)
	}
	for sw, why := range r.Skipped {
		fmt.Fprintf(&b, "%-13s not measured: %s\n", sw, why)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "failed: %s\n", f)
	}
	return b.String()
}

func (r *report) write(dir string) error {
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), js, 0o644); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# vswitch benchmark report\n\n`go run ./bench %s` on %s\n\n", strings.Join(r.args(), " "), r.Machine["date"])
	fmt.Fprintf(&md, "Machine: %v, %v cores, kernel %v, %v, %v.\n\n", r.Machine["cpu"], r.Machine["cores"], r.Machine["kernel"], r.Machine["go"], r.Machine["iperf3"])
	for sw, v := range r.versions {
		fmt.Fprintf(&md, "- %s: %s\n", sw, v)
	}
	fmt.Fprintf(&md, "\nMedians of %d repetitions of %d s (min-max in brackets); the last column is vswitch's median divided by the peer's, same run.\n\n", r.o.reps, r.o.secs)
	md.WriteString("| switch | test | median | min-max | unit | vswitch/peer |\n|---|---|---|---|---|---|\n")
	for _, res := range r.Results {
		ratio := ""
		if res.Ratio != 0 {
			ratio = fmt.Sprintf("%.2f", res.Ratio)
		}
		fmt.Fprintf(&md, "| %s | %s | %.3f | %.3f-%.3f | %s | %s |\n", res.Switch, res.Test, res.Median, res.Min, res.Max, res.Unit, ratio)
	}
	for sw, why := range r.Skipped {
		fmt.Fprintf(&md, "\n%s was not measured: %s\n", sw, why)
	}
	md.WriteString("\n![throughput](throughput.svg)\n![packet rate](pps.svg)\n![latency CDF](latency-cdf.svg)\n")
	md.WriteString("![VXLAN](vxlan.svg)\n![DHCP](dhcp.svg)\n")
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	for name, svg := range map[string]string{
		"throughput.svg":  r.bars("TCP throughput", "Gbit/s", "tcp", "tcp-rev", "tcp4"),
		"pps.svg":         r.bars("64-byte UDP: received by iperf3, delivered to its host", "kpps", "udp64", "udp64-delivered"),
		"latency-cdf.svg": r.cdfPlot(),
		"vxlan.svg":       r.bars("TCP across a VXLAN tunnel", "Gbit/s", "vxlan", "vxlan-rev"),
		"dhcp.svg":        r.bars("DHCP leases a second, perfdhcp", "leases/s", "dhcp1000-leases", "dhcpmax-leases"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(svg), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (r *report) args() []string {
	a := []string{"-switches", strings.Join(r.o.switches, ","), "-tests", strings.Join(r.o.tests, ",")}
	if r.o.quick {
		return append(a, "-quick")
	}
	return append(a, "-reps", fmt.Sprint(r.o.reps), "-secs", fmt.Sprint(r.o.secs))
}
