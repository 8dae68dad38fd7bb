package e2e

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// TestGuardBindingsSurvive: a host on a `guard: dhcp` TAP port leases
// its address once (udhcpc -q: no renewal), then the switch is upgraded,
// killed with SIGKILL and started again; after each, the host's first
// pings to its neighbour are answered without a new lease: the binding
// was handed over, then rebuilt from the lease store. A second host on a
// guard: dhcp port that never leased stays dropped (the guard still
// bites), and a reload that changes the guarded port keeps its binding.
func TestGuardBindingsSurvive(t *testing.T) {
	requireE2E(t, "ping", "udhcpc")
	h1, h2, h3 := newHost(t, "gs1"), newHost(t, "gs2"), newHost(t, "gs3")
	p1, p2, p3 := testnet.Name("gs"), testnet.Name("gs"), testnet.Name("gs")
	ports := func(extra string) string {
		return fmt.Sprintf(`ports:
  - {name: %s, type: tap, netns: %s, guard: dhcp%s}
  - {name: %s, type: tap, netns: %s}
  - {name: %s, type: tap, netns: %s, guard: dhcp}
networks:
  - {name: lab, address: 10.234.0.1/24, dhcp: {range: 10.234.0.100-10.234.0.150, lease: 1h}}
`, p1, h1.Name, extra, p2, h2.Name, p3, h3.Name)
	}
	vs := startUpgradable(t, "metrics: \"\"\n"+ports(""))
	ip := dhcpClient(t, "udhcpc", h1, p1)
	h2.addr(p2, "10.234.0.12/24")
	h3.addr(p3, "10.234.0.13/24") // never leased: the guard drops it
	check := func(when string) {
		t.Helper()
		if n := h1.pingEvery("10.234.0.12", 3, "0.2"); n != 3 {
			t.Fatalf("%s: %d of 3 echoes from the guarded host %s answered", when, n, ip)
		}
		if n := h3.pingEvery("10.234.0.12", 2, "0.2"); n != 0 {
			t.Fatalf("%s: the host without a lease got %d echoes through its guard", when, n)
		}
	}
	check("before")

	vs.mustCLI("upgrade")
	check("after the upgrade")

	// A reload that changes the guarded port (its queue) reopens it.
	path := vs.dir + "/vswitch.yaml"
	head := fmt.Sprintf("control: %s\nstate_dir: %s\nmetrics: \"\"\n", vs.sock, vs.dir+"/state")
	if err := os.WriteFile(path, []byte(head+ports(", queue: 512")), 0o644); err != nil {
		t.Fatal(err)
	}
	if o := vs.mustCLI("reload"); !strings.Contains(o, "changed: "+p1) {
		t.Fatalf("reload: %s", o)
	}
	check("after a reload changed the port")

	pid, err := vs.statusErr()
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(pid, syscall.SIGKILL) // the upgraded process, not our child
	testnet.WaitFor(t, 10*time.Second, "the killed vswitch to go", func() bool { return !alive(pid) })
	vs2 := restartVswitch(t, vs.instance)
	if !strings.Contains(vs2.log.String(), "guard bindings restored") {
		t.Fatalf("no binding restored at the restart:\n%s", vs2.log.String())
	}
	check("after kill -9 and a restart")
}
