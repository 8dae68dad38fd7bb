package gateway

import (
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitch/vswitch/internal/label"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/nat"
	vswitch "github.com/vswitch/vswitch/switch"
)

// UplinkConfig is a routed interface of the gateway.
type UplinkConfig struct {
	Name    string
	Link    vswitch.Port // an AF_PACKET port on the outside device (or a user stack's, user_link.go); the switch runs it (Start)
	MAC     pkt.MAC      // zero: a stable locally administered one from the name
	Address netip.Prefix // the switch's own outside address; invalid: lease one by DHCP
	Gateway netip.Addr   // the next hop, resolved by ARP (with DHCP: the router option)
	NAT     *nat.Table   // the conntrack table of this outside address (and of Address6)
	// Address6 turns IPv6 on (uplink6.go): a static address on the outside
	// link. Gateway6 is its next hop; invalid: the router the outside
	// advertises. MTU is the outside link's (0: DefaultMTU): a guest's
	// IPv6 packet larger gets Packet Too Big.
	Address6 netip.Prefix
	Gateway6 netip.Addr
	Auto6    bool // address6: auto: Address6 and the router from the outside (uplink_auto6.go)
	MTU      int
	User     UserStack // set: a user-mode uplink, no Link (user.go)
	Log      *slog.Logger
}

// UplinkDropReason says why an uplink dropped a packet: a label value of
// vswitch_uplink_drops_total{reason}; docs/metrics.md lists them.
type UplinkDropReason uint8

const (
	UplinkNotTracked    UplinkDropReason = iota // no flow and no routed network (unsolicited), or an untracked ICMP error
	UplinkNeighMiss                             // the next hop's MAC is not resolved yet (an ARP request went out)
	UplinkConntrackFull                         // a new flow, but the conntrack table is full
	UplinkFragment                              // a later fragment whose first was not seen
	UplinkMalformed                             // too short for its protocol
	UplinkTTL                                   // inbound TTL ran out
	UplinkNoAddress                             // no outside address yet (DHCP still leasing)
	UplinkSourceLimit                           // a new flow, but its source holds conntrack.max_per_source flows
	UplinkBadSource                             // from an attached network's address, or a martian (rp_filter)
	UplinkNoRoute                               // off the outside link, but the DHCP lease named no router (IPv6: no gateway6, no router advertised)
	UplinkTooBig                                // IPv6 from the outside larger than the networks' MTU (answered with Packet Too Big)
	NumUplinkDrops
)

var uplinkDropNames = [NumUplinkDrops]string{
	UplinkNotTracked:    "not_tracked",
	UplinkNeighMiss:     "neigh_miss",
	UplinkConntrackFull: "conntrack_full",
	UplinkFragment:      "fragment",
	UplinkMalformed:     "malformed",
	UplinkTTL:           "ttl_exceeded",
	UplinkNoAddress:     "no_address",
	UplinkSourceLimit:   "conntrack_source_limit",
	UplinkBadSource:     "bad_source",
	UplinkNoRoute:       "no_route",
	UplinkTooBig:        "packet_too_big",
}

// String is the metric label value.
func (r UplinkDropReason) String() string { return label.Of(uplinkDropNames[:], r) }

// uplinkAddr is the uplink's outside address, replaced whole (DHCP).
type uplinkAddr struct {
	prefix netip.Prefix
	ip, gw netip.Addr
}

// Uplink moves routed traffic between the networks and the outside. Its
// link is a routed port of the switch (vswitch.Router): the switch's
// reader hands it what the link reads, and what it sends goes through
// the port's queue and writer, so it has the counters, drops and capture
// of every port.
type Uplink struct {
	cfg    UplinkConfig
	mac    pkt.MAC
	addr   atomic.Pointer[uplinkAddr] // nil until an address is known
	dhcpCh chan []byte                // DHCP replies for the client
	tx     egress                     // the port's egress; set by Start
	sw     *vswitch.Switch            // the switch running the link; nil before Start
	neigh  *neighbours
	routes atomic.Pointer[routeTable] // the attached networks; never nil
	mu     sync.Mutex                 // Attach only
	done   chan struct{}
	once   sync.Once
	// keepLease: Close abandons an autoconfigured lease (KeepLease).
	keepLease atomic.Bool
	wg        sync.WaitGroup
	arp       tokens
	clk       clock
	v6        *uplink6 // nil without Address6 (uplink6.go)
	// ICMPv6 errors the uplink sends itself, per second
	icmpTok tokens

	drops [NumUplinkDrops]atomic.Uint64
	out   atomic.Uint64    // translated outbound
	in    atomic.Uint64    // translated inbound
	gso   [2]atomic.Uint64 // of those, GSO super-frames translated whole: out, in
	nat6  [2]atomic.Uint64 // of those, IPv6 (NAT66): out, in
}

