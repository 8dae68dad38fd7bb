package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// TestUplinkDHCPWithoutRouter: an outside DHCP server (busybox udhcpd)
// whose lease names no router. vswitch takes the address, says in its log
// that there is no default route, and stays up: a guest reaches a host on
// the outside link itself through the NAT, while its packets for anywhere
// else are dropped and counted as no_route (exactly one per echo), never
// a panic; `show status` says so too.
func TestUplinkDHCPWithoutRouter(t *testing.T) {
	requireE2E(t, "ping", "busybox")
	out, upDev, outDev := outsideHost(t, "nr", "10.252.0.1/24")
	out.serveDHCP(outDev, 252)
	guest, pg := newHost(t, "ng"), testnet.Name("nr")
	addr := freeAddr(t)
	vs := startVswitch(t, fmt.Sprintf("metrics: %q\n", addr)+tapPorts([]string{pg}, guest)+labNetwork(252, "nat")+dhcpUplink(upDev))
	guest.routedVia(pg, "192.168.252.10/24", "192.168.252.1")
	testnet.WaitFor(t, 30*time.Second, "the uplink's lease and a ping to the outside link", func() bool {
		return guest.ping("10.252.0.1", 1)
	})
	if !strings.Contains(vs.log.String(), "no default route") {
		t.Fatalf("the log does not say the lease has no router:\n%s", vs.log)
	}
	requireNoRoute(t, guest, addr, "10.99.0.1", 3)
	// Still up and still routing on the link: the sentinel.
	if !guest.ping("10.252.0.1", 3) {
		t.Fatal("the outside link stopped answering after the off-link echoes")
	}
	if st := vs.mustCLI("show", "status"); !strings.Contains(st, "uplink wan:") || !strings.Contains(st, "no default route") ||
		!strings.Contains(st, "10.252.0.5") {
		t.Fatalf("show status does not say the uplink has no default route:\n%s", st)
	}
}

// requireNoRoute pings dst n times from guest: none is answered, and the
// uplink wan's no_route drops (in the metrics at addr) grow by exactly n,
// one per echo.
func requireNoRoute(t *testing.T, guest *host, addr, dst string, n int) {
	t.Helper()
	noRoute := func() float64 {
		return metric(t, scrape(t, addr), "vswitch_uplink_drops_total", `reason="no_route",uplink="wan"`)
	}
	before := noRoute()
	if got := guest.pingCount(dst, n); got != 0 {
		t.Fatalf("%d of %d echoes to %s answered with no router known", got, n, dst)
	}
	if d := noRoute() - before; d != float64(n) {
		t.Fatalf("no_route drops went up by %v for %d echoes to %s, want %d (one per echo)", d, n, dst, n)
	}
}
