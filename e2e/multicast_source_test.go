package e2e

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// TestMulticastSourceFilter: m asks for 232.1.1.1 from S1 only (an IGMPv3
// INCLUDE {S1} report, as a source-specific multicast receiver sends it),
// x asks for it from every source but S1 (EXCLUDE {S1}); a sender streams
// N datagrams from S1 and N from S2, interleaved, then the sentinel. m
// gets exactly the N from S1 and none from S2, x exactly the N from S2,
// and a host that asked nothing gets none of either.
func TestMulticastSourceFilter(t *testing.T) {
	requireE2E(t, "tcpdump")
	const n = 20
	group := netip.MustParseAddr("232.1.1.1")
	s1, s2 := netip.MustParseAddr("10.237.0.13"), netip.MustParseAddr("10.237.0.99")
	vs, h, p := guests(t, "f", "10.237.0", 1, 4, "") // the sender s at .13 is S1
	m, x, s, o := h[0], h[1], h[2], h[3]
	pm, px, ps, po := p[0], p[1], p[2], p[3]
	report := func(h *host, dev string, sip netip.Addr, typ uint8) {
		msg := []byte{pkt.IGMPv3Report, 0, 0, 0, 0, 0, 0, 1, typ, 0, 0, 1}
		g, a := group.As4(), s1.As4()
		msg = append(append(msg, g[:]...), a[:]...)
		testnet.OpenRaw(t, h.Netns, dev).Send(igmpPacket(mustMAC(t, h.mac(dev)), sip, netip.MustParseAddr("224.0.0.22"), msg))
	}
	report(m, pm, netip.MustParseAddr("10.237.0.11"), pkt.RecordIsInclude)
	report(x, px, netip.MustParseAddr("10.237.0.12"), pkt.RecordIsExclude)
	testnet.WaitFor(t, 10*time.Second, "both reports in the MDB", func() bool {
		rows := vs.mdb()
		return member(rows, pm, group.String()) && member(rows, px, group.String())
	})
	watches := map[string]*udpWatch{"m": watchUDP(t, m, pm), "x": watchUDP(t, x, px), "o": watchUDP(t, o, po)}
	raw := testnet.OpenRaw(t, s.Netns, ps)
	mac := mustMAC(t, s.mac(ps))
	for i := range n {
		for _, src := range []netip.Addr{s1, s2} {
			raw.Send(rawUDPPorts(pkt.MulticastMAC(group), mac, src, group, 40000, streamPort, fmt.Sprintf("datagram %d", i)))
		}
		time.Sleep(time.Millisecond)
	}
	raw.Send(rawUDPPorts(pkt.Broadcast, mac, s1, netip.AddrFrom4([4]byte{255, 255, 255, 255}), 40000, sentinelPort, "sentinel"))
	for _, tt := range []struct {
		host         string
		from1, from2 int
	}{{"m", n, 0}, {"x", 0, n}, {"o", 0, 0}} {
		w := watches[tt.host]
		w.count(t) // waits for the sentinel
		before, _, _ := strings.Cut(w.out.String(), fmt.Sprintf(".%d: UDP", sentinelPort))
		got1 := strings.Count(before, fmt.Sprintf("%s.40000 > %s.%d: UDP", s1, group, streamPort))
		got2 := strings.Count(before, fmt.Sprintf("%s.40000 > %s.%d: UDP", s2, group, streamPort))
		if got1 != tt.from1 || got2 != tt.from2 {
			t.Errorf("%s got %d datagrams from %v and %d from %v, want %d and %d", tt.host, got1, s1, got2, s2, tt.from1, tt.from2)
		}
	}
}
