package mquery

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// Querier timers: RFC 3376 8 defaults. Start-up queries ask for answers
// within a second, so the switch's snooping (which waits one response
// time after the first query) applies about a second after start.
const (
	QueryInterval        = 125 * time.Second
	StartupQueryInterval = QueryInterval / 4
	StartupQueries       = 2 // robustness
	QueryResponse        = 10 * time.Second
	StartupResponse      = time.Second
	LastMemberResponse   = time.Second
	OtherQuerierPresent  = 2*QueryInterval + QueryResponse/2
	// GroupQueriesPerSecond bounds the group-specific queries that
	// leaves cause.
	GroupQueriesPerSecond = 10
)

// Protocol families: the index of a family's election state.
const (
	famIGMP = iota
	famMLD
)

// Querier is the IGMP and MLD querier of one link. It sends general
// queries (IGMPv3, which IGMPv2 hosts read as v2 ones, and MLDv2, likewise
// for MLDv1) at start-up and then every query interval. A query from a
// lower address on the link (the election of RFC 3376 6.6.2) silences it
// for the other querier present interval, per protocol. A leave makes it
// ask the group once whether anyone else still listens, and so does a
// record that drops sources.
type Querier struct {
	mac  pkt.MAC
	ip4  netip.Addr // IGMP source; 0.0.0.0: a switch's (every querier with an address wins)
	ll6  netip.Addr // MLD source: link-local (RFC 3810 5), from mac
	send func(frame []byte)

	mu    sync.Mutex
	other [2]time.Time // until when a lower querier silences us, IGMP then MLD
	sent  int          // general query rounds sent

	tokN, tokSec atomic.Int64 // group-specific queries left this second, and which second
	ipID         atomic.Uint32
	queries      atomic.Uint64
}

// New returns the querier of a link where it sends as mac, IGMP from ip4
// (0.0.0.0 or the zero Addr: from 0.0.0.0, as the Linux bridge's querier
// does without an address of its own) and MLD from mac's EUI-64
// link-local address. send queues one frame; the frame is only valid
// during the call.
func New(mac pkt.MAC, ip4 netip.Addr, send func(frame []byte)) *Querier {
	if !ip4.Is4() {
		ip4 = netip.IPv4Unspecified()
	}
	return &Querier{mac: mac, ip4: ip4, ll6: pkt.LinkLocalFromMAC(mac), send: send}
}

// Run sends the general queries until done closes.
func (q *Querier) Run(done <-chan struct{}) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			t.Reset(q.Tick(now))
		}
	}
}

// Tick sends the general queries due at now and says when the next are.
func (q *Querier) Tick(now time.Time) time.Duration {
	q.mu.Lock()
	startup := q.sent < StartupQueries
	q.sent++
	silent := [2]bool{now.Before(q.other[famIGMP]), now.Before(q.other[famMLD])}
	q.mu.Unlock()
	resp, next := QueryResponse, QueryInterval
	if startup {
		resp, next = StartupResponse, StartupQueryInterval
	}
	if !silent[famIGMP] {
		q.sendIGMP(netip.Addr{}, resp)
	}
	if !silent[famMLD] {
		q.sendMLD(netip.Addr{}, resp)
	}
	return next
}

// Sent is how many queries were sent.
func (q *Querier) Sent() uint64 { return q.queries.Load() }

// Active reports whether this is the IGMP and the MLD querier of its link
// at now (false while another querier won the election).
func (q *Querier) Active(now time.Time) (igmp, mld bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return !now.Before(q.other[famIGMP]), !now.Before(q.other[famMLD])
}

// Observe looks at a multicast frame of the link: a query from a lower
// address wins the election; a leave asks its group.
func (q *Querier) Observe(eth pkt.Ethernet, now time.Time) {
	if !eth.Valid() {
		return
	}
	switch eth.Type() {
	case pkt.TypeIPv4:
		ip := pkt.IPv4(eth.Payload())
		if !ip.Valid() || ip.Protocol() != pkt.ProtoIGMP || ip.IsFragment() {
			return
		}
		g := pkt.IGMP(ip.Payload())
		if !g.Valid() || !g.ChecksumOK() {
			return
		}
		// 0.0.0.0 is a snooping switch's proxy query (RFC 4541 2.1.1): no
		// querier, no election. Any querier with an address beats ours
		// from 0.0.0.0, as on the Linux bridge.
		src := ip.Src()
		lower := !src.IsUnspecified() && (q.ip4.IsUnspecified() || src.Less(q.ip4))
		q.message(famIGMP, g.Type(), pkt.IGMPQuery, pkt.IGMPv2Leave, pkt.IGMPv3Report, lower, g.Group, g.Records, now)
	case pkt.TypeIPv6:
		ip := pkt.IPv6(eth.Payload())
		if !ip.Valid() {
			return
		}
		m, ok := ip.MLD()
		src := ip.Src()
		if !ok || !m.Valid() || !m.ChecksumOK(src, ip.Dst()) {
			return
		}
		lower := src.IsLinkLocalUnicast() && src.Less(q.ll6)
		q.message(famMLD, m.Type(), pkt.MLDQuery, pkt.MLDv1Done, pkt.MLDv2Report, lower, m.Group, m.Records, now)
	}
}

