package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/vswitch/vswitch/internal/testnet"
)

// TestQuickDHCP runs the dhcp workload alone: each server yields, at
// each rate, leases/s (renewals/s) and the average delay parsed from real
// perfdhcp output (positive), and drops within 0-100 %. Kea may be missing
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
				if f == "leases" && r.name == "renew" {
					f = "renewals"
				}
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

// perfdhcpReport is perfdhcp 2.2's output of a run against Kea with
// renewals (-r 300 -f 200 -p 3), blank lines as printed.
const perfdhcpReport = `Running: perfdhcp -4 -l vsbzc0 -R 1000000 -r 300 -f 200 -p 3 -W 500000 10.240.0.1
Scenario: basic.
Multi-thread mode enabled.
***Rate statistics***
Rate: 254.815 4-way exchanges/second, expected rate: 300

***Malformed Packets***
Malformed packets: 0
***Statistics for: DISCOVER-OFFER***
sent packets: 894
received packets: 894
drops: 0
drops ratio: 0 %
orphans: 0
rejected leases: 0
non unique addresses: 0

min delay: 0.113 ms
avg delay: 9.587 ms
max delay: 142.811 ms
std deviation: 25.336 ms
collected packets: 0

***Statistics for: REQUEST-ACK***
sent packets: 894
received packets: 894
drops: 0
drops ratio: 0.000 %
orphans: 595
rejected leases: 0
non unique addresses: 0

min delay: 0.112 ms
avg delay: 4.297 ms
max delay: 47.572 ms
std deviation: 10.449 ms
collected packets: 0

***Statistics for: REQUEST-ACK (renewal)***
sent packets: 595
received packets: 590
drops: 5
drops ratio: 0.840 %
orphans: 0
rejected leases: 0
non unique addresses: 0

min delay: 0.132 ms
avg delay: 9.211 ms
max delay: 142.825 ms
std deviation: 24.633 ms
collected packets: 0
`

// TestParsePerfdhcp reads each exchange's counts and average delay, the
// renewals apart from the first REQUESTs; a run where nothing came back
// (delays "n/a") reads as zeros; a report cut short is an error.
func TestParsePerfdhcp(t *testing.T) {
	r, err := parsePerfdhcp(perfdhcpReport)
	want := perfdhcpResult{do: exchange{894, 894, 9.587}, ra: exchange{894, 894, 4.297}, renew: exchange{595, 590, 9.211}}
	if err != nil || r != want {
		t.Fatalf("got %+v %v, want %+v", r, err, want)
	}
	// No ACK came: perfdhcp 2.2 prints its delays as n/a.
	ra := strings.Index(perfdhcpReport, "***Statistics for: REQUEST-ACK***")
	noACK := perfdhcpReport[:ra] + `***Statistics for: REQUEST-ACK***
sent packets: 894
received packets: 0
drops: 894
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
	if want := (perfdhcpResult{do: want.do, ra: exchange{894, 0, 0}}); err != nil || r != want {
		t.Fatalf("without ACKs: got %+v %v, want %+v", r, err, want)
	}
	if _, err := parsePerfdhcp(perfdhcpReport[:ra]); err == nil {
		t.Fatal("a report without REQUEST-ACK parsed")
	}
}
