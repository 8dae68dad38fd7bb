package dhcp

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitch/vswitch/internal/label"
	"github.com/vswitch/vswitch/internal/pkt"
)

// Config is one network's DHCP service.
type Config struct {
	Network    string
	Gateway    netip.Prefix // the server's address and the network's prefix
	RangeStart netip.Addr
	RangeEnd   netip.Addr
	Lease      time.Duration
	DNS        []netip.Addr
	Domain     string
	Hosts      []Host
	Router     bool // send option 3 (nat and routed networks; libvirt leaves it out on isolated ones)
	MTU        int  // option 26; 0 = not sent

	// MaxLeasesPerMAC bounds what one MAC holds at once: its unexpired
	// offers and leases, and the addresses it declined that are still
	// quarantined. 0 means DefaultMaxLeasesPerMAC.
	MaxLeasesPerMAC int

	// Deliver, when set (and the server has a store), makes Handle
	// return at once for a REQUEST whose ACK needs its lease on disk:
	// the store goroutine writes the lease and then calls Deliver with
	// the ACK, or counts store_failed and sends nothing. See Handle.
	Deliver func(Reply)
}

// Host is a static reservation.
type Host struct {
	MAC  pkt.MAC
	IP   netip.Addr
	Name string
}

// How long an OFFER holds its address, and a DECLINEd address stays out;
// dhcp6 holds an ADVERTISE and a DECLINE as long.
const (
	OfferHold  = 60 * time.Second
	Quarantine = 10 * time.Minute
)

// DefaultMaxLeasesPerMAC is enough for a firmware and an OS that use
// different client ids, plus two declines, on one NIC.
const DefaultMaxLeasesPerMAC = 4

// maxDeclined bounds the quarantine; when it is full, the address whose
// quarantine ends first is let go early.
const maxDeclined = 256

// Message counters: received types by their option 53 value, sent ones too.
const numTypes = 9

// DropReason says why the server ignored a message: a label value of
// vswitch_dhcp_drops_total{reason}; docs/metrics.md lists them.
type DropReason uint8

const (
	DropMalformed     DropReason = iota // short, bad cookie, bad option lengths
	DropNotRequest                      // op is not BOOTREQUEST, or not Ethernet
	DropNoType                          // no option 53, or a type a server never receives
	DropPoolExhausted                   // no address to offer
	DropNotOurs                         // REQUEST or DECLINE for another server
	DropStoreFailed                     // the lease could not be written: no ACK
	DropStoreBusy                       // maxPending REQUESTs already wait for the disk: no ACK
	DropRateLimited                     // the source MAC sent more than its rate
	DropMACLeaseLimit                   // the source MAC already holds MaxLeasesPerMAC
	DropNotHolder                       // RELEASE or DECLINE of a lease the sender does not hold
	DropDeclineRange                    // DECLINE of an address outside the dynamic range
	DropGIAddrForeign                   // a relayed message whose giaddr is not a guest address of the network
	NumDrops
	dropNone = NumDrops // parse: the message is served
)

var dropNames = [NumDrops]string{
	DropMalformed:     "malformed",
	DropNotRequest:    "not_request",
	DropNoType:        "no_type",
	DropPoolExhausted: "pool_exhausted",
	DropNotOurs:       "other_server",
	DropStoreFailed:   "store_failed",
	DropStoreBusy:     "store_busy",
	DropRateLimited:   "rate_limited",
	DropMACLeaseLimit: "mac_lease_limit",
	DropNotHolder:     "not_holder",
	DropDeclineRange:  "decline_out_of_range",
	DropGIAddrForeign: "giaddr_foreign",
}

// String is the metric label value.
func (r DropReason) String() string { return label.Of(dropNames[:], r) }

// typeNames are the label values of the message counters (Messages).
var typeNames = [numTypes]string{"", "discover", "offer", "request", "decline", "ack", "nak", "release", "inform"}

// Server serves one network. Handle is safe for concurrent use.
type Server struct {
	cfg   Config
	store *Store
	now   func() time.Time

	mu       sync.Mutex
	byClient map[string]*lease
	byIP     map[netip.Addr]*lease
	static   map[pkt.MAC]Host
	staticIP map[netip.Addr]bool
	declined map[netip.Addr]decline // at most maxDeclined
	rate     *rateLimiter
	idBuf    [idBufLen]byte // parse's client key, under mu

	// Hints that keep a message's cost from growing with the leases held
	// (pool.go): every range address below freeFrom is taken (in byIP,
	// static or not a guest's), and no offer lapses and no
	// quarantine ends before nextExpiry.
	freeFrom   netip.Addr
	nextExpiry time.Time

	msgs  [numTypes]atomic.Uint64
	drops [NumDrops]atomic.Uint64

	// With Config.Deliver (commit.go); under mu.
	pend     []*commit // REQUESTs for the next write, in arrival order
	flushing []*commit // REQUESTs of the write under way
	free     []*commit
	commits  int  // allocated, at most maxPending
	queued   bool // on the store's list for the next write
}

