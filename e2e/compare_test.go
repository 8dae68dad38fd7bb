package e2e

import (
	"fmt"
	"testing"

	"github.com/vswitch/vswitch/internal/testnet"
)

// BenchmarkCompareLinuxBridge measures iperf3 TCP between two namespaces
// through vswitch (TAP ports, and AF_PACKET on veths) and through the
// kernel bridge (a veth per host, the bridge's best case) in one run, and
// reports the medians. It asserts nothing about speed. It is a benchmark,
// not an end-to-end test: it runs only when asked for, once,
//
//	go test -count=1 -run - -bench CompareLinuxBridge -benchtime 1x ./e2e/
//
// (without -race, or the switch measured is the race-instrumented one).
// The benchmark harness in bench/ is where comparisons belong; this is the
// figure until it lands.
func BenchmarkCompareLinuxBridge(b *testing.B) {
	t := b
	requireE2E(t, "iperf3")
	const secs = 5
	const reps = 3
	var vsw, br, vswVeth []float64
	for r := 0; r < reps; r++ {
		// vswitch, TAP ports.
		{
			h1, h2 := newHost(t, "c1"), newHost(t, "c2")
			p1, p2 := testnet.Name("c"), testnet.Name("c")
			vs := startVswitch(t, fmt.Sprintf("ports:\n  - {name: %s, type: tap, netns: %s}\n  - {name: %s, type: tap, netns: %s}\n", p1, h1.Name, p2, h2.Name))
			h1.addr(p1, "10.207.0.1/24")
			h2.addr(p2, "10.207.0.2/24")
			vsw = append(vsw, iperfTCP(t, h2, h1, "10.207.0.2", secs))
			vs.stop()
		}
		// vswitch, AF_PACKET on veths (like the bridge topology).
		{
			vs, h1, h2 := afpacketPair(t, "c", "10.207.1.1/24", "10.207.1.2/24")
			vswVeth = append(vswVeth, iperfTCP(t, h2, h1, "10.207.1.2", secs))
			vs.stop()
		}
		// Linux bridge, veth per host.
		{
			h1, h2 := newHost(t, "b1"), newHost(t, "b2")
			bridge := testnet.Name("br")
			testnet.Run(t, "ip", "link", "add", bridge, "type", "bridge")
			t.Cleanup(func() { testnet.Output("ip", "link", "del", bridge) })
			testnet.Run(t, "ip", "link", "set", bridge, "up")
			r1, p1 := testnet.Veth(t, "b", h1.Netns)
			r2, p2 := testnet.Veth(t, "b", h2.Netns)
			testnet.Run(t, "ip", "link", "set", r1, "master", bridge)
			testnet.Run(t, "ip", "link", "set", r2, "master", bridge)
			h1.addr(p1, "10.207.2.1/24")
			h2.addr(p2, "10.207.2.2/24")
			br = append(br, iperfTCP(t, h2, h1, "10.207.2.2", secs))
		}
	}
	t.ReportMetric(median(vsw), "vswitch-tap-Gbit/s")
	t.ReportMetric(median(vswVeth), "vswitch-afpacket-Gbit/s")
	t.ReportMetric(median(br), "bridge-Gbit/s")
	t.Logf("iperf3 TCP 1 stream, %ds x %d, Gbit/s samples and median:", secs, reps)
	t.Logf("  vswitch, TAP ports:        %v median %.2f", fmtS(vsw), median(vsw))
	t.Logf("  vswitch, AF_PACKET veths:  %v median %.2f", fmtS(vswVeth), median(vswVeth))
	t.Logf("  Linux bridge, veths:       %v median %.2f", fmtS(br), median(br))
}

func median(s []float64) float64 {
	c := append([]float64(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c[len(c)/2]
}

func fmtS(s []float64) string {
	out := "["
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += fmt.Sprintf("%.2f", v)
	}
	return out + "]"
}
