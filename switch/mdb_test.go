package vswitch

import (
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// Ports of the snooping tests: r (0) sends queries (a router), a, b, c
// (1-3) are hosts, all on VLAN 1.
const (
	pR = iota
	pA
	pB
	pC
)

func fourPorts(t *testing.T) (*Switch, []*swPort) {
	return mcastSwitch(t, access("r", 1), access("a", 1), access("b", 1), access("c", 1))
}

// query4 is an IGMPv2 general query from port r with 1 s max response, so
// snooping applies from now+1.
func query4() []byte {
	return igmpFrame(100, igmpAllHosts, igmpMsg(pkt.IGMPQuery, 10, netip.IPv4Unspecified()))
}

func query6() []byte {
	return mldFrame(100, allNodes6, mldV1(pkt.MLDQuery, 1000, netip.IPv6Unspecified()))
}

func TestSnoopForwarding(t *testing.T) {
	g := addr("239.1.2.3")
	g6 := addr("ff15::1234")
	sol := addr("ff02::1:ff00:0002") // a solicited-node group
	tests := []struct {
		name  string
		query []byte // from r at t0; nil: no querier
		joins map[int][]byte
		at    int64 // seconds after t0 the data is sent
		from  int
		data  []byte
		want  []int
	}{
		{name: "no querier floods", joins: map[int][]byte{pA: igmpFrame(1, g, igmpMsg(pkt.IGMPv2Report, 0, g))},
			at: 2, from: pB, data: udpTo(2, g), want: []int{1, 1, 0, 1}},
		{name: "igmpv2 member and router", query: query4(), joins: map[int][]byte{pA: igmpFrame(1, g, igmpMsg(pkt.IGMPv2Report, 0, g))},
			at: 2, from: pB, data: udpTo(2, g), want: []int{1, 1, 0, 0}},
		{name: "before the query's response time floods", query: query4(), joins: map[int][]byte{pA: igmpFrame(1, g, igmpMsg(pkt.IGMPv2Report, 0, g))},
			at: 0, from: pB, data: udpTo(2, g), want: []int{1, 1, 0, 1}},
		{name: "igmpv3 exclude join", query: query4(), joins: map[int][]byte{pC: igmpFrame(3, igmpV3Dst, igmpV3Report(rec{pkt.RecordToExclude, g, 0}))},
			at: 2, from: pA, data: udpTo(1, g), want: []int{1, 0, 0, 1}},
		{name: "igmpv3 source-specific join gets only its sources", query: query4(), joins: map[int][]byte{pC: igmpFrame(3, igmpV3Dst, igmpV3Report(rec{pkt.RecordAllowNew, g, 2}))},
			at: 2, from: pA, data: udpTo(1, g), want: []int{1, 0, 0, 0}},
		{name: "igmpv3 include nothing is no join", query: query4(), joins: map[int][]byte{pC: igmpFrame(3, igmpV3Dst, igmpV3Report(rec{pkt.RecordIsInclude, g, 0}))},
			at: 2, from: pA, data: udpTo(1, g), want: []int{1, 0, 0, 0}},
		{name: "unregistered group goes to routers only", query: query4(),
			at: 2, from: pA, data: udpTo(1, g), want: []int{1, 0, 0, 0}},
		{name: "a member sending reaches the other members only once", query: query4(),
			joins: map[int][]byte{pA: igmpFrame(1, g, igmpMsg(pkt.IGMPv2Report, 0, g)), pR: igmpFrame(100, g, igmpMsg(pkt.IGMPv2Report, 0, g)),
				pB: igmpFrame(2, g, igmpMsg(pkt.IGMPv2Report, 0, g))},
			at: 2, from: pA, data: udpTo(1, g), want: []int{1, 0, 1, 0}},
		{name: "link-local control group floods", query: query4(), joins: map[int][]byte{pA: igmpFrame(1, addr("224.0.0.251"), igmpMsg(pkt.IGMPv2Report, 0, addr("224.0.0.251")))},
			at: 2, from: pB, data: udpTo(2, addr("224.0.0.251")), want: []int{1, 1, 0, 1}},
		{name: "igmp query floods", query: query4(), at: 2, from: pR, data: query4(), want: []int{0, 1, 1, 1}},
		{name: "igmp report goes to routers only", query: query4(), at: 2, from: pA,
			data: igmpFrame(1, g, igmpMsg(pkt.IGMPv2Report, 0, g)), want: []int{1, 0, 0, 0}},
		{name: "igmp report goes to no port without a querier or router", at: 2, from: pA,
			data: igmpFrame(1, g, igmpMsg(pkt.IGMPv2Report, 0, g)), want: []int{0, 0, 0, 0}},
		{name: "igmpv3 report without a querier", at: 2, from: pA,
			data: igmpFrame(1, igmpV3Dst, igmpV3Report(rec{pkt.RecordToExclude, g, 0})), want: []int{0, 0, 0, 0}},
		{name: "igmp leave without a querier", at: 2, from: pA,
			data: igmpFrame(1, addr("224.0.0.2"), igmpMsg(pkt.IGMPv2Leave, 0, g)), want: []int{0, 0, 0, 0}},
		{name: "mldv2 report without a querier", at: 2, from: pA,
			data: mldFrame(1, mldV2Dst, reportV3(pkt.MLDv2Report, []rec{{pkt.RecordToExclude, sol, 0}})), want: []int{0, 0, 0, 0}},
		{name: "mld done without a querier", at: 2, from: pA,
			data: mldFrame(1, addr("ff02::2"), mldV1(pkt.MLDv1Done, 0, g6)), want: []int{0, 0, 0, 0}},
		{name: "igmp report reaches an IPv6 querier's router port only", query: query6(), at: 2, from: pA,
			data: igmpFrame(1, g, igmpMsg(pkt.IGMPv2Report, 0, g)), want: []int{1, 0, 0, 0}},
		{name: "data to a group still floods without a querier", at: 2, from: pA,
			data: udpTo(1, sol), want: []int{1, 0, 1, 1}},
		{name: "mldv1 member", query: query6(), joins: map[int][]byte{pB: mldFrame(2, g6, mldV1(pkt.MLDv1Report, 0, g6))},
			at: 2, from: pC, data: udpTo(3, g6), want: []int{1, 0, 1, 0}},
		{name: "mldv2 member", query: query6(), joins: map[int][]byte{pB: mldFrame(2, mldV2Dst, reportV3(pkt.MLDv2Report, []rec{{pkt.RecordToExclude, g6, 0}}))},
			at: 2, from: pC, data: udpTo(3, g6), want: []int{1, 0, 1, 0}},
		{name: "igmp querier does not snoop ipv6", query: query4(), joins: map[int][]byte{pB: mldFrame(2, g6, mldV1(pkt.MLDv1Report, 0, g6))},
			at: 2, from: pC, data: udpTo(3, g6), want: []int{1, 1, 1, 0}},
		{name: "solicited-node group: DAD probe reaches routers only", query: query6(),
			joins: map[int][]byte{pB: mldFrame(2, mldV2Dst, reportV3(pkt.MLDv2Report, []rec{{pkt.RecordToExclude, sol, 0}}))},
			at:    2, from: pB, data: ip6Frame(2, sol, pkt.ProtoICMPv6, false, []byte{135, 0, 0, 0}), want: []int{1, 0, 0, 0}},
		{name: "all-nodes floods", query: query6(), at: 2, from: pB, data: udpTo(2, allNodes6), want: []int{1, 1, 0, 1}},
		{name: "ff05::1 is not all-nodes", query: query6(), at: 2, from: pB, data: udpTo(2, addr("ff05::1")), want: []int{1, 0, 0, 0}},
		{name: "interface-local scope floods", query: query6(), at: 2, from: pB, data: udpTo(2, addr("ff01::5")), want: []int{1, 1, 0, 1}},
		{name: "all-routers is snooped", query: query6(), at: 2, from: pB, data: udpTo(2, addr("ff02::2")), want: []int{1, 0, 0, 0}},
		{name: "mld report goes to routers only", query: query6(), at: 2, from: pA,
			data: mldFrame(1, g6, mldV1(pkt.MLDv1Report, 0, g6)), want: []int{1, 0, 0, 0}},
		{name: "non-IP multicast floods", query: query4(), at: 2, from: pA, data: frame(pkt.MAC{0x01, 0x80, 0xc2, 0, 0, 0x0e}, mac(1)), want: []int{1, 0, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ports := fourPorts(t)
			t0 := time.Now().Unix()
			if tt.query != nil {
				inject(s, ports, pR, tt.query, t0)
			}
			for i, j := range tt.joins {
				inject(s, ports, i, j, t0)
			}
			got := inject(s, ports, tt.from, tt.data, t0+tt.at)
			if !slices.Equal(got, tt.want) {
				t.Errorf("frames per port (r a b c) = %v, want %v", got, tt.want)
			}
			for _, p := range ports {
				if d := p.status().Drops; slices.ContainsFunc(d[:], func(v uint64) bool { return v != 0 }) {
					t.Errorf("port %s drops %v", p.name, d)
				}
			}
		})
	}
}

// TestSnoopAgeing: memberships end a group membership interval after the
// last report, or the last member query time after a leave; a query keeps
// the router port for the other querier present interval.
func TestSnoopAgeing(t *testing.T) {
	g := addr("239.1.2.3")
	join := igmpFrame(1, g, igmpMsg(pkt.IGMPv2Report, 0, g))
	tests := []struct {
		name  string
		after []byte // from port a, at t0+10
		at    int64  // data at t0+at, after ageing ran
		want  []int
	}{
		{name: "within the membership interval", at: mcastMembership, want: []int{1, 1, 0, 0}},
		{name: "past the membership interval", at: 1 + mcastMembership, want: []int{1, 0, 0, 0}},
		{name: "refreshed by a report", after: join, at: 10 + mcastMembership, want: []int{1, 1, 0, 0}},
		{name: "leave: kept for the last member query time", after: igmpFrame(1, addr("224.0.0.2"), igmpMsg(pkt.IGMPv2Leave, 0, g)),
			at: 10 + mcastLastMember, want: []int{1, 1, 0, 0}},
		{name: "leave: gone after it", after: igmpFrame(1, addr("224.0.0.2"), igmpMsg(pkt.IGMPv2Leave, 0, g)),
			at: 11 + mcastLastMember, want: []int{1, 0, 0, 0}},
		{name: "igmpv3 to-include nothing is a leave", after: igmpFrame(1, igmpV3Dst, igmpV3Report(rec{pkt.RecordToInclude, g, 0})),
			at: 11 + mcastLastMember, want: []int{1, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ports := fourPorts(t)
			t0 := time.Now().Unix()
			inject(s, ports, pA, join, t0)
			if tt.after != nil {
				inject(s, ports, pA, tt.after, t0+10)
			}
			// A querier that keeps querying, so snooping applies throughout.
			inject(s, ports, pR, query4(), t0+tt.at-1)
			drain(ports)
			s.mdb.age(t0 + tt.at)
			got := inject(s, ports, pB, udpTo(2, g), t0+tt.at)
			if !slices.Equal(got, tt.want) {
				t.Errorf("frames per port (r a b c) = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSnoopQuerierGone: when no query was seen for the other querier
// present interval, the router port and snooping both end: multicast
// floods again.
func TestSnoopQuerierGone(t *testing.T) {
	s, ports := fourPorts(t)
	g := addr("239.1.2.3")
	t0 := time.Now().Unix()
	inject(s, ports, pR, query4(), t0)
	inject(s, ports, pA, igmpFrame(1, g, igmpMsg(pkt.IGMPv2Report, 0, g)), t0)
	if got := inject(s, ports, pB, udpTo(2, g), t0+mcastQuerierPresent); !slices.Equal(got, []int{1, 1, 0, 0}) {
		t.Errorf("with a querier: %v, want [1 1 0 0]", got)
	}
	s.mdb.age(t0 + mcastQuerierPresent + 1)
	if got := inject(s, ports, pB, udpTo(2, g), t0+mcastQuerierPresent+1); !slices.Equal(got, []int{1, 1, 0, 1}) {
		t.Errorf("querier gone: %v, want a flood [1 1 0 1]", got)
	}
}

// TestSnoopLocalRouter: a port with a local address (the gateway) is a
// router port for good, on its VLAN only.
func TestSnoopLocalRouter(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	for _, n := range []string{"gw", "a", "b"} {
		if err := s.AddPort(access(n, 1), newMemPort()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddLocal("gw", 1, mac(200)); err != nil {
		t.Fatal(err)
	}
	got := s.MDB()
	want := []MDBEntry{{VLAN: 1, Port: "gw", Router: true}}
	if !slices.Equal(got, want) {
		t.Fatalf("MDB = %+v, want %+v", got, want)
	}
	s.mdb.age(time.Now().Unix() + 10*mcastQuerierPresent)
	if got := s.MDB(); !slices.Equal(got, want) {
		t.Fatalf("after ageing, MDB = %+v, want %+v", got, want)
	}
	if err := s.RemovePort("gw"); err != nil {
		t.Fatal(err)
	}
	if got := s.MDB(); len(got) != 0 {
		t.Fatalf("after removal, MDB = %+v, want empty", got)
	}
}

// TestSnoopLimits: a port joins at most max_groups groups (mdb_limit
// counts each refusal), the table at most its bound (mdb_full), and a
// removed port's groups are gone.
func TestSnoopLimits(t *testing.T) {
	s, ports := mcastSwitch(t, access("r", 1), PortConfig{Name: "a", VLAN: VLANConfig{PVID: 1}, MaxGroups: 5, Queue: DefaultQueue},
		PortConfig{Name: "b", VLAN: VLANConfig{PVID: 1}, Queue: DefaultQueue})
	s.mdb.max = 8
	now := time.Now().Unix()
	var recs []rec
	for i := range 7 {
		recs = append(recs, rec{pkt.RecordIsExclude, netip.AddrFrom4([4]byte{239, 0, 0, byte(i)}), 0})
	}
	inject(s, ports, pA, igmpFrame(1, igmpV3Dst, igmpV3Report(recs...)), now)
	// The same report again refreshes the five and is refused two more.
	inject(s, ports, pA, igmpFrame(1, igmpV3Dst, igmpV3Report(recs...)), now)
	if got := s.mdb.portGroups(ports[pA]); got != 5 {
		t.Errorf("port a holds %d groups, want 5", got)
	}
	if got := ports[pA].stats.drops[DropMDBLimit].Load(); got != 4 {
		t.Errorf("mdb_limit = %d, want 4", got)
	}
	recs = recs[:0]
	for i := range 6 {
		recs = append(recs, rec{pkt.RecordIsExclude, netip.AddrFrom4([4]byte{239, 0, 1, byte(i)}), 0})
	}
	inject(s, ports, 2, igmpFrame(2, igmpV3Dst, igmpV3Report(recs...)), now)
	if got, want := s.MDBStats().Groups, 8; got != want {
		t.Errorf("groups = %d, want %d", got, want)
	}
	if got := ports[2].stats.drops[DropMDBFull].Load(); got != 3 {
		t.Errorf("mdb_full = %d, want 3", got)
	}
	s.mdb.flushPort(ports[pA])
	if got, want := s.MDBStats().Groups, 3; got != want {
		t.Errorf("after port a left, groups = %d, want %d", got, want)
	}
}

// TestSnoopBadMessages: a malformed IGMP or MLD message is dropped with
// its reason and changes nothing.
func TestSnoopBadMessages(t *testing.T) {
	g := addr("239.1.2.3")
	badSum := igmpMsg(pkt.IGMPv2Report, 0, g)
	badSum[2] ^= 1
	trunc := igmpV3Report(rec{pkt.RecordIsExclude, g, 3})
	trunc = trunc[:len(trunc)-4]
	trunc[2], trunc[3] = 0, 0
	pkt.IGMP(trunc).ChecksumOK()
	sum := ^pkt.Checksum(trunc, 0)
	trunc[2], trunc[3] = byte(sum>>8), byte(sum)
	mldBad := mldFrame(1, addr("ff15::1"), mldV1(pkt.MLDv1Report, 0, addr("ff15::1")))
	mldBad[len(mldBad)-1] ^= 1
	tests := []struct {
		name string
		b    []byte
		r    DropReason
	}{
		{"igmp checksum", igmpFrame(1, g, badSum), DropBadIGMP},
		{"igmp short", igmpFrame(1, g, badSum[:6]), DropBadIGMP},
		{"igmpv3 truncated record", igmpFrame(1, igmpV3Dst, trunc), DropBadIGMP},
		{"mld checksum", mldBad, DropBadMLD},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ports := fourPorts(t)
			got := inject(s, ports, pA, tt.b, time.Now().Unix())
			if !slices.Equal(got, []int{0, 0, 0, 0}) {
				t.Errorf("forwarded %v, want nothing", got)
			}
			if d := ports[pA].stats.drops[tt.r].Load(); d != 1 {
				t.Errorf("%s = %d, want 1", tt.r, d)
			}
			if n := s.MDBStats().Groups; n != 0 {
				t.Errorf("groups = %d, want 0", n)
			}
		})
	}
}

// TestSnoopTrunk: a report on a trunk joins the tagged VLAN only, and the
// data leaves the trunk tagged.
func TestSnoopTrunk(t *testing.T) {
	s, ports := mcastSwitch(t, access("r", 20), access("a", 20), trunk("t", 0, 10, 20), access("x", 10))
	g := addr("239.9.9.9")
	now := time.Now().Unix()
	inject(s, ports, 0, query4(), now-5)
	rep := igmpFrame(9, g, igmpMsg(pkt.IGMPv2Report, 0, g))
	f := NewFrame()
	f.SetData(rep)
	f.SetRxTCI(20)
	s.ingress(ports[2], []*Frame{f}, now)
	drain(ports)
	if got := s.MDB(); len(got) != 2 || got[0] != (MDBEntry{VLAN: 20, Group: g, Port: "t", Expires: mcastMembership * time.Second}) {
		t.Fatalf("MDB = %+v", got)
	}
	f = NewFrame()
	f.SetData(udpTo(1, g))
	s.ingress(ports[1], []*Frame{f}, now)
	out := make([]*Frame, BatchSize)
	if n := ports[2].q.Take(out); n != 1 || pkt.Ethernet(out[0].Bytes()).Type() != pkt.TypeVLAN {
		t.Fatalf("trunk got %d frames (want 1, tagged)", n)
	}
	if got := drain(ports); !slices.Equal(got, []int{1, 0, 0, 0}) {
		t.Errorf("others got %v, want the router only", got)
	}
}

// TestSnoopOwnQuerier: on a VLAN whose querier is the switch's own
// (SetQuerier), snooping applies from the first frame and does not lapse,
// whatever other queries come and go.
func TestSnoopOwnQuerier(t *testing.T) {
	s, ports := fourPorts(t)
	g := addr("ff02::1:ff00:2")
	t0 := time.Now().Unix()
	s.SetQuerier(1)
	inject(s, ports, pA, mldFrame(1, mldV2Dst, reportV3(pkt.MLDv2Report, []rec{{pkt.RecordToExclude, g, 0}})), t0)
	if got := inject(s, ports, pB, udpTo(2, g), t0); !slices.Equal(got, []int{0, 1, 0, 0}) {
		t.Errorf("at once: %v, want the member only [0 1 0 0]", got)
	}
	inject(s, ports, pR, query6(), t0+1)
	s.mdb.age(t0 + 2*mcastQuerierPresent)
	if got := inject(s, ports, pB, udpTo(2, addr("ff15::9")), t0+2*mcastQuerierPresent); !slices.Equal(got, []int{0, 0, 0, 0}) {
		t.Errorf("long after the other querier left: %v, want no flood [0 0 0 0]", got)
	}
}

// TestMDBConcurrent: joins, refreshes, leaves, ageing and lookups at once
// (run with -race) leave the table consistent: each port's count is its
// memberships in the table, the group count is the groups present, and no
// group is empty.
func TestMDBConcurrent(t *testing.T) {
	s, ports := mcastSwitch(t, PortConfig{Name: "a", VLAN: VLANConfig{PVID: 1}, MaxGroups: 20, Queue: DefaultQueue},
		PortConfig{Name: "b", VLAN: VLANConfig{PVID: 1}, MaxGroups: 20, Queue: DefaultQueue}, access("c", 1))
	m := s.mdb
	m.max = 30
	t0 := time.Now().Unix()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3000 {
				p := ports[(w+i)%3]
				k := keyOf(1, netip.AddrFrom4([4]byte{239, 0, 0, byte((i * 7 * (w + 1)) % 40)}))
				now := t0 + int64(i/100)
				if i%5 == 0 {
					m.leave(p, k, now)
				} else {
					m.join(p, k, now)
				}
				if g, ok := m.groups.Load(k); ok {
					_ = len(*g.members.Load())
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 200 {
			m.age(t0 + int64(i/5))
		}
	}()
	wg.Wait()
	for g := range 40 { // a leaves everything
		m.leave(ports[0], keyOf(1, netip.AddrFrom4([4]byte{239, 0, 0, byte(g)})), t0+50)
	}
	m.age(t0 + 100)
	if n := m.portGroups(ports[0]); n != 0 {
		t.Errorf("port a left every group, yet holds %d", n)
	}
	counts := map[*swPort]int{}
	groups := 0
	m.groups.Range(func(_ mdbKey, g *mdbGroup) bool {
		groups++
		if len(*g.members.Load()) == 0 {
			t.Error("an empty group in the table")
		}
		for _, mb := range *g.members.Load() {
			counts[mb.port]++
		}
		return true
	})
	if int64(groups) != m.count.Load() || groups > 30 {
		t.Errorf("%d groups, count %d (bound 30)", groups, m.count.Load())
	}
	for i, p := range ports {
		if got := m.portGroups(p); got != counts[p] || i < 2 && got > 20 {
			t.Errorf("port %s: count %d, %d in the table (a and b: limit 20)", p.name, got, counts[p])
		}
	}
}
