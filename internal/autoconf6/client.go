package autoconf6

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitch/vswitch/internal/label"
	"github.com/vswitch/vswitch/internal/pkt"
)

// Bounds on what the client keeps from the outside network. A prefix,
// router or DNS server past them is counted (prefix_limit, router_limit,
// dns_limit) and ignored until one held expires.
const (
	MaxPrefixes = 4 // prefixes from prefix information options (SLAAC or on-link)
	MaxRouters  = 4 // default routers (RFC 4861 6.3.4 lets a host bound its list)
	MaxDNS      = 3 // DNS servers from RDNSS, and from DHCPv6 (RFC 8106 5.3.1: at least 3)
)

// Timing constants of RFC 4861 10 and RFC 4862 5.1.
const (
	maxRtrSolicitationDelay = time.Second     // random delay before the first probe
	rtrSolicitationInterval = 4 * time.Second // between router solicitations
	maxRtrSolicitations     = 3               // then the host waits for unsolicited advertisements
	retransTimer            = time.Second     // DAD: one probe, then this long (DupAddrDetectTransmits 1)
	twoHours                = 2 * time.Hour   // RFC 4862 5.5.3 e
)

// TickInterval is the longest a caller should let pass between two calls
// of Tick while frames come in: Handle can bring a timer closer than the
// time the last Tick returned, by no more than this.
const TickInterval = 100 * time.Millisecond

const forever = math.MaxInt64

// Config is what the uplink gives the client.
type Config struct {
	// MAC is the uplink's own address: the source of every frame sent,
	// and the EUI-64 of the link-local and SLAAC addresses.
	MAC pkt.MAC
	// Send transmits a whole Ethernet frame. The frame is the client's
	// buffer: Send copies what it keeps. It runs with the client's lock
	// held, so it must not call back into the Client.
	Send func(frame []byte)
	// Now is the clock Handle reads (nil: time.Now); the times given to
	// Tick come from the same clock.
	Now func() time.Time
	// Rand gives the randomness of delays, jitter and transaction ids
	// (nil: math/rand/v2).
	Rand func() uint32
	// LinkMTU is the device's MTU; an RA MTU option above it is refused
	// (RFC 4861 6.3.4). 0: 1500.
	LinkMTU uint32
}

// addrState is where an address is in duplicate address detection.
type addrState uint8

const (
	addrNone      addrState = iota
	addrWaiting             // the first probe is not sent yet (the link-local's random delay)
	addrTentative           // probed; a duplicate if anyone claims it before dadEnd
	addrPreferred           // past DAD: in use
	addrDuplicate           // another node has it (RFC 4862 5.4.5)
)

type prefix struct {
	pfx                   netip.Prefix
	addr                  netip.Addr // the SLAAC address (auto)
	auto, onLink          bool
	state                 addrState
	validUntil, prefUntil int64
	dadEnd                int64
	order                 uint64
}

type router struct {
	addr  netip.Addr
	mac   pkt.MAC
	until int64
}

type dnsServer struct {
	addr  netip.Addr
	until int64
}

// Client is one uplink's IPv6 autoconfiguration. Handle and Tick may run
// on different goroutines; State and the counters on any.
type Client struct {
	cfg  Config
	rand func() uint32
	snap atomic.Pointer[snap]
	// tentative counts the addresses being probed, so neighbour
	// messages skip the lock while there are none.
	tentative atomic.Int32

	mu      sync.Mutex // everything below; taken by Handle only for a message it takes
	started bool
	stopped bool
	order   uint64 // hands out prefix and lease order

	llAddr   netip.Addr
	ll       addrState
	llProbe  int64 // when the link-local probe goes out (addrWaiting)
	llDADEnd int64

	rsSent int
	rsNext int64 // 0: no solicitation pending

	prefixes  [MaxPrefixes]prefix
	nPrefixes int
	routers   [MaxRouters]router
	nRouters  int
	rdnss     [MaxDNS]dnsServer
	nRDNSS    int
	mtu       uint32
	dhcp      dhcpClient

	buf [pkt.EthernetLen + 1500]byte // the frame being sent

	drops  [NumDropReasons]atomic.Uint64
	events [NumEvents]atomic.Uint64
}

// New returns a client; its first Tick starts it.
func New(cfg Config) *Client {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LinkMTU == 0 {
		cfg.LinkMTU = 1500
	}
	c := &Client{cfg: cfg, rand: cfg.Rand, llAddr: pkt.LinkLocalFromMAC(cfg.MAC)}
	if c.rand == nil {
		c.rand = rand.Uint32
	}
	c.dhcp.init(cfg.MAC)
	c.snap.Store(&snap{})
	return c
}