// message acts on an IGMP or MLD message of type typ, given the
// protocol's query, leave and v3 report types: a query from a lower
// address silences us, a leave asks its group.
func (q *Querier) message(fam int, typ, query, leave, report uint8, lower bool, group func() netip.Addr, records func() pkt.GroupRecords, now time.Time) {
	switch typ {
	case query:
		if lower {
			q.mu.Lock()
			q.other[fam] = now.Add(OtherQuerierPresent)
			q.mu.Unlock()
		}
	case leave:
		q.groupQuery(group(), now)
	case report:
		// A leave, and a record that drops sources (TO_IN, BLOCK), get the
		// group asked: every host still listening answers with its whole
		// state, which is what RFC 3376 6.4.2's group-and-source queries
		// would learn.
		recs := records()
		for r, ok := recs.Next(); ok; r, ok = recs.Next() {
			if _, leave := r.Joins(); leave || r.Type == pkt.RecordToInclude || r.Type == pkt.RecordBlockOld {
				q.groupQuery(r.Group, now)
			}
		}
	}
}

// groupQuery asks whether anyone still listens to g (RFC 3376 6.4.2),
// when we are the querier, within the rate limit.
func (q *Querier) groupQuery(g netip.Addr, now time.Time) {
	if !g.IsMulticast() {
		return
	}
	fam := famIGMP
	if g.Is6() {
		fam = famMLD
	}
	q.mu.Lock()
	silent := now.Before(q.other[fam])
	q.mu.Unlock()
	if silent || !q.allow(now) {
		return
	}
	if fam == famIGMP {
		q.sendIGMP(g, LastMemberResponse)
	} else {
		q.sendMLD(g, LastMemberResponse)
	}
}

// allow takes one of this second's group-specific query tokens.
func (q *Querier) allow(now time.Time) bool {
	sec := now.Unix()
	if l := q.tokSec.Load(); l != sec && q.tokSec.CompareAndSwap(l, sec) {
		q.tokN.Store(GroupQueriesPerSecond)
	}
	return q.tokN.Add(-1) >= 0
}

// Query frame geometry: the IPv4 header carries the router alert option
// (RFC 2113) as RFC 3376 4 asks; the IPv6 one a hop-by-hop router alert
// (RFC 3810 5).
const (
	igmpIPHeaderLen = pkt.IPv4MinLen + 4
	igmpFrameLen    = pkt.EthernetLen + igmpIPHeaderLen + pkt.IGMPv3QueryLen
	mldHBHLen       = 8
	mldFrameLen     = pkt.EthernetLen + 40 + mldHBHLen + pkt.MLDv2QueryLen
	minFrameLen     = 60
)

var (
	allHosts4 = netip.AddrFrom4([4]byte{224, 0, 0, 1})
	allNodes6 = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 1})
)

// sendIGMP sends an IGMPv3 query: general (g invalid) to 224.0.0.1, or
// for group g to g.
func (q *Querier) sendIGMP(g netip.Addr, resp time.Duration) {
	dst := allHosts4
	if g.IsValid() {
		dst = g
	}
	var buf [max(igmpFrameLen, minFrameLen)]byte
	b := buf[:]
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: pkt.MulticastMAC(dst), Src: q.mac, Type: pkt.TypeIPv4})
	ip := b[pkt.EthernetLen:]
	pkt.IPv4(ip).Encode(&pkt.IPv4Fields{TotalLen: igmpIPHeaderLen + pkt.IGMPv3QueryLen, TTL: 1,
		Protocol: pkt.ProtoIGMP, Src: q.ip4, Dst: dst, ID: uint16(q.ipID.Add(1))})
	ip[0] = 0x46                           // five words and the option
	ip[1] = 0xc0                           // internetwork control, as Linux sends IGMP
	copy(ip[20:24], []byte{0x94, 4, 0, 0}) // router alert
	binary.BigEndian.PutUint16(ip[10:], 0)
	binary.BigEndian.PutUint16(ip[10:], ^pkt.Checksum(ip[:igmpIPHeaderLen], 0))
	pkt.EncodeIGMPQuery(ip[igmpIPHeaderLen:], &pkt.IGMPQueryFields{Group: g, V3: true, QRV: StartupQueries,
		MaxResp: uint8(resp / (100 * time.Millisecond)), QQIC: uint8(QueryInterval / time.Second)})
	q.queries.Add(1)
	q.send(b)
}

// sendMLD sends an MLDv2 query from the link-local address: general to
// ff02::1, or for group g to g.
func (q *Querier) sendMLD(g netip.Addr, resp time.Duration) {
	dst := allNodes6
	if g.IsValid() {
		dst = g
	}
	var buf [mldFrameLen]byte
	b := buf[:]
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: pkt.MulticastMAC(dst), Src: q.mac, Type: pkt.TypeIPv6})
	ip := b[pkt.EthernetLen:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], mldHBHLen+pkt.MLDv2QueryLen)
	ip[6], ip[7] = 0, 1 // hop-by-hop next, hop limit 1
	s, d := q.ll6.As16(), dst.As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	copy(ip[40:48], []byte{pkt.ProtoICMPv6, 0, 5, 2, 0, 0, 1, 0}) // router alert (MLD), PadN
	pkt.EncodeMLDv2Query(ip[48:], &pkt.MLDQueryFields{Group: g, MaxRespDelay: uint16(resp / time.Millisecond),
		QRV: StartupQueries, QQIC: uint8(QueryInterval / time.Second)}, q.ll6, dst)
	q.queries.Add(1)
	q.send(b)
}
