package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

func main() {
	if rrRole(os.Args) {
		return
	}
	exitOn(run(os.Args[1:]))
}

// rrRole runs the rr server or client when args (os.Args) name one, as
// the harness re-executes its own binary inside the namespaces; it
// reports whether it did.
func rrRole(args []string) bool {
	if len(args) < 2 {
		return false
	}
	switch args[1] {
	case "rr-server":
		exitOn(rrServer(args[2:]))
	case "rr-client":
		exitOn(rrClient(args[2:]))
	default:
		return false
	}
	return true
}

func exitOn(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	quick    bool
	switches []string
	tests    []string
	reps     int
	secs     int
	out      string
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "one repetition of 1 s per test")
	sw := fs.String("switches", "vswitch,vswitch-veth,vswitch-1cpu,linux-bridge,ovs,ovs-tso,vde", "switches to measure")
	tests := fs.String("tests", "tcp,tcp4,udp64,rr,mesh4,nat,vxlan,dhcp,dhcp-best,dhcp-rss", "tests to run (nat: vswitch, vswitch-1cpu and linux-bridge only; vxlan, dhcp, dhcp-best, dhcp-rss, ports, ports-v6, ports-v6-gw, ports-v6-q, ports-peers, rootless: once, with their own peers)")
	reps := fs.Int("reps", 3, "repetitions per test (the median is reported)")
	secs := fs.Int("secs", 5, "seconds per repetition")
	out := fs.String("out", "bench-out", "output directory")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	o := options{quick: *quick, switches: split(*sw), tests: split(*tests), reps: *reps, secs: *secs, out: *out}
	if o.quick {
		o.reps, o.secs = 1, 1
	}
	if o.reps < 1 || o.secs < 1 {
		return o, fmt.Errorf("-reps and -secs must be at least 1")
	}
	return o, nil
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// run is the whole harness; bench_test.go calls it with -quick.
func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root (it builds network namespaces)")
	}
	for _, c := range []string{"ip", "iperf3"} {
		if _, err := exec.LookPath(c); err != nil {
			return fmt.Errorf("%s is not installed (make deps)", c)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "vsb-work")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "bin", "vswitch")
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if _, err := sh("go", "build", "-o", bin, filepath.Join(root, "cmd", "vswitch")); err != nil {
		return fmt.Errorf("building vswitch: %w", err)
	}

	rep := newReport(o)
	// Everything made for a switch is undone before the next one, and on
	// Ctrl-C or SIGTERM.
	var c cleanup
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		fmt.Fprintln(os.Stderr, "\nbench: interrupted, cleaning up")
		c.run()
		os.Exit(130)
	}()
	defer c.run()

	perSwitch := 0
	for _, test := range o.tests {
		if separate[test] == nil {
			perSwitch++
		}
	}
	total := len(o.switches) * perSwitch * o.reps
	done := 0
	for _, name := range o.switches {
		p, err := newPeer(name, bin)
		if err != nil {
			return err
		}
		t := newTopo()
		err = hosts(t, &c)
		if err == nil {
			err = p.setup(t, &c, filepath.Join(work, name))
		}
		if err == nil {
			err = address(t)
		}
		if err != nil {
			fmt.Printf("%-13s cannot start: %v\n", name, err)
			rep.skip(name, err)
			c.run()
			done += len(o.tests) * o.reps
			continue
		}
		rep.versions[name] = p.version()
		for _, test := range o.tests {
			if test == "nat" || separate[test] != nil {
				continue // its own topology, below
			}
			for r := 0; r < o.reps; r++ {
				done++
				fmt.Printf("[%d/%d] %-13s %-6s rep %d/%d ... ", done, total, name, test, r+1, o.reps)
				s, cdf, err := runTest(test, t, p, o.secs, self)
				if err != nil {
					fmt.Println("failed:", err)
					rep.fail(name, test, err)
					continue
				}
				fmt.Println(formatSample(s))
				rep.add(name, s, cdf)
				time.Sleep(200 * time.Millisecond)
			}
		}
		c.run()
		if contains(o.tests, "nat") {
			if natSupported(name) {
				runNAT(name, bin, filepath.Join(work, name+"-nat"), self, o, rep, func(s string) {
					done++
					fmt.Printf("[%d/%d] %s", done, total, s)
				})
			} else {
				done += o.reps
			}
		}
	}
	for _, test := range o.tests {
		if f := separate[test]; f != nil {
			f(bin, work, o, rep, &c)
		}
	}
	rep.finish()
	fmt.Println()
	fmt.Print(rep.table())
	if err := rep.write(o.out); err != nil {
		return err
	}
	fmt.Printf("\nwrote %s/results.json, report.md and plots\n", o.out)
	return nil
}

func formatSample(s sample) string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.3g %s", k, s[k], testUnits[k]))
	}
	return strings.Join(parts, ", ")
}

// moduleRoot finds the repository root (the directory with go.mod) from
// the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run from inside the vswitch repository (no go.mod found)")
		}
		dir = parent
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