type lease struct {
	leaseState
	// With Config.Deliver only.
	seq     uint64     // bumped by each change of a REQUEST or RELEASE
	pending int        // REQUESTs of this lease waiting for the disk
	undo    leaseState // as on disk before the oldest of them: what a failed write puts back
	snap    leaseState // as in the write under way
}

// leaseState is a lease as the pool sees it.
type leaseState struct {
	Lease
	// mac is the holder: the source MAC of the messages that made the
	// lease (the client, or the relay that forwarded them), the only one
	// who may RELEASE or DECLINE it, and whose MaxLeasesPerMAC it counts
	// against. hw is the client's chaddr, as Lease.MAC shows it.
	mac     pkt.MAC
	hw      pkt.MAC
	offered bool // an OFFER not yet requested: held until Expiry, not stored
}

// decline is a quarantined address and who declined it: until it ends,
// it counts against that MAC's MaxLeasesPerMAC, so declining one address
// after another cannot empty the pool.
type decline struct {
	until time.Time
	by    pkt.MAC
}

// NewServer returns a server for cfg, with the leases store holds.
func NewServer(cfg Config, store *Store) *Server {
	if cfg.Lease <= 0 {
		cfg.Lease = time.Hour
	}
	if cfg.MaxLeasesPerMAC <= 0 {
		cfg.MaxLeasesPerMAC = DefaultMaxLeasesPerMAC
	}
	s := &Server{
		cfg: cfg, store: store, now: time.Now,
		byClient: map[string]*lease{}, byIP: map[netip.Addr]*lease{},
		declined: map[netip.Addr]decline{}, rate: newRateLimiter(),
		freeFrom: cfg.RangeStart,
	}
	s.setHosts(cfg.Hosts)
	if store != nil {
		for _, l := range store.Load(cfg.Network) {
			if !s.guest(l.IP) {
				continue // the network changed under the stored lease
			}
			ls := &lease{leaseState: leaseState{Lease: l}}
			// Unparsable: no MAC holds it, nobody may release it. A
			// relayed lease comes back held by its client's chaddr.
			ls.mac, _ = pkt.ParseMAC(l.MAC)
			ls.hw = ls.mac
			s.byClient[l.ClientID] = ls
			s.byIP[l.IP] = ls
		}
	}
	return s
}

// Leases is a snapshot for `show leases`, sorted by address.
func (s *Server) Leases() []Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Listed(s.byClient, held)
}

// Active counts unexpired bound leases.
func (s *Server) Active() int {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return CountBound(s.byClient, now, held)
}

// Messages returns the message counters by type name.
func (s *Server) Messages() map[string]uint64 { return label.Counts(typeNames[:], s.msgs[:]) }

// Drops returns the drop counters.
func (s *Server) Drops() (d [NumDrops]uint64) {
	label.Load(d[:], s.drops[:])
	return d
}

// Reply is where and what to answer.
type Reply struct {
	Msg       []byte // the DHCP message: in the buffer given to Handle, or one Deliver may use only during its call
	DstMAC    pkt.MAC
	DstIP     netip.Addr
	Broadcast bool // to ff:ff:ff:ff:ff:ff and 255.255.255.255
	// ToRelay: to the relay agent at DstIP (the request's giaddr) and
	// DstMAC (the frame's source), on the server port 67 (RFC 2131 4.1),
	// not the client port 68.
	ToRelay bool
}

// From is who sent a message, as the gateway saw the frame.
type From struct {
	// MAC is the frame's Ethernet source: the client itself, or the
	// relay agent that forwarded the message. Rate limits, the per-MAC
	// lease limit and the right to RELEASE or DECLINE key on it.
	MAC pkt.MAC
	// Trusted: the frame came in on a trusted relay port (dhcp_relay),
	// which answers for its clients: no rate limit, no per-MAC limit.
	Trusted bool
}

// Handle answers a message from a client on the link, whose chaddr is
// the frame's source; see HandleFrom.
func (s *Server) Handle(m pkt.DHCP, buf []byte) (rep Reply, ok bool) {
	if !m.Valid() {
		s.drops[DropMalformed].Add(1)
		return rep, false
	}
	return s.HandleFrom(m, From{MAC: m.CHAddr()}, buf)
}

