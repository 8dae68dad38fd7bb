package vswitch

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

var querierMAC = pkt.MAC{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}

// querierSwitch is a switch with guest ports a and b on VLAN 5, c on VLAN
// 6, and a router port r (multicast_router auto) on VLAN 5, with the
// switch's querier on VLAN 5.
func querierSwitch(t *testing.T) (s *Switch, a, b, c, r *memPort) {
	t.Helper()
	s = New(Config{})
	t.Cleanup(func() { s.Close() })
	a, b, c, r = newMemPort(), newMemPort(), newMemPort(), newMemPort()
	for _, p := range []struct {
		name string
		vid  uint16
		m    *memPort
		mr   MulticastRouter
	}{{"a", 5, a, MulticastRouterNever}, {"b", 5, b, MulticastRouterNever}, {"c", 6, c, MulticastRouterNever}, {"r", 5, r, MulticastRouterAuto}} {
		if err := s.AddPort(PortConfig{Name: p.name, VLAN: VLANConfig{PVID: p.vid}, MulticastRouter: p.mr}, p.m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddQuerier(5, querierMAC); err != nil {
		t.Fatal(err)
	}
	return s, a, b, c, r
}

// checkQueries: the next two frames on m are the switch querier's
// start-up general queries: IGMPv3 from 0.0.0.0 to 224.0.0.1 and MLDv2
// from the link-local address of its MAC to ff02::1, 1 s to answer.
func checkQueries(t *testing.T, m *memPort) {
	t.Helper()
	b := m.expect(t)
	eth := pkt.Ethernet(b)
	ip := pkt.IPv4(eth.Payload())
	if eth.Src() != querierMAC || eth.Type() != pkt.TypeIPv4 || !ip.Valid() || !ip.HeaderChecksumOK() ||
		ip.Src() != netip.IPv4Unspecified() || ip.Dst() != igmpAllHosts || ip.Protocol() != pkt.ProtoIGMP {
		t.Fatalf("first query: % x", b)
	}
	if g := pkt.IGMP(ip.Payload()); !g.Valid() || !g.ChecksumOK() || !g.IsV3Query() || g.MaxRespTenths() != 10 || g.Group().IsValid() && !g.Group().IsUnspecified() {
		t.Errorf("IGMP query: % x", []byte(g))
	}
	b = m.expect(t)
	ip6 := pkt.IPv6(pkt.Ethernet(b).Payload())
	mld, ok := ip6.MLD()
	if !ip6.Valid() || !ok || ip6.Src() != pkt.LinkLocalFromMAC(querierMAC) || ip6.Dst() != allNodes6 ||
		!mld.Valid() || !mld.ChecksumOK(ip6.Src(), ip6.Dst()) || mld.Type() != pkt.MLDQuery || mld.MaxRespMillis() != 1000 {
		t.Fatalf("second query: % x", b)
	}
}

// TestSwitchQuerier: the switch's querier sends its start-up queries to
// its VLAN only (r, which may be a router port, is none until it queries); its VLAN is snooped from the first frame (a group nobody
// joined reaches no guest, a joined one its member only); a leave gets a
// group-specific query.
func TestSwitchQuerier(t *testing.T) {
	s, a, b, c, r := querierSwitch(t)
	checkQueries(t, a)
	checkQueries(t, b)
	checkQueries(t, r)
	g := addr("239.1.2.3")
	// Unregistered: to the querier's port only. The broadcast after it is
	// the sentinel: it must be a's and r's next frame.
	a.in <- udpTo(2, g)
	bcast := frame(pkt.Broadcast, mac(1))
	a.in <- bcast
	for _, m := range []*memPort{b, r} {
		if got := m.expect(t); string(got) != string(bcast) {
			t.Fatalf("unregistered group reached a guest: % x", got[:18])
		}
	}
	c.expectNone(t)
	// b joins: the report goes to the router ports (the querier's: r has
	// sent no query), and the group's data to b only.
	b.in <- igmpFrame(2, g, igmpMsg(pkt.IGMPv2Report, 0, g))
	b.in <- bcast
	for _, m := range []*memPort{a, r} {
		if got := m.expect(t); string(got) != string(bcast) {
			t.Fatalf("b's report reached a port other than the querier's: % x", got[:18])
		}
	}
	a.in <- udpTo(1, g)
	a.in <- bcast
	if got := b.expect(t); pkt.Ethernet(got).Dst() != pkt.MulticastMAC(g) {
		t.Fatalf("the group's data did not reach its member first: % x", got[:18])
	}
	b.expect(t) // the sentinel
	if got := r.expect(t); string(got) != string(bcast) {
		t.Fatalf("the group's data reached a non-member: % x", got[:18])
	}
	// b leaves: the querier asks the group, 1 s to answer.
	b.in <- igmpFrame(2, addr("224.0.0.2"), igmpMsg(pkt.IGMPv2Leave, 0, g))
	got := b.expect(t)
	ip := pkt.IPv4(pkt.Ethernet(got).Payload())
	if q := pkt.IGMP(ip.Payload()); ip.Dst() != g || !q.Valid() || q.Type() != pkt.IGMPQuery || q.Group() != g || q.MaxRespTenths() != 10 {
		t.Fatalf("after the leave b got % x, want a query for %v", got, g)
	}
	if igmp, mld, sent, ok := s.QuerierState(5); !ok || !igmp || !mld || sent != 3 {
		t.Errorf("QuerierState(5) = %v %v %d %v, want true true 3 true", igmp, mld, sent, ok)
	}
	if _, _, _, ok := s.QuerierState(6); ok {
		t.Error("VLAN 6 has a querier")
	}
}

// groupQueryFor reports whether b is a group-specific query for g.
func groupQueryFor(b []byte, g netip.Addr) bool {
	eth := pkt.Ethernet(b)
	switch eth.Type() {
	case pkt.TypeIPv4:
		ip := pkt.IPv4(eth.Payload())
		q := pkt.IGMP(ip.Payload())
		return ip.Valid() && ip.Protocol() == pkt.ProtoIGMP && q.Valid() && q.Type() == pkt.IGMPQuery && q.Group() == g
	case pkt.TypeIPv6:
		ip := pkt.IPv6(eth.Payload())
		m, ok := ip.MLD()
		return ip.Valid() && ok && m.Valid() && m.Type() == pkt.MLDQuery && m.Group() == g
	}
	return false
}

// TestSwitchQuerierElection: a query with an address beats the switch's
// IGMP querier from 0.0.0.0, and a lower link-local its MLD one; another
// switch's query from 0.0.0.0 does not, nor does a guest's (multicast_router
// never: dropped before it gets a say). Each step's sentinel is a leave
// from r, which the querier answers with a group query while it is the
// querier of that protocol: the querier's port takes r's frames in order.
func TestSwitchQuerierElection(t *testing.T) {
	s, a, _, _, r := querierSwitch(t)
	checkQueries(t, a)
	// until reads a's frames until a query for g; it fails on one for bad.
	until := func(g, bad netip.Addr) {
		t.Helper()
		for range 10 {
			b := a.expect(t)
			if bad.IsValid() && groupQueryFor(b, bad) {
				t.Fatalf("a group query for %v: the querier was not silenced", bad)
			}
			if groupQueryFor(b, g) {
				return
			}
		}
		t.Fatalf("no group query for %v", g)
	}
	leave4 := func(g netip.Addr) []byte { return igmpFrame(100, addr("224.0.0.2"), igmpMsg(pkt.IGMPv2Leave, 0, g)) }
	leave6 := func(g netip.Addr) []byte { return mldFrame(100, addr("ff02::2"), mldV1(pkt.MLDv1Done, 0, g)) }
	g1, g2, g3, g4 := addr("239.0.0.1"), addr("239.0.0.2"), addr("ff15::3"), addr("ff15::4")

	a.in <- igmpFrame(1, igmpAllHosts, igmpMsg(pkt.IGMPQuery, 10, netip.IPv4Unspecified())) // a guest's
	r.in <- ip4Frame(mac(100), netip.IPv4Unspecified(), igmpAllHosts, pkt.ProtoIGMP, igmpMsg(pkt.IGMPQuery, 10, netip.IPv4Unspecified()))
	r.in <- leave4(g1)
	until(g1, netip.Addr{})
	// a's reader is not r's: its query may be counted after r's leave.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if st, _ := s.Port("a"); st.Drops[DropMcastQuery] != 0 {
			break
		}
	}
	if st, _ := s.Port("a"); st.Drops[DropMcastQuery] != 1 {
		t.Errorf("mcast_query_guest on a = %d, want 1", st.Drops[DropMcastQuery])
	}
	// A querier with an address: the IGMP querier is silent, MLD's not.
	r.in <- igmpFrame(100, igmpAllHosts, igmpMsg(pkt.IGMPQuery, 10, netip.IPv4Unspecified()))
	r.in <- leave4(g2)
	r.in <- leave6(g3)
	until(g3, g2)
	if igmp, mld, _, _ := s.QuerierState(5); igmp || !mld {
		t.Errorf("after the IGMP query from 10.0.0.100: querier %v %v, want false true", igmp, mld)
	}
	// fe80::64 is lower than the querier's fe80::aa:bbff:fecc:ddee.
	r.in <- mldFrame(100, allNodes6, mldV1(pkt.MLDQuery, 1000, netip.IPv6Unspecified()))
	r.in <- leave6(g4)
	r.in <- leave4(g1)
	r.in <- frame(pkt.Broadcast, mac(100))
	for b := a.expect(t); pkt.Ethernet(b).Dst() != pkt.Broadcast; b = a.expect(t) {
		if groupQueryFor(b, g4) || groupQueryFor(b, g1) {
			t.Fatalf("a group query from a silenced querier: % x", b)
		}
	}
	// The broadcast went to the querier's port too, after the MLD query:
	// the state follows within the writer's batch.
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(time.Millisecond) {
		igmp, mld, _, _ := s.QuerierState(5)
		if !igmp && !mld {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the MLD query from fe80::64: querier %v %v, want false false", igmp, mld)
		}
	}
}
