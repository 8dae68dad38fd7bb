package vswitch

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestSnoopRouterNever: a query from a multicast_router never port is
// dropped and counted once per query (IGMP and MLD), reaches no port, and
// neither makes the port a router port nor gives the VLAN a querier; the
// real router's query still counts, and then the guest gets only the
// groups it joined while the honest member gets its group.
func TestSnoopRouterNever(t *testing.T) {
	guest := access("c", 1)
	guest.MulticastRouter = MulticastRouterNever
	s, ports := mcastSwitch(t, access("r", 1), access("a", 1), access("b", 1), guest)
	t0 := time.Now().Unix()
	g := addr("239.1.2.3")
	q4 := igmpFrame(3, igmpAllHosts, igmpMsg(pkt.IGMPQuery, 10, netip.IPv4Unspecified()))
	q6 := mldFrame(3, allNodes6, mldV1(pkt.MLDQuery, 1000, netip.IPv6Unspecified()))
	for i := range 3 {
		if got := inject(s, ports, pC, q4, t0+int64(i)); !slices.Equal(got, []int{0, 0, 0, 0}) {
			t.Fatalf("the guest's IGMP query went to %v, want nowhere", got)
		}
	}
	if got := inject(s, ports, pC, q6, t0); !slices.Equal(got, []int{0, 0, 0, 0}) {
		t.Fatalf("the guest's MLD query went to %v, want nowhere", got)
	}
	if got := ports[pC].status().Drops[DropMcastQuery]; got != 4 {
		t.Errorf("mcast_query_guest = %d, want 4", got)
	}
	if l := s.mdb.routers[1].Load(); l != nil && len(*l) != 0 {
		t.Errorf("router ports after the guest's queries: %d, want 0", len(*l))
	}
	if s.mdb.snooping(famIPv4, 1, t0+5) || s.mdb.snooping(famIPv6, 1, t0+5) {
		t.Error("the guest's queries gave the VLAN a querier")
	}
	if n := s.mdb.stats.queries[famIPv4].Load() + s.mdb.stats.queries[famIPv6].Load(); n != 0 {
		t.Errorf("queries counted: %d, want 0", n)
	}
	// The positive control: the real router's query is taken, the member
	// gets its group and the guest (a non-member) nothing.
	inject(s, ports, pR, query4(), t0)
	inject(s, ports, pA, igmpFrame(1, g, igmpMsg(pkt.IGMPv2Report, 0, g)), t0)
	inject(s, ports, pC, q4, t0+1)
	if got := inject(s, ports, pB, udpTo(2, g), t0+2); !slices.Equal(got, []int{1, 1, 0, 0}) {
		t.Errorf("group data to %v, want [1 1 0 0]", got)
	}
	if got := ports[pC].status().Drops[DropMcastQuery]; got != 5 {
		t.Errorf("mcast_query_guest = %d, want 5", got)
	}
	if got := ports[pR].status().Drops[DropMcastQuery]; got != 0 {
		t.Errorf("the router's mcast_query_guest = %d, want 0", got)
	}
}

// TestSnoopRouterAlways: a multicast_router always port is a router port
// of each of its VLANs from the start, for good: it gets a group nobody
// joined and every report, with no query ever seen on it, after the other
// querier's time and after ageing.
func TestSnoopRouterAlways(t *testing.T) {
	up := trunk("t", 0, 1, 7)
	up.MulticastRouter = MulticastRouterAlways
	s, ports := mcastSwitch(t, access("a", 1), access("b", 7), up)
	t0 := time.Now().Unix()
	s.mdb.ownQuery(1)
	s.mdb.ownQuery(7)
	g := addr("239.1.2.3")
	for _, at := range []int64{t0, t0 + 10*mcastQuerierPresent} {
		s.mdb.age(at)
		if got := inject(s, ports, 0, udpTo(1, g), at); !slices.Equal(got, []int{0, 0, 1}) {
			t.Errorf("VLAN 1 unregistered group at +%d s: %v, want [0 0 1]", at-t0, got)
		}
		if got := inject(s, ports, 1, udpTo(2, g), at); !slices.Equal(got, []int{0, 0, 1}) {
			t.Errorf("VLAN 7 unregistered group at +%d s: %v, want [0 0 1]", at-t0, got)
		}
		if got := inject(s, ports, 0, igmpFrame(1, g, igmpMsg(pkt.IGMPv2Report, 0, g)), at); !slices.Equal(got, []int{0, 0, 1}) {
			t.Errorf("report at +%d s: %v, want [0 0 1]", at-t0, got)
		}
	}
	if got := s.mdb.routers[2].Load(); got != nil {
		t.Errorf("a router port on VLAN 2, which the trunk does not carry: %v", *got)
	}
}
