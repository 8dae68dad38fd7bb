package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/vswitch/vswitch/internal/testnet"
)

// TestQuickDHCP runs the dhcp workload alone: each server yields, at
// each rate, leases/s and the average delay parsed from real perfdhcp
// output (positive), and drops within 0-100 %. Kea may be missing
// (kea-dhcp4-server is not one of the test dependencies: installing it
// starts a system service); then its only failures say so.
func TestQuickDHCP(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireCommands(t, "ip", "perfdhcp", "dnsmasq")
	servers := []string{"vswitch", "dnsmasq", "kea"}
	res, failures := quickRun(t, "-switches", "", "-tests", "dhcp")
	if _, err := exec.LookPath("kea-dhcp4"); err != nil {
		servers = servers[:2]
		for _, f := range failures {
			if !strings.HasPrefix(f, "kea ") || !strings.Contains(f, "not installed") {
				t.Errorf("failure: %s", f)
			}
		}
	} else if len(failures) != 0 {
		t.Errorf("failures: %v", failures)
	}
	want := map[string]bool{}
	for _, s := range servers {
		for _, r := range dhcpRates {
			for _, f := range []string{"leases", "drops", "delay"} {
				want[s+"/dhcp"+r.name+"-"+f] = true
			}
		}
	}
	for _, r := range res {
		ok := r.Median > 0
		if strings.HasSuffix(r.Test, "-drops") {
			ok = r.Median >= 0 && r.Median <= 100
		}
		if !ok || len(r.Samples) != 1 {
			t.Errorf("%s %s: median %v samples %v", r.Switch, r.Test, r.Median, r.Samples)
		}
		delete(want, r.Switch+"/"+r.Test)
	}
	if len(want) != 0 {
		t.Fatalf("missing figures: %v", want)
	}
}

// TestParsePerfdhcp reads a perfdhcp 2.2 report: the counts of both
// exchanges and the REQUEST-ACK delay, not DISCOVER-OFFER's.
func TestParsePerfdhcp(t *testing.T) {
	out := `Running: perfdhcp -4 -l vsbdc0 -r 1000 10.253.0.1
***Rate statistics***
Rate: 998.2 4-way exchanges/second, expected rate: 1000

***Statistics for: DISCOVER-OFFER***
sent packets: 5000
received packets: 4990
drops: 10
drops ratio: 0.2 %
orphans: 0
rejected leases: 0
non unique addresses: 0

min delay: 0.105 ms
avg delay: 1.250 ms
max delay: 30.1 ms
std deviation: 2.0 ms
collected packets: 0

***Statistics for: REQUEST-ACK***
sent packets: 4990
received packets: 4980
drops: 10
drops ratio: 0.2 %
orphans: 0
rejected leases: 0
non unique addresses: 0

min delay: 0.110 ms
avg delay: 2.500 ms
max delay: 40.2 ms
std deviation: 3.0 ms
collected packets: 0
`
	r, err := parsePerfdhcp(out)
	if err != nil {
		t.Fatal(err)
	}
	want := perfdhcpResult{discovers: 5000, offers: 4990, requests: 4990, acks: 4980, raDelay: 2.5}
	if r != want {
		t.Fatalf("got %+v, want %+v", r, want)
	}
	// No ACK came: perfdhcp 2.2 prints its delays as n/a.
	noACK := out[:strings.Index(out, "received packets: 4980")] + `received packets: 0
drops: 4990
drops ratio: 100.000 %
orphans: 0
rejected leases: 0
non unique addresses: 0

min delay: inf ms
avg delay: min delay: n/a
avg delay: n/a
max delay: n/a
std deviation: n/a
collected packets: 0
`
	r, err = parsePerfdhcp(noACK)
	if want.acks, want.raDelay = 0, 0; err != nil || r != want {
		t.Fatalf("without ACKs: got %+v %v, want %+v", r, err, want)
	}
	if _, err := parsePerfdhcp(out[:strings.Index(out, "***Statistics for: REQUEST-ACK")]); err == nil {
		t.Fatal("a report without REQUEST-ACK parsed")
	}
}
