package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// TestIsolatedPorts: two guests on isolated ports of one network cannot
// reach each other, neither by ARP (their broadcasts skip each other) nor
// with the neighbour's MAC set by hand (each unicast is dropped and
// counted as isolated); both still ping the gateway and a guest on a port
// that is not isolated, which reaches both (the sentinel: frames to an
// isolated guest do arrive).
func TestIsolatedPorts(t *testing.T) {
	requireE2E(t, "ping")
	a, b, c := newHost(t, "ia"), newHost(t, "ib"), newHost(t, "ic")
	pa, pb, pc := testnet.Name("i"), testnet.Name("i"), testnet.Name("i")
	vs := startVswitch(t, fmt.Sprintf(`ports:
  - {name: %s, type: tap, netns: %s, isolated: true}
  - {name: %s, type: tap, netns: %s, isolated: true}
  - {name: %s, type: tap, netns: %s}
networks:
  - name: lab
    address: 10.224.0.1/24
`, pa, a.Name, pb, b.Name, pc, c.Name))
	a.addr(pa, "10.224.0.11/24")
	b.addr(pb, "10.224.0.12/24")
	c.addr(pc, "10.224.0.13/24")

	// Positive controls: the gateway and the open port, from both.
	for _, h := range []*host{a, b} {
		for _, dst := range []string{"10.224.0.1", "10.224.0.13"} {
			if got := h.pingCount(dst, 3); got != 3 {
				t.Fatalf("%s pinged %s: %d of 3 replies", h.Name, dst, got)
			}
		}
	}
	// By ARP: a's request for b never reaches b.
	if got := a.pingEvery("10.224.0.12", 3, "0.2"); got != 0 {
		t.Fatalf("a pinged b through isolation: %d replies", got)
	}
	if d := vs.ports()[pa].Drops["isolated"]; d != 0 {
		t.Fatalf("%d isolated drops after a's ARP for b, want 0 (a broadcast skips isolated ports uncounted); a's neighbours:\n%s", d, a.Run("ip", "neigh"))
	}
	// With b's MAC set by hand (b's MAC is learned: b pinged above), each
	// echo is a known unicast between isolated ports: dropped, counted.
	const n = 5
	// First forget the unresolved entry: it still queues the echoes of the
	// ARP attempt, and a lladdr set on it would send them too.
	a.Run("ip", "neigh", "flush", "to", "10.224.0.12", "dev", pa)
	a.Run("ip", "neigh", "replace", "10.224.0.12", "lladdr", b.mac(pb), "dev", pa, "nud", "permanent")
	if got := a.pingEvery("10.224.0.12", n, "0.1"); got != 0 {
		t.Fatalf("a pinged b with a static neighbour: %d replies", got)
	}
	testnet.WaitFor(t, 5*time.Second, "the isolated drops counted", func() bool { return vs.ports()[pa].Drops["isolated"] >= n })
	if d := vs.ports()[pa].Drops["isolated"]; d != n {
		t.Fatalf("%d isolated drops after %d echoes to b's MAC", d, n)
	}
	// The sentinel: c reaches b (and a) after all that.
	for _, dst := range []string{"10.224.0.11", "10.224.0.12"} {
		if got := c.pingCount(dst, 2); got != 2 {
			t.Fatalf("c pinged %s: %d of 2 replies", dst, got)
		}
	}
	ports := vs.ports()
	for _, p := range []struct {
		name string
		want uint64
	}{{pa, n}, {pb, 0}, {pc, 0}, {"gw-lab", 0}} {
		if got := ports[p.name].Drops["isolated"]; got != p.want {
			t.Errorf("%s: %d isolated drops, want %d", p.name, got, p.want)
		}
	}
}