// NewUplink returns an uplink; Start runs it.
func NewUplink(cfg UplinkConfig) *Uplink {
	mac := cfg.MAC
	if mac.IsZero() {
		mac = StableMAC("uplink/" + cfg.Name)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	u := &Uplink{cfg: cfg, mac: mac, neigh: newNeighbours(1024), done: make(chan struct{}), dhcpCh: make(chan []byte, 4), clk: realClock{}}
	u.routes.Store(&routeTable{})
	if cfg.Address.IsValid() {
		u.addr.Store(&uplinkAddr{prefix: cfg.Address, ip: cfg.Address.Addr(), gw: cfg.Gateway})
	}
	if cfg.Address6.IsValid() && cfg.User == nil {
		u.v6 = newUplink6(cfg.Address6, cfg.Gateway6, mac, cfg.MTU)
	} else if cfg.Auto6 && cfg.User == nil {
		u.v6 = u.newAuto6()
	}
	return u
}

// Address is the current outside address (invalid while leasing).
func (u *Uplink) Address() netip.Prefix {
	if a := u.addr.Load(); a != nil {
		return a.prefix
	}
	return netip.Prefix{}
}

// Gateway is the next hop of the current address: invalid while leasing,
// or when the DHCP lease named no router (then only the outside link is
// reached).
func (u *Uplink) Gateway() netip.Addr {
	if a := u.addr.Load(); a != nil {
		return a.gw
	}
	return netip.Addr{}
}

// IsUser reports whether the uplink is a user-mode one (no address of its own).
func (u *Uplink) IsUser() bool { return u.cfg.User != nil }

// MAC is the uplink's own MAC address.
func (u *Uplink) MAC() pkt.MAC { return u.mac }

// Drops returns the uplink's drop counters.
func (u *Uplink) Drops() (d [NumUplinkDrops]uint64) {
	label.Load(d[:], u.drops[:])
	return d
}

// Translations are the NAT translations made each way.
func (u *Uplink) Translations() (out, in uint64) { return u.out.Load(), u.in.Load() }

// GSOTranslations are the translations of GSO super-frames (translated
// once, whole) among Translations, each way.
func (u *Uplink) GSOTranslations() (out, in uint64) { return u.gso[0].Load(), u.gso[1].Load() }

// natPacket is the packet to translate in ipb, with f's offloads.
func natPacket(ipb []byte, h *pkt.VirtioNetHdr) nat.Packet {
	p := nat.Packet{IP: ipb, Partial: h.Flags&pkt.VirtioNetHdrFNeedsCsum != 0}
	if h.IsGSO() {
		p.GSOSize = h.GSOSize
	}
	return p
}

// countTranslated counts a translation going d (0 out, 1 in) of a packet
// with header h.
func (u *Uplink) countTranslated(d int, h *pkt.VirtioNetHdr) {
	if d == 0 {
		u.out.Add(1)
	} else {
		u.in.Add(1)
	}
	if h.IsGSO() {
		u.gso[d].Add(1)
	}
}

// Translations6 are the NAT66 translations among Translations, each way.
func (u *Uplink) Translations6() (out, in uint64) { return u.nat6[0].Load(), u.nat6[1].Load() }

// countTranslated6 counts a NAT66 translation going d (0 out, 1 in) of a
// packet with header h.
func (u *Uplink) countTranslated6(d int, h *pkt.VirtioNetHdr) {
	u.countTranslated(d, h)
	u.nat6[d].Add(1)
}

// NAT is the uplink's conntrack table.
func (u *Uplink) NAT() *nat.Table { return u.cfg.NAT }

// Attach makes a network's gateway reachable from the outside through u.
func (u *Uplink) Attach(p *Port) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.routes.Store(u.routes.Load().with(p))
}

// egress is where the uplink's frames leave: its switch port's Egress (a
// fake in unit tests). Send owns f from then on and counts any drop.
type egress interface{ Send(f *vswitch.Frame) }

