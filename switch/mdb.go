package vswitch

import (
	"math"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/puzpuzpuz/xsync/v4"

	"github.com/vswitch/vswitch/internal/pkt"
)

// IGMP/MLD timers (RFC 3376 8, RFC 3810 9; the Linux bridge's defaults).
const (
	mcastRobustness    = 2
	mcastQueryInterval = 125 // seconds
	mcastResponse      = 10  // seconds: query response interval
	// A membership lives this long after its last report (group
	// membership interval, RFC 3376 8.4).
	mcastMembership = mcastRobustness*mcastQueryInterval + mcastResponse
	// A port stays a router port, and a VLAN keeps its querier, this long
	// after the last query seen (other querier present interval, 8.5).
	mcastQuerierPresent = mcastRobustness*mcastQueryInterval + mcastResponse/2
	// After a leave, the port's membership ends unless a report refreshes
	// it within this time (last member query count * interval: the
	// querier's group-specific queries ask whoever else is there).
	mcastLastMember = 2

	// DefaultMaxGroups is a port's group limit when PortConfig.MaxGroups
	// is 0; DefaultMDBEntries the table's (the Linux bridge's
	// mcast_hash_max).
	DefaultMaxGroups  = 256
	DefaultMDBEntries = 4096
)

// Protocol families of the MDB: index of its per-family state.
const (
	famIPv4 = iota // IGMP
	famIPv6        // MLD
	numFam
)

// mdb is the multicast group database: (VLAN, group) -> member ports, and
// per VLAN the router ports (where queries were seen, and local ports such
// as the gateway). A lookup is an xsync map read plus atomic loads; a
// report refreshing a membership is an atomic CAS. Only a new membership,
// a new router port and the ager take mu. Member and router lists are
// small copy-on-write slices.
type mdb struct {
	groups *xsync.Map[mdbKey, *mdbGroup]
	max    int64
	count  atomic.Int64 // groups in the table

	mu    sync.Mutex
	ports map[*swPort]*mdbPort // under mu

	routers [pkt.MaxVID + 1]atomic.Pointer[[]*mdbRouter]
	// querier[fam][vid] is the unix second from which snooping applies
	// on the VLAN (0: no querier ever seen) and querierEnd until when:
	// while no querier keeps memberships fresh, every multicast floods.
	querier    [numFam][pkt.MaxVID + 1]atomic.Int64
	querierEnd [numFam][pkt.MaxVID + 1]atomic.Int64

	stats mdbStats
}

// mdbKey is a group on a VLAN; IPv4 groups are stored IPv4-mapped.
type mdbKey struct {
	vid  uint16
	addr [16]byte
}

type mdbGroup struct {
	members atomic.Pointer[[]*mdbMember] // copy on write under mdb.mu
}

type mdbMember struct {
	port    *swPort
	expires atomic.Int64 // unix seconds; -1 once removed from the group
	// filter is the IGMPv3/MLDv2 source filter (mdb_source.go); nil: every
	// source. Only the port's reader stores it.
	filter atomic.Pointer[srcFilter]
}

type mdbRouter struct {
	port    *swPort
	expires atomic.Int64 // unix seconds; 0: permanent (a local port); -1: removed
}

// mdbPort is a port's share of the table.
type mdbPort struct {
	max    int
	groups int // memberships held
}

type mdbStats struct {
	reports, leaves, queries [numFam]atomic.Uint64
	// Every port's reader counts every multicast data frame: striped
	// counters, so the readers do not fight over one cache line.
	snooped *xsync.Counter // multicast sent to members and router ports only
	flooded *xsync.Counter // multicast flooded: link-local control group, or no querier
}

func newMDB(maxEntries int) *mdb {
	return &mdb{
		groups: xsync.NewMap[mdbKey, *mdbGroup](),
		max:    int64(maxEntries),
		ports:  map[*swPort]*mdbPort{},
		stats:  mdbStats{snooped: xsync.NewCounter(), flooded: xsync.NewCounter()},
	}
}