// HandleFrom answers one message; buf receives the reply (at least 576 bytes).
// ok is false when the message gets no answer now: a drop (counted), a
// RELEASE or DECLINE, or, with Config.Deliver, an ACK that leaves later.
//
// Without Config.Deliver, a REQUEST, RELEASE or DECLINE writes the lease
// store on the caller's goroutine and an ACK is returned once it is on
// disk. With it, Handle never waits for the disk: the change is made in
// memory and queued for the store goroutine, and the ACK goes to Deliver,
// from that goroutine, after the write holding the lease is synced. ACKs
// of one server are delivered in the order of their REQUESTs; no other
// reply waits. When the write fails no ACK is sent and the lease is
// what it was on disk; when maxPending REQUESTs already wait, a REQUEST
// is dropped unchanged (store_busy). Deliver's rep.Msg is the server's
// buffer, valid only during the call; Deliver may call Handle but should
// not block: every network's writes wait for it.
//
// The rules against a guest draining the pool key on from.MAC, the
// frame's source: the gateway drops DHCP whose chaddr is not the frame's
// source (chaddr_spoofed) before it gets here, unless the message is
// relayed (giaddr set) or comes from a trusted relay port. A source MAC
// is rate-limited; it holds at most MaxLeasesPerMAC; only the MAC
// holding a lease may RELEASE or DECLINE it; from.Trusted lifts the
// first two. A relayed message (RFC 2131 4.1) is served when its giaddr
// is a guest address of this network (the relay sits on it), and
// answered to the relay (Reply.ToRelay) with its option 82 echoed
// unchanged (RFC 3046 2.2). From an ordinary port, a message whose
// chaddr is not its source may not touch a live lease another source
// holds (not_holder).
func (s *Server) HandleFrom(m pkt.DHCP, from From, buf []byte) (rep Reply, ok bool) {
	if !m.Valid() {
		s.drops[DropMalformed].Add(1)
		return rep, false
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	// Before parsing: a flood costs a lookup, not a client id string.
	if !from.Trusted && !s.rate.allow(from.MAC, now.UnixNano()) {
		s.drops[DropRateLimited].Add(1)
		return rep, false
	}
	r, drop := parse(m, s.idBuf[:])
	if drop != dropNone {
		s.drops[drop].Add(1)
		return rep, false
	}
	if gi := m.GIAddr(); !gi.IsUnspecified() && !s.guest(gi) {
		// A relay on another subnet wants that subnet's addresses; the
		// answer could not reach it through this link either.
		s.drops[DropGIAddrForeign].Add(1)
		return rep, false
	}
	r.src, r.trusted = from.MAC, from.Trusted
	if !r.trusted && r.src != r.mac {
		// A relay on an ordinary port is a guest that may name any
		// chaddr: it must not take over (and then RELEASE) the live lease
		// of a client it did not make, as a neighbour's "mac:" key would
		// let it.
		if cur := s.byClient[string(r.id)]; cur != nil && cur.mac != r.src && cur.live(now) {
			s.drops[DropNotHolder].Add(1)
			return rep, false
		}
	}
	if l, ok := s.byClient[string(r.id)]; ok {
		r.clientID = l.ClientID // no new string for a known client
	} else {
		r.clientID = string(r.id)
	}
	s.msgs[r.typ].Add(1)
	s.expire(now)
	var typ uint8
	var ip netip.Addr
	var l *lease
	var c *commit
	switch r.typ {
	case pkt.DHCPDiscover:
		if s.full(r, now) {
			s.drops[DropMACLeaseLimit].Add(1)
			return rep, false
		}
		if ip = s.pick(r, now); !ip.IsValid() {
			s.drops[DropPoolExhausted].Add(1)
			return rep, false
		}
		l = s.hold(r, ip, now)
		typ = pkt.DHCPOffer
	case pkt.DHCPRequest:
		typ, l, c = s.request(m, r, now)
		if typ == 0 {
			return rep, false
		}
		if l != nil {
			ip = l.IP
		}
	case pkt.DHCPDecline:
		if d := s.decline(r, now); d != dropNone {
			s.drops[d].Add(1)
		}
		return rep, false
	case pkt.DHCPRelease:
		cur, ok := s.byClient[r.clientID]
		if !ok || cur.IP != m.CIAddr() || cur.offered || cur.mac != r.src {
			s.drops[DropNotHolder].Add(1)
			return rep, false
		}
		cur.State, cur.Expiry = "released", now
		cur.seq++
		s.changed()
		return rep, false
	case pkt.DHCPInform:
		typ = pkt.DHCPAck
	}
	if c != nil {
		// Built now, as it would be sent now (no larger than buf), and
		// held until the lease is on disk.
		n := s.build(c.buf[:min(len(buf), len(c.buf))], m, r, typ, ip, l)
		c.rep = addressee(m, r, typ, ip)
		c.rep.Msg = c.buf[:n]
		s.pend = append(s.pend, c)
		return rep, false
	}
	n := s.build(buf, m, r, typ, ip, l)
	s.msgs[typ].Add(1)
	rep = addressee(m, r, typ, ip)
	rep.Msg = buf[:n]
	return rep, true
}

// request handles the four REQUEST cases of RFC 2131 4.3.2. An ACK comes
// with a commit when it must wait for the store goroutine.
func (s *Server) request(m pkt.DHCP, r request, now time.Time) (uint8, *lease, *commit) {
	cur := s.byClient[r.clientID]
	ci := m.CIAddr()
	if r.serverID.IsValid() && r.serverID != s.cfg.Gateway.Addr() {
		if cur != nil && cur.offered {
			s.drop(cur) // the client took another server's offer
		}
		s.drops[DropNotOurs].Add(1)
		return 0, nil, nil
	}
	// Whichever flavour, an ACK leaves this client's lease with r.mac:
	// INIT-REBOOTs with a fresh client id each must not bind the pool.
	if s.full(r, now) {
		s.drops[DropMACLeaseLimit].Add(1)
		return 0, nil, nil
	}
	switch {
	case r.serverID.IsValid(): // SELECTING: answering an OFFER
		if cur == nil || cur.IP != r.reqIP {
			return pkt.DHCPNak, nil, nil
		}
	case ci.IsValid() && !ci.IsUnspecified(): // RENEWING / REBINDING
		if cur == nil || cur.IP != ci || cur.offered {
			return pkt.DHCPNak, nil, nil
		}
	default: // INIT-REBOOT: the client asks for the address it remembers
		if !r.reqIP.IsValid() {
			return pkt.DHCPNak, nil, nil
		}
		if cur == nil || cur.IP != r.reqIP {
			if !s.assignable(r, r.reqIP, now) {
				return pkt.DHCPNak, nil, nil
			}
			cur = s.hold(r, r.reqIP, now)
		}
	}
	// A reservation ties a MAC and an address both ways, whatever client
	// id the lease was made under.
	// A dynamic lease the range no longer holds (a reload or restart
	// moved it) is refused too: its client asks again, as of dnsmasq.
	if h, ok := s.static[r.mac]; ok && h.IP != cur.IP || !ok && (s.staticIP[cur.IP] || !s.inRange(cur.IP)) {
		return pkt.DHCPNak, nil, nil
	}
	var c *commit
	if s.async() {
		if c = s.newCommit(); c == nil {
			s.drops[DropStoreBusy].Add(1)
			return 0, nil, nil
		}
		if !s.schedule() { // the store is closed
			s.free = append(s.free, c)
			s.drops[DropStoreFailed].Add(1)
			return 0, nil, nil
		}
	}
	prev := *cur
	cur.offered = false
	cur.State = "bound"
	cur.Expiry = now.Add(s.cfg.Lease)
	cur.setMAC(r.src, r.mac)
	if r.hostname != nil && string(r.hostname) != cur.Hostname {
		cur.Hostname = string(r.hostname)
	}
	if h, ok := s.static[r.mac]; ok && h.Name != "" {
		cur.Hostname, cur.Static = h.Name, true
	}
	if c != nil {
		if cur.pending == 0 {
			cur.undo = prev.leaseState
		}
		cur.seq++
		cur.pending++
		c.l, c.seq = cur, cur.seq
		return pkt.DHCPAck, cur, c
	}
	// Durable before acknowledged: without the write, no ACK.
	if err := s.save(); err != nil {
		*cur = prev // not acknowledged, so not bound either
		s.drops[DropStoreFailed].Add(1)
		return 0, nil, nil
	}
	return pkt.DHCPAck, cur, nil
}

// async reports whether durable writes go to the store goroutine.
func (s *Server) async() bool { return s.cfg.Deliver != nil && s.store != nil }

// changed has the leases written after a RELEASE or DECLINE: now, or by
// the store goroutine. A failed write is not retried: the next change
// writes them all.
func (s *Server) changed() {
	if s.async() {
		s.schedule()
		return
	}
	s.save()
}

// save writes the bound and released leases.
func (s *Server) save() error {
	if s.store == nil {
		return nil
	}
	return s.store.Save(s.cfg.Network, s.stored())
}

// stored is what the store keeps of this server: bound and released leases.
func (s *Server) stored() []Lease { return Stored(s.byClient, held) }

// held is what Stored, Listed and CountBound read of a lease.
func held(l *lease) (*Lease, bool) { return &l.Lease, l.offered }