// Start puts the link on sw as a routed port named after the uplink, runs
// the conntrack sweeper, and announces the address or leases one by DHCP.
// From here on the switch owns the link.
func (u *Uplink) Start(sw *vswitch.Switch) error {
	if err := sw.AddPort(vswitch.PortConfig{Name: u.cfg.Name, Router: (*uplinkRouter)(u)}, u.cfg.Link); err != nil {
		return err
	}
	u.sw = sw
	if u.cfg.User != nil {
		return nil // no address to announce or lease, no conntrack to sweep
	}
	u.wg.Add(1)
	go u.sweeper()
	if u.v6 != nil && u.v6.auto != nil {
		u.wg.Add(1)
		go u.autoconf6()
	} else if u.v6 != nil {
		u.wg.Add(1)
		go u.dad6(time.After)
	}
	if a := u.addr.Load(); a != nil {
		u.announce(a)
		return nil
	}
	u.wg.Add(1)
	go u.dhcpClient()
	return nil
}

// uplinkRouter is the uplink as its switch port's Router.
type uplinkRouter Uplink

// Attached is called by AddPort before the port reads anything.
func (r *uplinkRouter) Attached(out *vswitch.Egress) { r.tx = out }

// Deliver handles frames from the outside, on the port's reader.
func (r *uplinkRouter) Deliver(frames []*vswitch.Frame) {
	u := (*Uplink)(r)
	now := u.clk.Now()
	for i, f := range frames {
		if u.handle(f, now) {
			frames[i] = vswitch.NewFrame() // handed on
		}
	}
}

// announce sends a gratuitous ARP for the address and asks for the next hop.
func (u *Uplink) announce(a *uplinkAddr) {
	f, b := newFrame()
	u.enqueue(f, writeARP(b, pkt.ARPRequest, u.mac, a.ip, pkt.MAC{}, a.ip))
	u.resolve(a.gw, u.clk.Now())
}

// Close stops the uplink and removes its port, which closes the link (a
// link never started is closed here). A switch closed first took the
// port with it already.
func (u *Uplink) Close() error {
	var err error
	u.once.Do(func() {
		close(u.done)
		u.stop6() // its RELEASE leaves before the port goes
		if u.sw == nil {
			err = u.closeLink()
		} else if e := u.sw.RemovePort(u.cfg.Name); !errors.Is(e, vswitch.ErrNoSuchPort) {
			err = e
		}
		u.wg.Wait()
	})
	return err
}

// newFrame takes an empty small frame from the pool for a reply the
// gateway or the uplink builds, and its buffer to write into.
func newFrame() (*vswitch.Frame, []byte) {
	f := vswitch.NewFrame()
	return f, f.RxBuf()
}

func (u *Uplink) enqueue(f *vswitch.Frame, n int) {
	f.SetLen(n)
	u.tx.Send(f)
}

func (u *Uplink) sweeper() {
	defer u.wg.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-u.done:
			return
		case now := <-t.C:
			u.cfg.NAT.Sweep(now.Unix())
		}
	}
}

// resolve sends an ARP request for ip on the outside (rate limited).
func (u *Uplink) resolve(ip netip.Addr, now time.Time) {
	a := u.addr.Load()
	if a == nil || !ip.Is4() || !u.arp.allow(now) {
		return // no next hop (a lease without a router option): nothing to ask
	}
	f, b := newFrame()
	u.enqueue(f, writeARP(b, pkt.ARPRequest, u.mac, a.ip, pkt.MAC{}, ip))
}

// send puts an IPv4 packet (already in f, after a 14-byte Ethernet
// header) out towards the next hop.
func (u *Uplink) send(f *vswitch.Frame, now time.Time) {
	a := u.addr.Load()
	if a == nil {
		u.drops[UplinkNoAddress].Add(1)
		f.Release()
		return
	}
	hop := a.gw
	if dst := pkt.IPv4(f.Bytes()[pkt.EthernetLen:]).Dst(); a.prefix.Contains(dst) {
		hop = dst // on the outside link itself
	} else if !hop.IsValid() {
		u.drops[UplinkNoRoute].Add(1) // a lease without a router: no default route
		f.Release()
		return
	}
	u.sendVia(f, hop, pkt.TypeIPv4, now)
}

// sendVia sends the packet in f (of Ethernet type typ) to hop's MAC, or,
// with hop not resolved yet, drops it (neigh_miss) and asks for hop: by
// ARP, or by neighbour solicitation.
func (u *Uplink) sendVia(f *vswitch.Frame, hop netip.Addr, typ uint16, now time.Time) {
	cache := u.neigh
	if typ == pkt.TypeIPv6 {
		cache = u.v6.neigh
	}
	mac, ok := cache.lookup(hop)
	if !ok {
		u.drops[UplinkNeighMiss].Add(1)
		if typ == pkt.TypeIPv6 {
			u.solicit6(hop, now)
		} else {
			u.resolve(hop, now)
		}
		f.Release()
		return
	}
	pkt.Ethernet(f.Bytes()).Encode(&pkt.EthernetFields{Dst: mac, Src: u.mac, Type: typ})
	u.tx.Send(f)
}