// Drops returns the drop counters by reason.
func (c *Client) Drops() (d [NumDropReasons]uint64) {
	label.Load(d[:], c.drops[:])
	return d
}

// Events returns the event counters.
func (c *Client) Events() (e [NumEvents]uint64) {
	label.Load(e[:], c.events[:])
	return e
}

// DUID is the client's DHCPv6 identifier: DUID-LL (type 3) of its MAC,
// stable across restarts as the MAC is.
func (c *Client) DUID() []byte { return append([]byte(nil), c.dhcp.duid[:]...) }

// IAID is the identity association id of the client's IA_NA.
func (c *Client) IAID() uint32 { return c.dhcp.iaid }

func (c *Client) drop(r DropReason) { c.drops[r].Add(1) }
func (c *Client) event(e Event)     { c.events[e].Add(1) }

// Handle reads one frame the uplink received. It reports whether the
// frame was a router advertisement or a DHCPv6 message to the client
// port, which is the client's alone (taken or dropped with a counted
// reason); everything else, neighbour solicitations and advertisements
// included (DAD reads those, the uplink answers them), is the uplink's
// and false. It returns at once for frames that are neither.
func (c *Client) Handle(frame []byte) bool { return c.handle(frame, true) }

// HandleOffloaded is Handle for a frame whose ICMPv6 or UDP checksum is
// not to be verified: its virtio-net header says NEEDS_CSUM (a sender on
// this host left the checksum to the device, as a veth peer does: the
// field holds only the pseudo-header sum) or DATA_VALID (the device
// verified it).
func (c *Client) HandleOffloaded(frame []byte) bool { return c.handle(frame, false) }

func (c *Client) handle(frame []byte, verify bool) bool {
	eth := pkt.Ethernet(frame)
	if !eth.Valid() || eth.Type() != pkt.TypeIPv6 {
		return false
	}
	ip := pkt.IPv6(eth.Payload())
	if !ip.Valid() {
		return false
	}
	proto, off, ok := ip.UpperLayer()
	if !ok {
		return false
	}
	l4 := ip[off:ip.Len()]
	switch proto {
	case pkt.ProtoICMPv6:
		if len(l4) < 1 {
			return false
		}
		switch l4[0] {
		case pkt.ICMPv6RouterAdvert:
			c.routerAdvert(eth, ip, pkt.ICMPv6(l4), verify)
			return true
		case pkt.ICMPv6NeighSolicit, pkt.ICMPv6NeighAdvert:
			c.neighbour(eth, ip, pkt.ICMPv6(l4), verify)
		}
	case pkt.ProtoUDP:
		if u := pkt.UDP(l4); u.Valid() && u.DstPort() == pkt.DHCPv6ClientPort {
			c.dhcpReply(eth, ip, u, verify)
			return true
		}
	}
	return false
}

// Tick runs the timers due at now: the link-local probe and its end,
// router solicitations, DAD, lifetimes, and DHCPv6 transmissions. It
// returns when it next has something to do: after now, and at most a
// second away while the client runs; a frame taken by Handle may need it
// sooner (see TickInterval).
func (c *Client) Tick(now time.Time) time.Time {
	t := now.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return now.Add(time.Hour)
	}
	if !c.started {
		c.started = true
		c.ll, c.llProbe = addrWaiting, t+c.randDur(maxRtrSolicitationDelay)
	}
	c.tickLinkLocal(t)
	c.tickPrefixes(t)
	c.tickRouters(t)
	c.tickDHCP(t)
	c.publish(t)
	return time.Unix(0, min(c.next(t), t+int64(time.Second)))
}

// Stop ends the client, as the uplink closes: a held lease is released
// (one RELEASE; no wait for its reply) and the state emptied. Handle
// and Tick do nothing afterwards.
func (c *Client) Stop() { c.stop(true) }

// Abandon ends the client as Stop does but sends nothing: the lease is
// left to whoever carries on with the link (an upgrade's new process,
// which solicits with the same DUID and IAID).
func (c *Client) Abandon() { c.stop(false) }

func (c *Client) stop(release bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	if release {
		c.releaseLease(c.cfg.Now().UnixNano())
	}
	c.stopped = true
	c.ll, c.nPrefixes, c.nRouters, c.nRDNSS, c.mtu = addrNone, 0, 0, 0, 0
	c.snap.Store(&snap{})
}

