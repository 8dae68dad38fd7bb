package autoconf6

import (
	"math"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// Source says where an address came from.
type Source uint8

const (
	SourceNone   Source = iota
	SourceSLAAC         // a prefix option with the A flag (RFC 4862)
	SourceDHCPv6        // an IA_NA lease (RFC 8415)
)

var sourceNames = [...]string{SourceNone: "none", SourceSLAAC: "slaac", SourceDHCPv6: "dhcpv6"}

func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return "unknown"
}

// Forever is the deadline of an infinite lifetime (0xffffffff seconds).
var Forever = time.Unix(0, math.MaxInt64)

// State is what the client has configured, as the uplink reads it. The
// zero value (no address, no router) is the state before anything is
// learned. Deadlines are on the Config.Now clock; an infinite lifetime
// reads as Forever.
type State struct {
	// LinkLocal is fe80::/64 with the EUI-64 of the MAC once its DAD
	// passed (invalid before, and forever if it was a duplicate). The
	// uplink answers neighbour solicitations for it: DHCPv6 servers
	// reply to it.
	LinkLocal netip.Addr

	// Addr is the address to use and its on-link prefix length (a /64
	// for SLAAC; for a lease, the on-link prefix holding it, else /128);
	// invalid when there is none. Only an address past DAD is here.
	Addr   netip.Prefix
	Source Source
	OnLink bool // Addr's prefix is on the link (the L flag): its neighbours are reached directly

	// ValidUntil is when Addr goes away; PreferredUntil, when it is
	// deprecated (still usable; PreferredUntil <= ValidUntil).
	ValidUntil, PreferredUntil time.Time

	// Router is the default router's link-local address and RouterMAC
	// its MAC (the RA's source link-layer address option, else the
	// frame's source); invalid when there is no default router.
	Router      netip.Addr
	RouterMAC   pkt.MAC
	RouterUntil time.Time

	// MTU is the link MTU the last accepted MTU option named; 0 when
	// none did.
	MTU uint32

	// DNS is the recursive DNS servers: RDNSS first, then DHCPv6 option
	// 23, without repeats (a link-local one is on the uplink's link).
	// Read only: it aliases the snapshot.
	DNS []netip.Addr
}

// ValidLifetime is what is left of Addr's valid lifetime at now (0 when
// there is no address or it ran out).
func (s State) ValidLifetime(now time.Time) time.Duration {
	if !s.Addr.IsValid() || !s.ValidUntil.After(now) {
		return 0
	}
	return s.ValidUntil.Sub(now)
}

// view is the part of State that changes rarely: a change of it makes a
// new snapshot. Lifetimes are refreshed in place (snap's atomics), so an
// ordinary advertisement that only restarts them allocates nothing.
type view struct {
	linkLocal netip.Addr
	addr      netip.Prefix
	source    Source
	onLink    bool
	router    netip.Addr
	routerMAC pkt.MAC
	mtu       uint32
	dns       [2 * MaxDNS]netip.Addr
	nDNS      int
}

// snap is one published view and its lifetimes (Unix nanoseconds).
type snap struct {
	v                        view
	valid, preferred, router atomic.Int64
}

// State returns the current configuration without locking.
func (c *Client) State() State {
	p := c.snap.Load()
	// Load preferred before valid: a refresh between the loads can only
	// make valid later, so clamping keeps preferred <= valid.
	pref, valid := p.preferred.Load(), p.valid.Load()
	s := State{
		LinkLocal: p.v.linkLocal,
		Addr:      p.v.addr,
		Source:    p.v.source,
		OnLink:    p.v.onLink,
		Router:    p.v.router,
		RouterMAC: p.v.routerMAC,
		MTU:       p.v.mtu,
		DNS:       p.v.dns[:p.v.nDNS:p.v.nDNS],
	}
	if s.Addr.IsValid() {
		s.ValidUntil, s.PreferredUntil = deadline(valid), deadline(min(pref, valid))
	}
	if s.Router.IsValid() {
		s.RouterUntil = deadline(p.router.Load())
	}
	return s
}

func deadline(ns int64) time.Time {
	if ns == forever {
		return Forever
	}
	return time.Unix(0, ns)
}

// publish makes the snapshot say what the client holds at now: a new
// one when the view changed, else the current one's lifetimes updated
// in place. Called with mu held.
func (c *Client) publish(now int64) {
	var v view
	var valid, pref, rtr int64
	if c.ll == addrPreferred {
		v.linkLocal = c.llAddr
	}
	if a, ok := c.bestAddr(now); ok {
		v.addr, v.source, v.onLink = a.prefix, a.source, a.onLink
		valid, pref = a.validUntil, a.prefUntil
	}
	if r := c.defaultRouter(); r != nil {
		v.router, v.routerMAC, rtr = r.addr, r.mac, r.until
	}
	v.mtu = c.mtu
	for i := range c.rdnss[:c.nRDNSS] {
		v.addDNS(c.rdnss[i].addr)
	}
	for _, a := range c.dhcp.dns[:c.dhcp.nDNS] {
		v.addDNS(a)
	}
	c.countTentative()
	p := c.snap.Load()
	if p.v != v {
		p = &snap{v: v}
	}
	p.valid.Store(valid)
	p.preferred.Store(pref)
	p.router.Store(rtr)
	c.snap.Store(p)
}

func (v *view) addDNS(a netip.Addr) {
	for _, b := range v.dns[:v.nDNS] {
		if a == b {
			return
		}
	}
	if v.nDNS < len(v.dns) {
		v.dns[v.nDNS] = a
		v.nDNS++
	}
}

// candidate is an address that may be published.
type candidate struct {
	prefix                netip.Prefix
	source                Source
	onLink                bool
	validUntil, prefUntil int64
	order                 uint64
}

// bestAddr picks the address to publish among those past DAD: one not
// deprecated before a deprecated one, a lease before SLAAC (an M flag
// says the network wants leases), a global address before a ULA, then
// the oldest, so the choice does not flip while they all hold.
func (c *Client) bestAddr(now int64) (best candidate, have bool) {
	consider := func(k candidate) {
		if !have || better(k, best, now) {
			best, have = k, true
		}
	}
	for i := range c.prefixes[:c.nPrefixes] {
		p := &c.prefixes[i]
		if p.auto && p.state == addrPreferred {
			consider(candidate{netip.PrefixFrom(p.addr, 64), SourceSLAAC, p.onLink, p.validUntil, p.prefUntil, p.order})
		}
	}
	if d := &c.dhcp; d.addr.IsValid() && d.addrState == addrPreferred {
		pfx, onLink := c.onLinkPrefix(d.addr)
		consider(candidate{pfx, SourceDHCPv6, onLink, d.validUntil, d.prefUntil, d.order})
	}
	return best, have
}

func better(a, b candidate, now int64) bool {
	if ad, bd := a.prefUntil <= now, b.prefUntil <= now; ad != bd {
		return !ad
	}
	if a.source != b.source {
		return a.source == SourceDHCPv6
	}
	if au, bu := isULA(a.prefix.Addr()), isULA(b.prefix.Addr()); au != bu {
		return !au
	}
	return a.order < b.order
}

func isULA(a netip.Addr) bool { return a.As16()[0]&0xfe == 0xfc }
