package gateway

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// The gateway is the IGMP and MLD querier of its network (RFC 3376 6.1,
// RFC 3810 7.1), so that the switch's snooping sees memberships refreshed
// and ageing out: it sends general queries (IGMPv3, which IGMPv2 hosts
// read as v2 ones, and MLDv2, likewise for MLDv1) at start-up and then
// every query interval. A query from a lower address on the network (the
// election of RFC 3376 6.6.2) silences it for the other querier present
// interval, per protocol. A leave makes it ask the group once whether
// anyone else behind the leaving port still listens, rate limited so a
// guest cannot turn leaves into a query flood.

// Querier timers: RFC 3376 8 defaults. Start-up queries ask for answers
// within a second, so the switch's snooping (which waits one response
// time after the first query) applies about a second after start.
const (
	queryInterval        = 125 * time.Second
	startupQueryInterval = queryInterval / 4
	startupQueries       = 2 // robustness
	queryResponse        = 10 * time.Second
	startupResponse      = time.Second
	lastMemberResponse   = time.Second
	otherQuerierPresent  = 2*queryInterval + queryResponse/2
)

// querier is one gateway's querier state.
type querier struct {
	p     *Port
	ip4   netip.Addr // IGMP source: the gateway's address
	ll6   netip.Addr // MLD source: fe80:: from the MAC (RFC 3810 5: link-local)
	mu    sync.Mutex
	other [2]time.Time // until when a lower querier silences us, IGMP then MLD
	sent  int          // general queries sent
	tok   tokens       // group-specific queries: ten a second

	queries atomic.Uint64
}

// LinkLocal is the modified EUI-64 link-local address of mac (RFC 4291
// 2.5.1 and appendix A).
func LinkLocal(mac pkt.MAC) netip.Addr {
	return netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80,
		8: mac[0] ^ 0x02, 9: mac[1], 10: mac[2], 11: 0xff, 12: 0xfe, 13: mac[3], 14: mac[4], 15: mac[5]})
}

func newQuerier(p *Port) *querier {
	return &querier{p: p, ip4: p.ip, ll6: LinkLocal(p.mac)}
}

// run sends the general queries until the port closes.
func (q *querier) run() {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-q.p.done:
			return
		case now := <-t.C:
			t.Reset(q.tick(now))
		}
	}
}

// tick sends the general queries due at now and says when the next are.
func (q *querier) tick(now time.Time) time.Duration {
	q.mu.Lock()
	startup := q.sent < startupQueries
	q.sent++
	silent := [2]bool{now.Before(q.other[0]), now.Before(q.other[1])}
	q.mu.Unlock()
	resp, next := queryResponse, queryInterval
	if startup {
		resp, next = startupResponse, startupQueryInterval
	}
	if !silent[0] {
		q.sendIGMP(netip.Addr{}, resp)
	}
	if !silent[1] {
		q.sendMLD(netip.Addr{}, resp)
	}
	return next
}

// QueriesSent is how many queries the gateway sent.
func (p *Port) QueriesSent() uint64 {
	if p.mq == nil {
		return 0
	}
	return p.mq.queries.Load()
}

// Querier reports whether the gateway is the IGMP and the MLD querier of
// its network now (false when another querier won the election or the
// querier is off).
func (p *Port) Querier() (igmp, mld bool) {
	if p.mq == nil {
		return false, false
	}
	now := time.Now()
	p.mq.mu.Lock()
	defer p.mq.mu.Unlock()
	return !now.Before(p.mq.other[0]), !now.Before(p.mq.other[1])
}

// observe looks at a multicast frame the switch delivered: a query from a
// lower address wins the election; a leave asks its group.
func (q *querier) observe(eth pkt.Ethernet, now time.Time) {
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
		// querier, no election.
		src := ip.Src()
		lower := !src.IsUnspecified() && src.Less(q.ip4)
		q.message(0, g.Type(), pkt.IGMPQuery, pkt.IGMPv2Leave, pkt.IGMPv3Report, lower, g.Group, g.Records, now)
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
		q.message(1, m.Type(), pkt.MLDQuery, pkt.MLDv1Done, pkt.MLDv2Report, lower, m.Group, m.Records, now)
	}
}

// message acts on an IGMP (fam 0) or MLD (1) message of type typ, given
// the protocol's query, leave and v3 report types: a query from a lower
// address silences us, a leave asks its group.
func (q *querier) message(fam int, typ, query, leave, report uint8, lower bool, group func() netip.Addr, records func() pkt.GroupRecords, now time.Time) {
	switch typ {
	case query:
		if lower {
			q.silence(fam, now)
		}
	case leave:
		q.groupQuery(group(), now)
	case report:
		recs := records()
		q.leaves(&recs, now)
	}
}

