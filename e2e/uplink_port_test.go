package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// TestUplinkPort: an uplink runs on the switch's port runtime, so `show
// ports`, the vswitch_port_* metrics and `vswitch capture` see it like any
// port. The outside host knows the uplink's MAC statically and has no
// IPv6, so after the uplink's start (a gratuitous ARP and an ARP request
// for the router out, the router's reply in) only the pings cross it: N
// pings through the NAT are exactly N frames each way, and a capture of
// the uplink reads in tcpdump as the translated echoes.
func TestUplinkPort(t *testing.T) {
	requireE2E(t, "ping", "tcpdump")
	const upMAC = "02:00:00:47:00:05"
	out, upDev, outDev := outsideHost(t, "w", "10.247.0.1/24")
	out.Run("ip", "neigh", "replace", "10.247.0.5", "lladdr", upMAC, "dev", outDev, "nud", "permanent")
	guest, pg := newHost(t, "ug"), testnet.Name("u")
	addr := freeAddr(t)
	vs := startVswitch(t, tapPorts([]string{pg}, guest)+labNetwork(247, "nat")+fmt.Sprintf(`metrics: %q
uplinks:
  - {name: wan, device: %s, address: 10.247.0.5/24, gateway: 10.247.0.1, mac: %q}
`, addr, upDev, upMAC))
	guest.routedVia(pg, "192.168.247.10/24", "192.168.247.1")

	wan := func() portStatus {
		t.Helper()
		p, ok := vs.ports()["wan"]
		if !ok {
			t.Fatalf("show ports lacks the uplink:\n%s", vs.mustCLI("show", "ports"))
		}
		return p
	}
	// Start: the gratuitous ARP and the ARP request (60 bytes each, padded)
	// out, the router's 42-byte reply in.
	testnet.WaitFor(t, 5*time.Second, "the uplink's ARP exchange", func() bool { return wan().RxPackets == 1 })
	const arpOut, arpIn = 60, 42
	if p := wan(); p.RxPackets != 1 || p.RxBytes != arpIn || p.TxPackets != 2 || p.TxBytes != 2*arpOut {
		t.Fatalf("uplink after start: rx %d/%d B, tx %d/%d B; want 1/%d, 2/%d", p.RxPackets, p.RxBytes, p.TxPackets, p.TxBytes, arpIn, 2*arpOut)
	}

	// N pings through the NAT: N echo requests out, N replies in, 98
	// bytes each, on the uplink's port, in show ports and in the metrics.
	const n, echo = 25, 98
	if got := guest.pingEvery("10.247.0.1", n, "0.02"); got != n {
		t.Fatalf("%d of %d pings answered through the NAT", got, n)
	}
	want := [4]uint64{1 + n, arpIn + n*echo, 2 + n, 2*arpOut + n*echo} // rx packets, bytes; tx packets, bytes
	if p := wan(); [4]uint64{p.RxPackets, p.RxBytes, p.TxPackets, p.TxBytes} != want || len(p.Drops) != 0 || len(p.Driver) != 0 {
		t.Fatalf("uplink after %d pings: %+v\nwant rx %d/%d B, tx %d/%d B, no drop or driver counter", n, p, want[0], want[1], want[2], want[3])
	}
	var kind []struct{ Name, Type, Mode string }
	vs.showJSON("ports", &kind)
	if len(kind) != 3 || fmt.Sprint(kind[1]) != "{wan uplink routed}" {
		t.Fatalf("show ports: %+v, want the uplink second as {wan uplink routed}", kind)
	}
	text := scrape(t, addr)
	for name, v := range map[string]uint64{"rx_packets": want[0], "rx_bytes": want[1], "tx_packets": want[2], "tx_bytes": want[3]} {
		if got := metric(t, text, "vswitch_port_"+name+"_total", `port="wan"`); got != float64(v) {
			t.Errorf("vswitch_port_%s_total{port=\"wan\"} = %v, want %d", name, got, v)
		}
	}
	if got := metric(t, text, "vswitch_port_info", `port="wan",type="uplink"`); got != 1 {
		t.Errorf("vswitch_port_info of the uplink: %v", got)
	}
	if o, err := vs.cli("port", "del", "wan"); err == nil || !strings.Contains(o, "is an uplink") {
		t.Fatalf("port del wan: %v %s", err, o)
	}

	// 10 frames captured on the uplink while the guest pings: tcpdump
	// reads exactly 10, each an echo between the uplink's and the outside host's
	// addresses (translated), both ways.
	vs.captureEchoes(guest, "wan", 10, "10.247.0.5", "10.247.0.1")
}