// hairpin hands a translated packet for the uplink's own address (a
// guest reaching a port forward through it) straight back in, as if it
// had arrived there.
func (u *Uplink) hairpin(f *vswitch.Frame, now time.Time) {
	pkt.Ethernet(f.Bytes()).SetDst(u.mac)
	if !u.handle(f, now) {
		f.Release()
	}
}

// handle processes one outside frame; true means f was handed on.
func (u *Uplink) handle(f *vswitch.Frame, now time.Time) bool {
	if u.cfg.User != nil {
		return u.userInput(f, now)
	}
	b := f.Bytes()
	eth := pkt.Ethernet(b)
	if !eth.Valid() || (eth.Dst() != u.mac && eth.Dst() != pkt.Broadcast && (u.v6 == nil || !u.v6.wantMAC(eth.Dst()))) {
		return false
	}
	ua := u.addr.Load()
	switch eth.Type() {
	case pkt.TypeARP:
		a := pkt.ARP(eth.Payload())
		if !a.Valid() || ua == nil {
			return false
		}
		if (ua.prefix.Contains(a.SenderIP()) || a.SenderIP() == ua.gw) && a.SenderIP() != ua.ip { // a /32 lease's router is off the subnet
			u.neigh.learn(a.SenderIP(), a.SenderMAC(), now)
		}
		if a.Op() == pkt.ARPRequest && a.TargetIP() == ua.ip {
			r, rb := newFrame()
			u.enqueue(r, writeARP(rb, pkt.ARPReply, u.mac, ua.ip, a.SenderMAC(), a.SenderIP()))
		}
		return false
	case pkt.TypeIPv4:
	case pkt.TypeIPv6:
		if u.handleAuto6(f, now) {
			return false
		}
		return u.input6(f, eth, now)
	default:
		return false
	}
	ipb := eth.Payload()
	ip := pkt.IPv4(ipb)
	if !ip.Valid() {
		u.drops[UplinkMalformed].Add(1)
		return false
	}
	if ip.Protocol() == pkt.ProtoUDP && !ip.IsFragment() {
		if ud := pkt.UDP(ip.Payload()); ud.Valid() && ud.DstPort() == pkt.DHCPClientPort && ud.SrcPort() == pkt.DHCPServerPort {
			select { // the client is the control path: a copy and a channel are fine
			case u.dhcpCh <- append([]byte(nil), ud.Payload()...):
			default:
			}
			return false
		}
	}
	if ua == nil {
		u.drops[UplinkNoAddress].Add(1)
		return false
	}
	if src := ip.Src(); !hostIn(src, ua.prefix) || u.routes.Load().lookup(src) != nil {
		u.drops[UplinkBadSource].Add(1) // a guest would take it for a neighbour's
		return false
	}
	return u.inward(f, ipb[:ip.TotalLen()], ip.Dst(), ip.Dst() == ua.ip, now)
}

// ready reports whether the uplink has its outside address; a packet
// routed out before then is dropped and counted here.
func (u *Uplink) ready() bool {
	if u.addr.Load() == nil && u.cfg.User == nil {
		u.drops[UplinkNoAddress].Add(1)
		return false
	}
	return true
}

// output takes a guest's packet in f (owned from here on, TTL already
// decremented) out: masqueraded when translate is set, straight back in
// when that makes it a port forward's (hairpin), else to the next hop.
func (u *Uplink) output(f *vswitch.Frame, translate bool, now time.Time) {
	if u.cfg.User != nil {
		u.userOutput(f)
		return
	}
	ua := u.addr.Load()
	if ua == nil { // lost since ready
		u.drops[UplinkNoAddress].Add(1)
		f.Release()
		return
	}
	u.outward(f, ua.ip, translate, now)
}

// clock is the uplink's time source: the real one, or a fake in tests
// that drives the DHCP client's timers.
type clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// tokens is a per-second token bucket.
type tokens struct {
	n    atomic.Int64
	last atomic.Int64
}

func (t *tokens) allow(now time.Time) bool {
	sec := now.Unix()
	if l := t.last.Load(); l != sec && t.last.CompareAndSwap(l, sec) {
		t.n.Store(10)
	}
	return t.n.Add(-1) >= 0
}
