package gateway

import (
	"time"

	"github.com/vswitch/vswitch/internal/mquery"
	"github.com/vswitch/vswitch/internal/pkt"
)

// The gateway is the IGMP and MLD querier of its network (RFC 3376 6.1,
// RFC 3810 7.1), so that the switch's snooping sees memberships refreshed
// and ageing out: package mquery's querier, sending IGMP from the
// gateway's address and MLD from its link-local one, queued as the
// gateway's other replies are. The switch runs the same querier on a VLAN
// with no network (multicast_querier).

// querier is one gateway's querier.
type querier struct {
	*mquery.Querier
	p *Port
}

func newQuerier(p *Port) *querier {
	q := &querier{p: p}
	q.Querier = mquery.New(p.mac, p.ip, func(b []byte) {
		f, fb := newFrame()
		p.send(f, copy(fb, b))
	})
	return q
}

// run sends the general queries until the port closes.
func (q *querier) run() { q.Run(q.p.done) }

// observe looks at a multicast frame the switch delivered: a query from a
// lower address wins the election; a leave asks its group.
func (q *querier) observe(eth pkt.Ethernet, now time.Time) { q.Observe(eth, now) }

// QueriesSent is how many queries the gateway sent.
func (p *Port) QueriesSent() uint64 {
	if p.mq == nil {
		return 0
	}
	return p.mq.Sent()
}

// Querier reports whether the gateway is the IGMP and the MLD querier of
// its network now (false when another querier won the election or the
// querier is off).
func (p *Port) Querier() (igmp, mld bool) {
	if p.mq == nil {
		return false, false
	}
	return p.mq.Active(time.Now())
}
