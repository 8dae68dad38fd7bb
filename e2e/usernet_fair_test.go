package e2e

import (
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// pingStats finds ping's replies received and average round trip.
var pingStats = regexp.MustCompile(`(?s)(\d+) received.*= [\d.]+/([\d.]+)/`)

// TestUserUplinkFairness: one guest floods the user uplink with bytes
// (iperf3, 128 parallel uploads to a host server that reads as fast as
// it can) while another downloads 8 MiB from the host (SHA-256 checked)
// and pings it. The stated bound: the download completes within 30 s
// (at least 0.27 MiB/s, however loaded the machine) and at least 15 of
// 20 pings are answered. The download's speed alone and during the
// flood, the pings' round trips and the flood's packets dropped in front
// of the stack (its source queue full) are reported.
func TestUserUplinkFairness(t *testing.T) {
	requireE2E(t, "udhcpc", "curl", "ping", "iperf3", "python3")
	hostNS, bad, good := newHost(t, "wh"), newHost(t, "wb"), newHost(t, "wg")
	hostNS.Run("ip", "addr", "add", "10.243.0.1/32", "dev", "lo")
	dir := t.TempDir()
	const mib = 8
	sum := randomBlob(t, filepath.Join(dir, "blob"), mib)
	serveBlob(hostNS, "10.243.0.1", dir)
	hostNS.Start("iperf3", "-s", "-B", "10.243.0.1")
	hostNS.Run("sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647")
	vs, _ := startUserLab(t, hostNS, "192.168.249", "", "", bad, good)
	got := filepath.Join(t.TempDir(), "got")
	timed := func(what string) time.Duration {
		start := time.Now()
		downloadChecked(t, good, "http://10.243.0.1:8000/blob", got, sum, 30*time.Second, "30", what)
		return time.Since(start)
	}
	rtt := func() string {
		out, _ := good.Output("ping", "-c", "20", "-i", "0.05", "-W", "2", "10.243.0.1")
		m := pingStats.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("ping: %s", out)
		}
		if n, _ := strconv.Atoi(m[1]); n < 15 {
			t.Fatalf("%s of 20 pings answered: %s", m[1], out)
		}
		return m[2] + " ms"
	}
	alone, idle := timed("the download alone"), rtt()
	flood := bad.Start("iperf3", "-c", "10.243.0.1", "-P", "128", "-t", "30")
	defer flood.Process.Kill()
	time.Sleep(time.Second) // the flood under way
	during := timed("the download during the flood")
	busy := rtt()
	speed := func(d time.Duration) string { return strconv.FormatFloat(mib/d.Seconds(), 'f', 1, 64) + " MiB/s" }
	t.Logf("%d MiB alone in %v (%s), during the flood in %v (%s); ping avg %s idle, %s during the flood; the flood's packets dropped in front of the stack: %d",
		mib, alone.Round(time.Millisecond), speed(alone), during.Round(time.Millisecond), speed(during), idle, busy, vs.ports()["host"].Driver["source_queue_full"])
}
