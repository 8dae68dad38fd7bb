package vswitch

import (
	"net/netip"

	"github.com/vswitch/vswitch/internal/pkt"
)

// IGMP and MLD snooping (RFC 4541), as the Linux bridge does it with
// mcast_snooping on:
//
//   - Reports and leaves update the MDB and go only to router ports (RFC
//     4541 2.1.1: so hosts do not suppress their own reports), with or
//     without a querier.
//   - Queries flood, and make the port they came in on a router port.
//   - Link-local control groups (224.0.0.0/24, ff02::1, and the reserved
//     scopes ff00::/15) flood.
//   - Any other group goes to its member ports and the router ports; a
//     group nobody joined goes to the router ports only (RFC 4541
//     2.1.2(3), and the Linux bridge with a querier present). That is what
//     ends the start-up burst: a host's DAD probe goes to its own
//     solicited-node group, which only it joined.
//   - While no querier is seen on a VLAN (per IPv4 and IPv6), all other
//     multicast floods: with nobody asking, memberships would silently age out. A
//     VLAN whose querier is the switch's own, a gateway (SetQuerier) or
//     the switch's querier port (AddQuerier, querier.go), is snooped from
//     the first frame.
//
// IGMPv3 and MLDv2 source filters apply per membership (mdb_source.go):
// a member that asked for some sources gets only theirs.

// mcastAction is what snooping decided for one multicast frame.
type mcastAction uint8

const (
	mcFlood   mcastAction = iota // flood the VLAN as before
	mcGroup                      // members of the group and router ports
	mcRouters                    // router ports only (reports, leaves)
	mcDrop                       // a malformed IGMP or MLD message (reason given)
)

// snoop looks at a multicast frame from p on f's VLAN: it applies reports,
// leaves and queries to the MDB and says where the frame goes. key is the
// group for mcGroup.
func (s *Switch) snoop(p *swPort, f *Frame, now int64) (mcastAction, mdbKey, DropReason) {
	eth := pkt.Ethernet(f.Bytes())
	switch eth.Type() {
	case pkt.TypeIPv4:
		return s.snoop4(p, f.vid, eth.Payload(), now)
	case pkt.TypeIPv6:
		return s.snoop6(p, f.vid, eth.Payload(), now)
	}
	return mcFlood, mdbKey{}, NumDropReasons
}

// linkLocal4 reports whether a is in 224.0.0.0/24, the link-local control
// block that is always flooded (RFC 4541 2.1.2(2)).
func linkLocal4(a [4]byte) bool { return a[0] == 224 && a[1] == 0 && a[2] == 0 }

// flooded6 reports whether a is an IPv6 group that is always flooded:
// all-nodes ff02::1, and the reserved and interface-local scopes (RFC 4541
// 3: never reported). The solicited-node groups ff02::1:ffXX:XXXX are not
// among them: hosts report them, and flooding them is the O(N²) of
// duplicate address detection.
func flooded6(a [16]byte) bool {
	if a[1]&0x0f <= 1 {
		return true
	}
	return a == [16]byte{0: 0xff, 1: 0x02, 15: 1}
}

func (s *Switch) snoop4(p *swPort, vid uint16, b []byte, now int64) (mcastAction, mdbKey, DropReason) {
	ip := pkt.IPv4(b)
	if !ip.Valid() {
		return mcFlood, mdbKey{}, NumDropReasons
	}
	dst := [4]byte(b[16:20])
	if ip.Protocol() == pkt.ProtoIGMP && !ip.IsFragment() {
		return s.igmp(p, vid, pkt.IGMP(ip.Payload()), now)
	}
	if dst[0]&0xf0 != 0xe0 || linkLocal4(dst) || !s.mdb.snooping(famIPv4, vid, now) {
		s.mdb.stats.flooded.Inc()
		return mcFlood, mdbKey{}, NumDropReasons
	}
	return mcGroup, keyOf(vid, netip.AddrFrom4(dst)), NumDropReasons
}

// igmp applies one IGMP message from p.
func (s *Switch) igmp(p *swPort, vid uint16, g pkt.IGMP, now int64) (mcastAction, mdbKey, DropReason) {
	if !g.Valid() || !g.ChecksumOK() {
		return mcDrop, mdbKey{}, DropBadIGMP
	}
	c := ctlMsg{fam: famIPv4, bad: DropBadIGMP}
	switch g.Type() {
	case pkt.IGMPQuery:
		c.kind, c.resp = ctlQuery, int64(g.MaxRespTenths()+9)/10
	case pkt.IGMPv1Report, pkt.IGMPv2Report:
		c.kind, c.group = ctlReport, g.Group()
	case pkt.IGMPv2Leave:
		c.kind, c.group = ctlLeave, g.Group()
	case pkt.IGMPv3Report:
		c.kind, c.recs = ctlRecords, g.Records()
	default:
		// IGMP of other kinds (DVMRP, mtrace, ...) is for routers.
	}
	return s.control(p, vid, &c, now)
}

