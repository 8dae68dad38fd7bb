package e2e

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// TestFDBFlood: one guest sends 10000 frames, each from a new random
// source MAC; then a new guest on another port leases an address
// with udhcpc and pings the gateway. With the default max_macs of a tap
// port (16) the flooder never gets more than 16 entries; with max_macs: 0
// it fills the table (fdb.max_entries 8192), and the new guest still
// learns by the fair share: the flooder's oldest entry makes room.
func TestFDBFlood(t *testing.T) {
	requireE2E(t, "ping", "udhcpc")
	const flood, table = 10000, 8192
	for _, tc := range []struct {
		name, maxMACs string
		learned       int // of the flood
	}{
		{"default max_macs", "", 16},
		{"unlimited port, full table", ", max_macs: 0", table},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad, good := newHost(t, "fb"), newHost(t, "fg")
			pb, pg := testnet.Name("f"), testnet.Name("f")
			addr := freeAddr(t)
			vs := startVswitch(t, fmt.Sprintf(`metrics: %q
fdb: {max_entries: %d}
ports:
  - {name: %s, type: tap, netns: %s%s}
  - {name: %s, type: tap, netns: %s}
networks:
  - name: lab
    address: 10.226.0.1/24
    dhcp: {range: 10.226.0.10-10.226.0.20}
`, addr, table, pb, bad.Name, tc.maxMACs, pg, good.Name))
			// A queue that holds the whole flood: the kernel drops none of
			// it before vswitch reads it, so the counts below are exact.
			bad.Run("ip", "link", "set", pb, "txqueuelen", "20000", "up")
			raw := testnet.OpenRaw(t, bad.Netns, pb)
			send := func(dst, src pkt.MAC) {
				b := make([]byte, 60)
				pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: dst, Src: src, Type: 0x88b5})
				raw.Send(b)
			}
			// The flood goes to a MAC of the flooder's own (same_port), so
			// the switch does not copy it to the other ports: under load
			// their queues would overflow by chance, and the counts below
			// could not be exact.
			own := pkt.MAC{0x02, 0, 0, 0, 0xff, 1}
			send(pkt.Broadcast, own)
			rng := rand.New(rand.NewPCG(1, 2))
			seen := map[pkt.MAC]bool{own: true}
			for len(seen) <= flood {
				m := pkt.MACFromUint64(rng.Uint64() &^ (1 << 40)) // unicast
				m[0] |= 2                                         // locally administered
				if seen[m] || m.IsZero() {
					continue
				}
				seen[m] = true
				send(own, m)
			}
			testnet.WaitFor(t, 60*time.Second, "the flood read", func() bool { return vs.ports()[pb].RxPackets >= flood+1 })
			limited := uint64(flood - (tc.learned - 1))
			var ports map[string]portStatus
			testnet.WaitFor(t, 10*time.Second, "the flood counted", func() bool {
				ports = vs.ports()
				return ports[pb].Drops["fdb_limit"] >= limited && ports[pb].Drops["same_port"] >= flood
			})
			if got := onPort(vs, pb); ports[pb].RxPackets != flood+1 || got != tc.learned {
				t.Fatalf("%s read %d frames and learned %d MACs, want %d and %d", pb, ports[pb].RxPackets, got, flood+1, tc.learned)
			}
			checkDrops(t, ports[pb].Drops, map[string]uint64{"fdb_limit": limited, "same_port": flood}, pb)

			// The positive control: a new guest on the other port.
			if ip := dhcpClient(t, "udhcpc", good, pg); ip != "10.226.0.10" {
				t.Fatalf("the new guest leased %q after the flood, want 10.226.0.10", ip)
			}
			if !good.ping("10.226.0.1", 3) {
				t.Fatal("the new guest cannot ping the gateway after the flood")
			}
			ports = vs.ports()
			checkDrops(t, ports[pg].Drops, map[string]uint64{}, pg)
			evicted := 0
			if tc.learned == table {
				evicted = 1 // the new guest's one MAC
			}
			if got := onPort(vs, pb); got != tc.learned-evicted {
				t.Fatalf("%s holds %d MACs after the new guest came, want %d", pb, got, tc.learned-evicted)
			}
			if got := onPort(vs, pg); got != 1 {
				t.Fatalf("the new guest's port holds %d MACs, want 1", got)
			}
			if want, text := fmt.Sprintf("\nvswitch_fdb_evictions_total %d\n", evicted), scrape(t, addr); !strings.Contains(text, want) {
				t.Fatalf("the scrape lacks %q", strings.TrimSpace(want))
			}
		})
	}
}

// onPort counts the FDB entries on port.
func onPort(vs *instance, port string) int {
	n := 0
	for _, e := range vs.fdb() {
		if e.Port == port {
			n++
		}
	}
	return n
}
