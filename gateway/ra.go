package gateway

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// Router advertisements (RFC 4861 6.2) with the defaults radvd and
// libvirt use: every 200-600 s (MinRtrAdvInterval = 0.33 *
// MaxRtrAdvInterval), the first three within 16 s, a router lifetime of
// three maximum intervals; the prefix on-link and for SLAAC (L and A),
// the link MTU, and the gateway as DNS server while the network's DNS is
// on (RFC 8106). The M and O flags follow the network's DHCPv6 server
// (raFlags in dhcp6.go).
const (
	raMaxInterval     = 600 * time.Second
	raMinInterval     = 200 * time.Second
	raInitialInterval = 16 * time.Second // MAX_INITIAL_RTR_ADVERT_INTERVAL
	raInitialCount    = 3                // MAX_INITIAL_RTR_ADVERTISEMENTS
	raLifetime        = 1800             // s: 3 * MaxRtrAdvInterval
	raValidLifetime   = 86400            // s, radvd's AdvValidLifetime
	raPrefLifetime    = 14400            // s, radvd's AdvPreferredLifetime
	raRDNSSLifetime   = 1800             // s: at least MaxRtrAdvInterval (RFC 8106 5.1)
	raMTU             = 1500
	raHopLimit        = 64
	dadWait           = time.Second // RetransTimer (RFC 4861 10) for the one DAD probe
)

// raLen is an advertisement's ICMPv6 length: the fixed part, source
// link-layer address, MTU, prefix and (with DNS) RDNSS with one server.
const raLen = pkt.NDPRouterAdvertLen + pkt.NDPLLAOptLen + pkt.NDPMTUOptLen + pkt.NDPPrefixOptLen + 24

// writeRA writes an advertisement from the gateway's link-local address
// to dst at dmac.
func (p *Port) writeRA(b []byte, dmac pkt.MAC, dst netip.Addr) int {
	v := p.v6
	msg := b[icmp6Off : icmp6Off+raLen]
	flags, pfxFlags := p.raFlags()
	pkt.NDPRouterAdvert(msg).Encode(&pkt.NDPRouterAdvertFields{CurHopLimit: raHopLimit, Flags: flags, RouterLifetime: raLifetime})
	w := pkt.NDPOptionWriter{B: msg, N: pkt.NDPRouterAdvertLen}
	w.AddLinkLayerAddr(pkt.NDPOptSourceLLA, p.mac)
	w.AddMTU(raMTU)
	w.AddPrefixInfo(v.prefix, pfxFlags, raValidLifetime, raPrefLifetime)
	if p.cfg.DNS != nil && v.usable(stGlobal) {
		w.AddRDNSS(raRDNSSLifetime, v.global)
	}
	return writeICMPv6(b, p.mac, dmac, v.ll, dst, 255, w.N)
}

// routerSolicit answers a solicitation with an advertisement: unicast to
// a solicitor that gave its address (RFC 4861 6.2.6 allows it), else to
// all nodes; at most rsTok's rate, so a guest flooding solicitations
// gets a bounded number of answers.
func (p *Port) routerSolicit(eth pkt.Ethernet, ip pkt.IPv6, c pkt.ICMPv6, now time.Time) {
	v := p.v6
	if _, _, ok := p.ndpOK(ip, c); !ok {
		return
	}
	if !v.usable(stLL) {
		return // an RA must come from a link-local address that passed DAD
	}
	if !v.rsTok.allow(now) {
		p.drops[DropRateLimited].Add(1)
		return
	}
	dmac, dst := pkt.MulticastMAC6(pkt.IPv6AllNodes), pkt.IPv6AllNodes
	if src := ip.Src(); v.guestAddr(src) {
		dmac, dst = eth.Src(), src
	}
	f, b := newFrame()
	p.send(f, p.writeRA(b, dmac, dst))
}

// advertise is the IPv6 side's own goroutine: an MLD report joining the
// gateway's groups, DAD for its two addresses, then unsolicited
// advertisements until the port closes.
// after is time.After (tests pass their own).
func (p *Port) advertise(after func(time.Duration) <-chan time.Time) {
	v := p.v6
	// Join the solicited-node groups before probing (RFC 4862 5.4.2), so
	// a snooping switch delivers the answers and later solicitations.
	f, b := newFrame()
	p.send(f, p.writeMLDReport(b, netip.IPv6Unspecified(), pkt.RecordToExclude)) // CHANGE_TO_EXCLUDE_MODE: a join
	for _, a := range [2]netip.Addr{v.ll, v.global} {
		f, b := newFrame()
		p.send(f, writeNS(b, p.mac, netip.IPv6Unspecified(), a))
	}
	select {
	case <-p.done:
		return
	case <-after(dadWait):
	}
	for i := range v.state {
		v.state[i].CompareAndSwap(addrTentative, addrPreferred)
	}
	if !v.usable(stLL) {
		return // counted by the NS or NA that showed the duplicate
	}
	for n := 0; ; n++ {
		f, b := newFrame()
		p.send(f, p.writeRA(b, pkt.MulticastMAC6(pkt.IPv6AllNodes), pkt.IPv6AllNodes))
		select {
		case <-p.done:
			return
		case <-after(raNext(n)):
		}
	}
}

// raNext is the wait after the n-th unsolicited advertisement (RFC 4861
// 6.2.4): random in [Min, Max], at most 16 s for the first three.
func raNext(n int) time.Duration {
	d := raMinInterval + rand.N(raMaxInterval-raMinInterval+1)
	if n < raInitialCount-1 {
		d = min(d, raInitialInterval)
	}
	return d
}