func (q *querier) silence(fam int, now time.Time) {
	q.mu.Lock()
	q.other[fam] = now.Add(otherQuerierPresent)
	q.mu.Unlock()
}

// leaves asks each group a report's records leave.
func (q *querier) leaves(recs *pkt.GroupRecords, now time.Time) {
	for r, ok := recs.Next(); ok; r, ok = recs.Next() {
		if _, leave := r.Joins(); leave {
			q.groupQuery(r.Group, now)
		}
	}
}

// groupQuery asks whether anyone still listens to g (RFC 3376 6.4.2),
// when we are the querier, within the rate limit.
func (q *querier) groupQuery(g netip.Addr, now time.Time) {
	if !g.IsMulticast() {
		return
	}
	fam := 0
	if g.Is6() {
		fam = 1
	}
	q.mu.Lock()
	silent := now.Before(q.other[fam])
	q.mu.Unlock()
	if silent || !q.tok.allow(now) {
		return
	}
	if fam == 0 {
		q.sendIGMP(g, lastMemberResponse)
	} else {
		q.sendMLD(g, lastMemberResponse)
	}
}

// IGMP query geometry: an IPv4 header with the router alert option (RFC
// 2113), as RFC 3376 4 asks.
const (
	igmpIPHeaderLen = pkt.IPv4MinLen + 4
	igmpFrameLen    = pkt.EthernetLen + igmpIPHeaderLen + pkt.IGMPv3QueryLen
	mldHBHLen       = 8
	mldFrameLen     = pkt.EthernetLen + 40 + mldHBHLen + pkt.MLDv2QueryLen
)

var (
	allHosts4 = netip.AddrFrom4([4]byte{224, 0, 0, 1})
	allNodes6 = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 1})
)

// queryFrame starts a query frame to g (or, for a general query, to
// all): the Ethernet header written, the rest of b to fill.
func (q *querier) queryFrame(g, all netip.Addr, typ uint16, n int) (f *vswitch.Frame, b []byte, dst netip.Addr) {
	dst = all
	if g.IsValid() {
		dst = g
	}
	f, b = newFrame()
	b = b[:n]
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: pkt.MulticastMAC(dst), Src: q.p.mac, Type: typ})
	return f, b, dst
}

// sendIGMP queues an IGMPv3 query: general (g invalid) to 224.0.0.1, or
// for group g to g.
func (q *querier) sendIGMP(g netip.Addr, resp time.Duration) {
	f, b, dst := q.queryFrame(g, allHosts4, pkt.TypeIPv4, igmpFrameLen)
	ip := b[pkt.EthernetLen:]
	pkt.IPv4(ip).Encode(&pkt.IPv4Fields{TotalLen: igmpIPHeaderLen + pkt.IGMPv3QueryLen, TTL: 1,
		Protocol: pkt.ProtoIGMP, Src: q.ip4, Dst: dst, ID: uint16(q.p.ipID.Add(1))})
	ip[0] = 0x46                           // five words and the option
	ip[1] = 0xc0                           // internetwork control, as Linux sends IGMP
	copy(ip[20:24], []byte{0x94, 4, 0, 0}) // router alert
	binary.BigEndian.PutUint16(ip[10:], 0)
	binary.BigEndian.PutUint16(ip[10:], ^pkt.Checksum(ip[:igmpIPHeaderLen], 0))
	pkt.EncodeIGMPQuery(ip[igmpIPHeaderLen:], &pkt.IGMPQueryFields{Group: g, V3: true, QRV: startupQueries,
		MaxResp: uint8(resp / (100 * time.Millisecond)), QQIC: uint8(queryInterval / time.Second)})
	clear(b[igmpFrameLen:60]) // pooled buffers hold other frames' bytes
	q.queries.Add(1)
	q.p.send(f, max(igmpFrameLen, 60))
}

// sendMLD queues an MLDv2 query from the link-local address: general to
// ff02::1, or for group g to g.
func (q *querier) sendMLD(g netip.Addr, resp time.Duration) {
	f, b, dst := q.queryFrame(g, allNodes6, pkt.TypeIPv6, mldFrameLen)
	ip := b[pkt.EthernetLen:]
	clear(ip[:40])
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], mldHBHLen+pkt.MLDv2QueryLen)
	ip[6], ip[7] = 0, 1 // hop-by-hop next, hop limit 1
	s, d := q.ll6.As16(), dst.As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	copy(ip[40:48], []byte{pkt.ProtoICMPv6, 0, 5, 2, 0, 0, 1, 0}) // router alert (MLD), PadN
	pkt.EncodeMLDv2Query(ip[48:], &pkt.MLDQueryFields{Group: g, MaxRespDelay: uint16(resp / time.Millisecond),
		QRV: startupQueries, QQIC: uint8(queryInterval / time.Second)}, q.ll6, dst)
	q.queries.Add(1)
	q.p.send(f, mldFrameLen)
}