func keyOf(vid uint16, group netip.Addr) mdbKey {
	return mdbKey{vid: vid, addr: group.As16()}
}

// addPort registers p with its group limit (negative: none); a port with
// multicast_router always becomes a router port of its VLANs for good.
func (m *mdb) addPort(p *swPort, max int) {
	if max == 0 {
		max = DefaultMaxGroups
	}
	m.mu.Lock()
	m.ports[p] = &mdbPort{max: max}
	m.mu.Unlock()
	if p.mcRouter == MulticastRouterAlways {
		for vid := uint16(1); vid <= pkt.MaxVID; vid++ {
			if p.vlan.egress(vid) != egressNone {
				m.addRouter(p, vid, 0)
			}
		}
	}
}

// joinResult says what a report did to the table.
type joinResult uint8

const (
	joinOK       joinResult = iota
	joinPortFull            // the port holds max_groups memberships
	joinTableFull
)

// join records that p listens to key until now+mcastMembership. A refresh
// of a membership is lock-free.
func (m *mdb) join(p *swPort, key mdbKey, now int64) joinResult {
	exp := now + mcastMembership
	if g, ok := m.groups.Load(key); ok {
		for _, mb := range *g.members.Load() {
			if mb.port == p && refresh(&mb.expires, exp) {
				return joinOK
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	mp := m.ports[p]
	if mp == nil {
		return joinOK // a port going away
	}
	g, ok := m.groups.Load(key)
	if ok {
		for _, mb := range *g.members.Load() {
			if mb.port == p && refresh(&mb.expires, exp) {
				return joinOK
			}
		}
	}
	if mp.max >= 0 && mp.groups >= mp.max {
		return joinPortFull
	}
	if !ok {
		if m.count.Load() >= m.max {
			return joinTableFull
		}
		g = &mdbGroup{}
		g.members.Store(&[]*mdbMember{})
		m.groups.Store(key, g)
		m.count.Add(1)
	}
	mb := &mdbMember{port: p}
	mb.expires.Store(exp)
	old := *g.members.Load()
	list := make([]*mdbMember, 0, len(old)+1)
	list = append(append(list, old...), mb)
	g.members.Store(&list)
	mp.groups++
	return joinOK
}

// member is p's live membership of key, or nil.
func (m *mdb) member(p *swPort, key mdbKey) *mdbMember {
	if g, ok := m.groups.Load(key); ok {
		for _, mb := range *g.members.Load() {
			if mb.port == p && mb.expires.Load() >= 0 {
				return mb
			}
		}
	}
	return nil
}

// refresh moves a live expiry to exp; false if the entry was removed.
func refresh(e *atomic.Int64, exp int64) bool {
	for {
		cur := e.Load()
		if cur < 0 {
			return false
		}
		if cur >= exp || e.CompareAndSwap(cur, exp) {
			return true
		}
	}
}

// pin makes a live router entry permanent; false if it was removed.
func pin(e *atomic.Int64) bool {
	for {
		cur := e.Load()
		if cur < 0 {
			return false
		}
		if cur == 0 || e.CompareAndSwap(cur, 0) {
			return true
		}
	}
}

// leave shortens p's membership of key to the last member query time: a
// host still listening behind the same port answers the querier's
// group-specific query and refreshes it.
func (m *mdb) leave(p *swPort, key mdbKey, now int64) {
	g, ok := m.groups.Load(key)
	if !ok {
		return
	}
	exp := now + mcastLastMember
	for _, mb := range *g.members.Load() {
		if mb.port != p {
			continue
		}
		for {
			cur := mb.expires.Load()
			if cur <= exp || mb.expires.CompareAndSwap(cur, exp) {
				return
			}
		}
	}
}

// query records a query seen on p for VLAN vid: p is a router port and the
// VLAN has a querier. Snooping starts only maxResp seconds after the first
// query, once hosts that joined before (say before a restart) answered it.
func (m *mdb) query(p *swPort, fam int, vid uint16, maxResp, now int64) {
	end := now + mcastQuerierPresent
	switch cur := m.querierEnd[fam][vid].Load(); {
	case cur == ownQuerier:
	case cur < now:
		m.querier[fam][vid].Store(now + maxResp)
		fallthrough
	case cur != end:
		m.querierEnd[fam][vid].Store(end)
	}
	m.addRouter(p, vid, end)
}

// ownQuerier is querierEnd of a VLAN whose querier is the switch's own.
const ownQuerier = math.MaxInt64

// ownQuery makes vid a VLAN with a querier of its own, for good.
func (m *mdb) ownQuery(vid uint16) {
	for fam := range numFam {
		m.querier[fam][vid].Store(1)
		m.querierEnd[fam][vid].Store(ownQuerier)
	}
}

// snooping reports whether forwarding by the table applies on vid now.
func (m *mdb) snooping(fam int, vid uint16, now int64) bool {
	from := m.querier[fam][vid].Load()
	return from != 0 && from <= now && now <= m.querierEnd[fam][vid].Load()
}

// addRouter makes p a router port of vid until exp (0: for good).
func (m *mdb) addRouter(p *swPort, vid uint16, exp int64) {
	if l := m.routers[vid].Load(); l != nil {
		for _, r := range *l {
			if r.port != p {
				continue
			}
			switch {
			case exp == 0:
				if pin(&r.expires) {
					return
				}
			case r.expires.Load() == 0: // permanent already: a query does not shorten it
				return
			case refresh(&r.expires, exp):
				return
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.ports[p]; !ok {
		return
	}
	var old []*mdbRouter
	if l := m.routers[vid].Load(); l != nil {
		old = *l
	}
	for _, r := range old {
		if r.port == p && r.expires.Load() >= 0 {
			if exp == 0 {
				r.expires.Store(0)
			} else if r.expires.Load() != 0 {
				refresh(&r.expires, exp)
			}
			return
		}
	}
	r := &mdbRouter{port: p}
	r.expires.Store(exp)
	list := make([]*mdbRouter, 0, len(old)+1)
	list = append(append(list, old...), r)
	m.routers[vid].Store(&list)
}

// age drops memberships and router ports past their time; it runs off the
// frame path.
func (m *mdb) age(now int64) {
	m.removeIf(func(p *swPort, exp int64) bool { return exp < now })
}

// flushPort forgets everything of p.
func (m *mdb) flushPort(p *swPort) {
	m.removeIf(func(q *swPort, _ int64) bool { return q == p })
	m.mu.Lock()
	delete(m.ports, p)
	m.mu.Unlock()
}

// removeIf removes members and router entries for which gone holds (exp
// is the entry's expiry; a permanent router's is never passed to gone by
// age: it is 0 < now, so age checks it separately).
func (m *mdb) removeIf(gone func(p *swPort, exp int64) bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.groups.Range(func(k mdbKey, g *mdbGroup) bool {
		old := *g.members.Load()
		var keep []*mdbMember
		changed := false
		for _, mb := range old {
			if gone(mb.port, mb.expires.Load()) {
				mb.expires.Store(-1)
				if mp := m.ports[mb.port]; mp != nil {
					mp.groups--
				}
				changed = true
				continue
			}
			keep = append(keep, mb)
		}
		if !changed {
			return true
		}
		if len(keep) == 0 {
			m.groups.Delete(k)
			m.count.Add(-1)
		}
		g.members.Store(&keep)
		return true
	})
	for vid := range m.routers {
		l := m.routers[vid].Load()
		if l == nil {
			continue
		}
		var keep []*mdbRouter
		changed := false
		for _, r := range *l {
			exp := r.expires.Load()
			if exp != 0 && gone(r.port, exp) || exp == 0 && gone(r.port, 1<<62) {
				r.expires.Store(-1)
				changed = true
				continue
			}
			keep = append(keep, r)
		}
		if changed {
			m.routers[vid].Store(&keep)
		}
	}
}

// portGroups is how many memberships p holds.
func (m *mdb) portGroups(p *swPort) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mp := m.ports[p]; mp != nil {
		return mp.groups
	}
	return 0
}
