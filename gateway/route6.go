package gateway

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// Router6 routes IPv6 between the networks that have address6: each
// network's gateway joins it, and a packet a guest sends to another
// network's prefix crosses over, its hop limit decremented, as between
// two interfaces of a Linux router with forwarding on. The table is
// replaced whole when a network joins (copy on write), so the packet path
// reads it without a lock.
type Router6 struct {
	mu   sync.Mutex
	nets atomic.Pointer[[]*Port]
}

// NewRouter6 returns a router with no networks.
func NewRouter6() *Router6 {
	r := &Router6{}
	r.nets.Store(&[]*Port{})
	return r
}

func (r *Router6) join(p *Port) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := append(slices.Clone(*r.nets.Load()), p)
	r.nets.Store(&n)
}

// lookup returns the network whose /64 holds a, or nil.
func (r *Router6) lookup(a netip.Addr) *Port {
	for _, p := range *r.nets.Load() {
		if p.v6.inPrefix(a) {
			return p
		}
	}
	return nil
}

// route6 forwards a guest's packet for an address that is not the
// gateway's to the network that holds it, or answers destination
// unreachable.
func (p *Port) route6(eth pkt.Ethernet, ip pkt.IPv6, now time.Time) {
	v := p.v6
	src, dst := ip.Src(), ip.Dst()
	// rp_filter: only a guest's global address of this network is routed;
	// link-local addresses never leave the link (RFC 4291 2.5.6).
	if !v.guestAddr(src) || !v.inPrefix(src) {
		p.drops[DropBadSource].Add(1)
		return
	}
	var out *Port
	if r := p.cfg.Router6; r != nil && !dst.IsLinkLocalUnicast() {
		out = r.lookup(dst)
	}
	if out == nil && v.inPrefix(dst) {
		out = p // on this link: sent back out, as Linux forwards to the same interface
	}
	if out == nil && p.routesOut6(dst) {
		p.route6Out(eth, ip, now) // nat66.go
		return
	}
	if out == nil {
		p.drops[DropNotForUs].Add(1)
		p.icmp6Error(eth, ip, pkt.ICMPv6DstUnreach, pkt.ICMPv6CodeNoRoute, 0, now)
		return
	}
	v.neigh.confirm(src, eth.Src(), now)
	if ip.HopLimit() <= 1 {
		p.icmp6Error(eth, ip, pkt.ICMPv6TimeExceeded, pkt.ICMPv6CodeHopLimit, 0, now)
		p.drops[DropTTLExceeded].Add(1)
		return
	}
	f := p.routed6(eth, ip)
	f.VNet = pkt.VirtioNetHdr{} // between networks only complete packets (offload.go)
	if !out.deliver6(f, now) {
		f.Release()
	}
}

// deliver6 puts a routed packet (in f, after a 14-byte Ethernet header)
// onto this network, addressed to the guest's MAC. It reports false, and
// solicits the guest, when the guest is not in the neighbour cache.
func (p *Port) deliver6(f *vswitch.Frame, now time.Time) bool {
	b := f.Bytes()
	dst := pkt.IPv6(b[pkt.EthernetLen:]).Dst()
	mac, ok := p.v6.neigh.lookup(dst)
	if !ok {
		p.drops[DropNeighMiss].Add(1)
		p.solicit(dst, now)
		return false
	}
	return p.put(f, mac, pkt.TypeIPv6, now)
}
