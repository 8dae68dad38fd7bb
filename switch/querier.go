package vswitch

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/vswitch/vswitch/internal/mquery"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/ring"
)

// The switch's own IGMP and MLD querier, for a VLAN with no network (a
// network's gateway is its VLAN's querier): the Linux bridge's
// mcast_querier. It is a local port on the VLAN, as a gateway is, running
// package mquery's querier: IGMPv3 general queries from 0.0.0.0 (as the
// Linux bridge sends them when it has no address), MLDv2 ones from the
// link-local address of its MAC. Any querier with an address wins the
// IGMP election against 0.0.0.0, and a lower link-local one the MLD
// election, as RFC 3376 6.6.2 and the Linux bridge have it; the VLAN is
// then snooped on the winner's queries.
//
// The port is a router port of its VLAN for good, so reports and leaves
// reach it (a leave makes it ask the group), and so does multicast nobody
// joined, which it throws away: one delivery instead of a flood to every
// port.

// querierQueue bounds the queries waiting for the port's reader: a
// general round is two, group queries ten a second.
const querierQueue = 64

// querierPort is the driver of the switch querier's port.
type querierPort struct {
	q    *mquery.Querier
	out  *ring.Queue[Frame]
	done chan struct{}
	once sync.Once
}

var _ Port = (*querierPort)(nil)

func newQuerierPort(mac pkt.MAC) *querierPort {
	p := &querierPort{out: ring.NewQueue[Frame](querierQueue), done: make(chan struct{})}
	p.q = mquery.New(mac, netip.Addr{}, func(b []byte) {
		f := NewFrame()
		f.SetLen(copy(f.RxBuf(), b))
		if !p.out.Put(f) {
			f.Release() // the reader is behind: the next round asks again
		}
	})
	return p
}

// ReadBatch hands the switch the queries due.
func (p *querierPort) ReadBatch(frames []*Frame) (int, error) {
	var out [BatchSize]*Frame
	n := p.out.Wait(out[:min(len(frames), len(out))], p.done)
	if n == 0 {
		return 0, ErrClosed
	}
	for i := range n {
		frames[i].Release()
		frames[i] = out[i]
	}
	return n, nil
}

// WriteBatch shows the querier the VLAN's multicast: others' queries for
// the election, leaves for group queries. Everything else is dropped
// here, as a host drops what is not for it.
func (p *querierPort) WriteBatch(frames []*Frame) (int, error) {
	select {
	case <-p.done:
		return 0, ErrClosed
	default:
	}
	var now time.Time
	for _, f := range frames {
		eth := pkt.Ethernet(f.Bytes())
		if !eth.Valid() {
			continue
		}
		if d := eth.Dst(); !d.IsMulticast() || d == pkt.Broadcast {
			continue
		}
		if now.IsZero() {
			now = time.Now()
		}
		p.q.Observe(eth, now)
	}
	return len(frames), nil
}

// Features: frames with offload work come as they are; the querier reads
// only IGMP and MLD, which never carry any.
func (p *querierPort) Features() Features { return FeatVNetHdr }

// Close stops the querier.
func (p *querierPort) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

// QuerierPortName is the name of VLAN vid's querier port.
func QuerierPortName(vid uint16) string { return fmt.Sprintf("querier-%d", vid) }

// AddQuerier makes the switch the IGMP and MLD querier of VLAN vid, a
// VLAN with no network: a port QuerierPortName(vid) with mac (its MLD
// source is mac's link-local address) that sends general queries from now
// on. Snooping applies on vid from the first frame, as SetQuerier says.
func (s *Switch) AddQuerier(vid uint16, mac pkt.MAC) error {
	if s.mdb == nil {
		return fmt.Errorf("querier on VLAN %d: multicast snooping is off", vid)
	}
	if vid < 1 || vid > pkt.MaxVID {
		return fmt.Errorf("querier on VLAN %d: no such VLAN", vid)
	}
	name := QuerierPortName(vid)
	qp := newQuerierPort(mac)
	pc := PortConfig{Name: name, VLAN: VLANConfig{PVID: vid}, MaxGroups: -1, MulticastRouter: MulticastRouterAlways}
	if err := s.AddPort(pc, qp); err != nil {
		return fmt.Errorf("querier on VLAN %d: %w", vid, err)
	}
	// The querier's MAC is the switch's own, as a gateway's is.
	if err := s.AddLocal(name, vid, mac); err != nil {
		s.RemovePort(name)
		return fmt.Errorf("querier on VLAN %d: %w", vid, err)
	}
	s.SetQuerier(vid)
	go qp.q.Run(qp.done)
	return nil
}

// QuerierState says whether the switch's querier of vid is the IGMP and
// the MLD querier now, and how many queries it sent; ok is false when vid
// has none.
func (s *Switch) QuerierState(vid uint16) (igmp, mld bool, sent uint64, ok bool) {
	p, found := s.topo.Load().byName[QuerierPortName(vid)]
	if !found {
		return false, false, 0, false
	}
	qp, is := p.drv.(*querierPort)
	if !is {
		return false, false, 0, false
	}
	igmp, mld = qp.q.Active(time.Now())
	return igmp, mld, qp.q.Sent(), true
}
