package vswitch

import (
	"net/netip"

	"github.com/vswitch/vswitch/internal/pkt"
	"sort"
	"time"
)

// MDBEntry is one port's membership of a multicast group, or (Router) a
// router port of the VLAN, for which Group is invalid.
type MDBEntry struct {
	VLAN    uint16
	Group   netip.Addr
	Port    string
	Expires time.Duration // time left; 0 for a permanent router port
	Router  bool
}

// MDB returns the memberships sorted by VLAN, group and port, then the
// router ports of each VLAN. Nil when snooping is off.
func (s *Switch) MDB() []MDBEntry {
	m := s.mdb
	if m == nil {
		return nil
	}
	now := time.Now().Unix()
	left := func(exp int64) time.Duration { return time.Duration(max(exp-now, 0)) * time.Second }
	var out []MDBEntry
	m.groups.Range(func(k mdbKey, g *mdbGroup) bool {
		grp := netip.AddrFrom16(k.addr).Unmap()
		for _, mb := range *g.members.Load() {
			if exp := mb.expires.Load(); exp >= now {
				out = append(out, MDBEntry{VLAN: k.vid, Group: grp, Port: mb.port.name, Expires: left(exp)})
			}
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.VLAN != b.VLAN {
			return a.VLAN < b.VLAN
		}
		if c := a.Group.Compare(b.Group); c != 0 {
			return c < 0
		}
		return a.Port < b.Port
	})
	for vid := range m.routers {
		l := m.routers[vid].Load()
		if l == nil {
			continue
		}
		for _, r := range *l {
			if exp := r.expires.Load(); exp == 0 || exp >= now {
				out = append(out, MDBEntry{VLAN: uint16(vid), Port: r.port.name, Expires: left(exp), Router: true})
			}
		}
	}
	return out
}

// MDBStats are the snooping counters.
type MDBStats struct {
	Enabled bool
	Groups  int
	// Per protocol: IGMP, then MLD.
	Reports, Leaves, Queries [2]uint64
	Snooped                  uint64 // multicast frames sent to members and router ports only
	Flooded                  uint64 // multicast frames flooded: control groups, or no querier on the VLAN
}

// MDBStats returns the snooping counters.
func (s *Switch) MDBStats() MDBStats {
	m := s.mdb
	if m == nil {
		return MDBStats{}
	}
	st := MDBStats{Enabled: true, Groups: int(m.count.Load()),
		Snooped: uint64(m.stats.snooped.Value()), Flooded: uint64(m.stats.flooded.Value())}
	for f := range numFam {
		st.Reports[f] = m.stats.reports[f].Load()
		st.Leaves[f] = m.stats.leaves[f].Load()
		st.Queries[f] = m.stats.queries[f].Load()
	}
	return st
}

// PortGroups is how many multicast groups the named port holds.
func (s *Switch) PortGroups(name string) int {
	p, ok := s.topo.Load().byName[name]
	if !ok || s.mdb == nil {
		return 0
	}
	return s.mdb.portGroups(p)
}

// SetQuerier says that VLAN vid has an IGMP and MLD querier of the
// switch's own (a gateway port the caller attaches, which queries): IGMP
// and MLD snooping apply on vid at once and for good, instead of from one
// response time after the first query seen until queries stop. So the
// start-up burst of hosts that come up with the switch (their reports,
// DAD probes and router solicitations) is snooped from its first frame.
// A no-op with snooping off.
func (s *Switch) SetQuerier(vid uint16) {
	if s.mdb != nil && vid >= 1 && vid <= pkt.MaxVID {
		s.mdb.ownQuery(vid)
	}
}
