package e2e

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/vswitch/vswitch/internal/testnet"
)

// TestMulticastQuerier: a VLAN with no network, so no gateway to query,
// and N TAP hosts with IPv6 on starting with vswitch. With
// multicast_querier on, the switch queries and snoops from the first
// frame: the hosts' MLD reports, DAD probes (to each host's own
// solicited-node group) and router solicitations go to the querier's port
// only, so a guest gets just the querier's two start-up general queries
// (IGMP and MLD). Without it nobody queries and the probes flood, at least
// one delivery per pair of hosts. Then a multicast stream: with the
// querier a host that joined gets exactly all of it and one that did not
// gets none before the sentinel; without, both get all (the positive
// control that the stream floods when nobody queries).
func TestMulticastQuerier(t *testing.T) {
	requireE2E(t, "tcpdump")
	const n, stream = 64, 20
	group := netip.MustParseAddr("239.1.2.3")
	b := newBurst(t, "mq", "q", n)
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("querier %v", on), func(t *testing.T) {
			m, x, s := newHost(t, "mqm"), newHost(t, "mqx"), newHost(t, "mqs")
			pm, px, ps := testnet.Name("m"), testnet.Name("m"), testnet.Name("m")
			var cfg strings.Builder
			fmt.Fprintf(&cfg, "multicast_querier: %v\nports:\n", on)
			b.ports(&cfg)
			for _, p := range [][2]string{{pm, m.Name}, {px, x.Name}, {ps, s.Name}} {
				fmt.Fprintf(&cfg, "  - {name: %s, type: tap, netns: %s}\n", p[0], p[1])
			}
			vs := startVswitch(t, cfg.String())
			sum := b.deliveries(t, vs)
			t.Logf("%d IPv6 hosts starting, querier %v: %d frames to guest ports", n, on, sum)
			if on && sum != 2*n {
				t.Errorf("with the querier %d deliveries to guests, want %d (its IGMP and MLD start-up queries)", sum, 2*n)
			}
			if !on && sum < n*(n-1) {
				t.Errorf("without the querier only %d deliveries, want at least %d (one a pair of hosts)", sum, n*(n-1))
			}

			m.addr(pm, "10.236.0.11/24")
			x.addr(px, "10.236.0.12/24")
			s.addr(ps, "10.236.0.13/24")
			join(t, vs, m, pm, group, on)
			wm, wx := watchUDP(t, m, pm), watchUDP(t, x, px)
			raw := testnet.OpenRaw(t, s.Netns, ps)
			sendStream(t, raw, mustMAC(t, s.mac(ps)), netip.MustParseAddr("10.236.0.13"), group, stream)
			if got := wm.count(t); got != stream {
				t.Errorf("the member got %d datagrams, want %d", got, stream)
			}
			want := stream
			if on {
				want = 0
			}
			if got := wx.count(t); got != want {
				t.Errorf("the non-member got %d datagrams, want %d", got, want)
			}
		})
	}
}