// ctlMsg is an IGMP or MLD message reduced to what snooping needs.
type ctlMsg struct {
	fam  int
	kind uint8
	bad  DropReason // the family's malformed-message reason
	resp int64      // a query's maximum response time, seconds
	// group of a v1/v2 report or leave; recs of a v3/v2 report
	group netip.Addr
	recs  pkt.GroupRecords
}

const (
	ctlOther = iota
	ctlQuery
	ctlReport
	ctlLeave
	ctlRecords
)

// control applies c, from p, to the MDB and says where its frame goes.
func (s *Switch) control(p *swPort, vid uint16, c *ctlMsg, now int64) (mcastAction, mdbKey, DropReason) {
	m := s.mdb
	switch c.kind {
	case ctlQuery:
		if p.mcRouter == MulticastRouterNever {
			// A guest is nobody's router: its query would make it hear
			// every group of the VLAN and could silence the querier.
			return mcDrop, mdbKey{}, DropMcastQuery
		}
		m.stats.queries[c.fam].Add(1)
		m.query(p, c.fam, vid, c.resp, now)
		return mcFlood, mdbKey{}, NumDropReasons
	case ctlReport:
		m.stats.reports[c.fam].Add(1)
		s.join(p, vid, c.group, now)
		// A v1 or v2 report asks for every source (IS_EX {}).
		if mb := m.member(p, keyOf(vid, c.group)); mb != nil && mb.filter.Load() != nil {
			mb.filter.Store(nil)
		}
	case ctlLeave:
		m.stats.leaves[c.fam].Add(1)
		m.leave(p, keyOf(vid, c.group), now)
	case ctlRecords:
		m.stats.reports[c.fam].Add(1)
		s.records(p, vid, &c.recs, now)
		if c.recs.Truncated {
			return mcDrop, mdbKey{}, c.bad
		}
	}
	// Reports and leaves go to the router ports only, also while the
	// VLAN has no querier (RFC 4541 2.1.1; the Linux bridge floods them
	// then): they are for routers, and flooded they are the larger part
	// of a thousand IPv6 hosts' start-up burst.
	return mcRouters, mdbKey{}, NumDropReasons
}

// records applies the group records of an IGMPv3 or MLDv2 report: the
// membership, and its source filter (mdb_source.go).
func (s *Switch) records(p *swPort, vid uint16, recs *pkt.GroupRecords, now int64) {
	for rec, ok := recs.Next(); ok; rec, ok = recs.Next() {
		key := keyOf(vid, rec.Group)
		had := s.mdb.member(p, key)
		join, leave := rec.Joins()
		switch {
		case join:
			s.join(p, vid, rec.Group, now)
		case leave:
			s.mdb.stats.leaves[famOf(rec.Group)].Add(1)
			s.mdb.leave(p, key, now)
		}
		if had == nil && !join {
			continue // a leave or block of a group the port is not in
		}
		if mb := s.mdb.member(p, key); mb != nil {
			if old := mb.filter.Load(); had == nil || old != nil || rec.Sources > 0 || rec.Type != pkt.RecordIsExclude && rec.Type != pkt.RecordToExclude {
				if f := applyRecord(old, had == nil, &rec, now); f != old {
					mb.filter.Store(f)
				}
			}
		}
	}
}

func famOf(a netip.Addr) int {
	if a.Is4() {
		return famIPv4
	}
	return famIPv6
}

// join adds p to a group it reported, unless the group is one that floods
// anyway, and counts a refusal on p.
func (s *Switch) join(p *swPort, vid uint16, group netip.Addr, now int64) {
	if !group.IsMulticast() {
		return // nonsense group: nothing to learn
	}
	if group.Is4() && linkLocal4(group.As4()) || group.Is6() && flooded6(group.As16()) {
		return
	}
	switch s.mdb.join(p, keyOf(vid, group), now) {
	case joinPortFull:
		p.drop(DropMDBLimit)
	case joinTableFull:
		p.drop(DropMDBFull)
	}
}