// randDur is a uniform duration in [0, d).
func (c *Client) randDur(d time.Duration) int64 {
	return int64(uint64(c.rand()) * uint64(d) >> 32)
}

// next is the earliest timer after t (forever if none). Times at or
// before t are done (Tick ran what was due) or moot (a deprecation
// passed, a DHCPv6 exchange waiting for a link-local address that is a
// duplicate), so a caller sleeping until next never spins.
func (c *Client) next(t int64) int64 {
	n := int64(forever)
	at := func(x int64) {
		if x > t && x < n {
			n = x
		}
	}
	switch c.ll {
	case addrWaiting:
		at(c.llProbe)
	case addrTentative:
		at(c.llDADEnd)
	}
	at(c.rsNext)
	for i := range c.prefixes[:c.nPrefixes] {
		p := &c.prefixes[i]
		if p.state == addrTentative {
			at(p.dadEnd)
		}
		at(p.validUntil)
		at(p.prefUntil) // deprecation can change the chosen address
	}
	for i := range c.routers[:c.nRouters] {
		at(c.routers[i].until)
	}
	for i := range c.rdnss[:c.nRDNSS] {
		at(c.rdnss[i].until)
	}
	c.dhcp.timers(at)
	return n
}

// tickLinkLocal probes the link-local address when its delay is over,
// and takes it when the probe went unanswered; then routers are
// solicited (from it, with our link-layer address).
func (c *Client) tickLinkLocal(t int64) {
	switch {
	case c.ll == addrWaiting && t >= c.llProbe:
		c.ll, c.llDADEnd = addrTentative, t+int64(retransTimer)
		c.sendDADProbe(c.llAddr)
	case c.ll == addrTentative && t >= c.llDADEnd:
		c.ll = addrPreferred
		if c.rsSent == 0 && c.nRouters == 0 {
			c.rsNext = t
		}
	}
	if c.ll == addrPreferred && c.rsNext != 0 && t >= c.rsNext {
		c.sendRS()
		c.rsSent++
		c.rsNext = 0
		if c.rsSent < maxRtrSolicitations {
			c.rsNext = t + int64(rtrSolicitationInterval)
		}
	}
}

// tickPrefixes ends DAD of SLAAC addresses and expires prefixes.
func (c *Client) tickPrefixes(t int64) {
	for i := 0; i < c.nPrefixes; {
		p := &c.prefixes[i]
		if p.validUntil <= t {
			if p.auto && p.state == addrPreferred {
				c.event(EventAddrExpired)
			}
			c.nPrefixes--
			copy(c.prefixes[i:], c.prefixes[i+1:c.nPrefixes+1])
			c.prefixes[c.nPrefixes] = prefix{}
			continue
		}
		if p.state == addrTentative && t >= p.dadEnd {
			p.state = addrPreferred
		}
		i++
	}
}

// tickRouters expires routers and RDNSS servers.
func (c *Client) tickRouters(t int64) {
	for i := 0; i < c.nRouters; {
		if c.routers[i].until <= t {
			c.event(EventRouterExpired)
			c.removeRouter(i)
			continue
		}
		i++
	}
	for i := 0; i < c.nRDNSS; {
		if c.rdnss[i].until <= t {
			c.nRDNSS--
			copy(c.rdnss[i:], c.rdnss[i+1:c.nRDNSS+1])
			c.rdnss[c.nRDNSS] = dnsServer{}
			continue
		}
		i++
	}
}

func (c *Client) removeRouter(i int) {
	c.nRouters--
	copy(c.routers[i:], c.routers[i+1:c.nRouters+1])
	c.routers[c.nRouters] = router{}
}

// defaultRouter is the first router held (the oldest: the choice stays
// while it lives).
func (c *Client) defaultRouter() *router {
	if c.nRouters == 0 {
		return nil
	}
	return &c.routers[0]
}

// onLinkPrefix is the on-link prefix holding a (a lease's prefix
// length), else a/128.
func (c *Client) onLinkPrefix(a netip.Addr) (netip.Prefix, bool) {
	for i := range c.prefixes[:c.nPrefixes] {
		if p := &c.prefixes[i]; p.onLink && p.pfx.Contains(a) {
			return netip.PrefixFrom(a, p.pfx.Bits()), true
		}
	}
	return netip.PrefixFrom(a, 128), false
}

// lifetime is the deadline of a lifetime of secs seconds from t.
func lifetime(t int64, secs uint32) int64 {
	if secs == math.MaxUint32 {
		return forever
	}
	return t + int64(secs)*int64(time.Second)
}