func (s *Switch) snoop6(p *swPort, vid uint16, b []byte, now int64) (mcastAction, mdbKey, DropReason) {
	ip := pkt.IPv6(b)
	if !ip.Valid() {
		return mcFlood, mdbKey{}, NumDropReasons // not for snooping to judge: the hosts will
	}
	if m, ok := ip.MLD(); ok {
		return s.mld(p, vid, ip, m, now)
	}
	dst := [16]byte(b[24:40])
	if dst[0] != 0xff || flooded6(dst) || !s.mdb.snooping(famIPv6, vid, now) {
		s.mdb.stats.flooded.Inc()
		return mcFlood, mdbKey{}, NumDropReasons
	}
	return mcGroup, mdbKey{vid: vid, addr: dst}, NumDropReasons
}

// mld applies one MLD message from p; ip is its IPv6 packet.
func (s *Switch) mld(p *swPort, vid uint16, ip pkt.IPv6, g pkt.MLD, now int64) (mcastAction, mdbKey, DropReason) {
	if !g.Valid() || !g.ChecksumOK(ip.Src(), ip.Dst()) {
		return mcDrop, mdbKey{}, DropBadMLD
	}
	c := ctlMsg{fam: famIPv6, bad: DropBadMLD}
	switch g.Type() {
	case pkt.MLDQuery:
		c.kind, c.resp = ctlQuery, (int64(g.MaxRespMillis())+999)/1000
	case pkt.MLDv1Report:
		c.kind, c.group = ctlReport, g.Group()
	case pkt.MLDv1Done:
		c.kind, c.group = ctlLeave, g.Group()
	case pkt.MLDv2Report:
		c.kind, c.recs = ctlRecords, g.Records()
	}
	return s.control(p, vid, &c, now)
}

// mcast sends f (a multicast frame from in) where snooping said; it
// reports whether f itself was handed off. As in flood, the ports that
// send f as it is share it, reference counted, and only a port that must
// change it gets a copy. Each member's expiry is read once (a report may
// refresh it meanwhile), so the targets are decided in one pass and the
// shares counted as they are handed out.
func (s *Switch) mcast(topo *topology, in *swPort, f *Frame, act mcastAction, key mdbKey, now int64) bool {
	if act == mcFlood {
		return s.flood(topo, in, f)
	}
	s.mdb.stats.snooped.Inc()
	o := fanout{f: f, vid: f.vid, plain: f.VNet == (pkt.VirtioNetHdr{})}
	var members []*mdbMember
	if act == mcGroup {
		if g, ok := s.mdb.groups.Load(key); ok {
			members = *g.members.Load()
		}
	}
	var src [16]byte
	if len(members) > 0 {
		src = srcKey(pkt.Ethernet(f.Bytes()))
	}
	for _, mb := range members {
		if mb.wants(src, now) && deliverable(in, mb.port, o.vid) {
			o.add(mb.port)
		}
	}
	if l := s.mdb.routers[o.vid].Load(); l != nil {
	routers:
		for _, r := range *l {
			if exp := r.expires.Load(); exp < 0 || exp != 0 && exp < now || !deliverable(in, r.port, o.vid) {
				continue
			}
			for _, mb := range members { // a member already got it
				if mb.port == r.port && mb.wants(src, now) {
					continue routers
				}
			}
			o.add(r.port)
		}
	}
	return o.done()
}

// fanout hands one frame to ports chosen one at a time. The caller's own
// share of f is held until done, so every copy is made from a frame no
// writer has released yet; the last sharer and the last copier are held
// back so that done can give one of them f itself.
type fanout struct {
	f      *Frame
	vid    uint16
	plain  bool    // no offload work: untagged ports can share f
	share  *swPort // the last sharer seen, not yet sent to
	cp     *swPort // the last port needing a copy, not yet sent to
	cpMode egressMode
}

// add sends f, or a copy, to out (the one before it, in fact).
func (o *fanout) add(out *swPort) {
	mode := out.vlan.egress(o.vid)
	if o.plain && mode == egressUntagged {
		if o.share != nil {
			o.f.refs.Add(1) // set before the put: the writer may release at once
			o.share.send(o.f, egressUntagged)
		}
		o.share = out
		return
	}
	if o.cp != nil {
		o.cp.send(o.f.clone(), o.cpMode)
	}
	o.cp, o.cpMode = out, mode
}

// done sends to the ports held back and reports whether f was handed off.
func (o *fanout) done() bool {
	if o.cp != nil {
		if o.share == nil {
			o.cp.send(o.f, o.cpMode)
			return true
		}
		o.cp.send(o.f.clone(), o.cpMode)
	}
	if o.share == nil {
		return false
	}
	o.share.send(o.f, egressUntagged) // the caller's own share
	return true
}

// deliverable reports whether a frame of vid from in may go out of out.
func deliverable(in, out *swPort, vid uint16) bool {
	return out != in && !in.isolatedFrom(out) && out.vlan.egress(vid) != egressNone
}
