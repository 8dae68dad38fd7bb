package dhcp6

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vswitch/vswitch/dhcp"
	"github.com/vswitch/vswitch/internal/label"
	"github.com/vswitch/vswitch/internal/pkt"
)

// Config is one network's DHCPv6 service.
type Config struct {
	Network string
	Prefix  netip.Prefix // the network's /64 (address6)
	MAC     pkt.MAC      // the gateway's: the server's DUID-LL
	// RangeStart-RangeEnd is the dynamic range; invalid: stateless only.
	RangeStart, RangeEnd netip.Addr
	Lease                time.Duration // valid and preferred lifetime; 0: an hour
	DNS                  []netip.Addr
	Domain               string
	Hosts                []Host
	// MaxLeasesPerMAC bounds the leases and offers one source MAC holds;
	// 0: dhcp.DefaultMaxLeasesPerMAC.
	MaxLeasesPerMAC int
	// Deliver, when set (and the server has a store), makes Handle
	// return at once for a reply that needs its lease on disk: the
	// store goroutine writes it and then calls Deliver, or counts
	// store_failed and sends nothing (as dhcp.Config.Deliver).
	Deliver func(Reply)
}

// Host is a static reservation, by MAC (the frame's source, or the one
// in a DUID-LL or DUID-LLT) or by DUID.
type Host struct {
	MAC  pkt.MAC
	DUID []byte
	IP   netip.Addr
	Name string
}

// Reply is what to send and to whom: UDP from port 547 to the client's
// address and port 546.
type Reply struct {
	Msg    []byte // in the buffer given to Handle, or one Deliver may use only during its call
	DstMAC pkt.MAC
	Dst    netip.Addr
}

// From is who sent a message: the frame's source MAC and IPv6 source,
// and whether it was sent to the gateway's unicast address rather than
// to All_DHCP_Relay_Agents_and_Servers.
type From struct {
	MAC     pkt.MAC
	Src     netip.Addr
	Unicast bool
}

// How long an ADVERTISE holds its address, and a DECLINEd one stays out:
// as long as DHCPv4's.
const (
	offerHold  = dhcp.OfferHold
	quarantine = dhcp.Quarantine
)

// Bounds on memory a guest can make the server hold.
const (
	maxLeases   = 1 << 16 // leases and offers; beyond it: pool_exhausted
	maxDeclined = 256
)

// DropReason says why the server did not serve a message as asked: a
// label of vswitch_dhcp6_drops_total{network,reason}; docs/metrics.md
// lists them.
type DropReason uint8

const (
	DropMalformed     DropReason = iota // short, options past the end, a required option missing or one that must be absent present
	DropNotForUs                        // another server's id, a server or relay message type, unicast where multicast is required
	DropRateLimited                     // the source MAC sent more than its rate
	DropPoolExhausted                   // no address for the IA: answered NoAddrsAvail
	DropMACLeaseLimit                   // the source MAC already holds MaxLeasesPerMAC
	DropNoBinding                       // RENEW, REBIND, RELEASE or DECLINE of an IA the client does not hold
	DropStateless                       // SOLICIT or REQUEST on a network without a range
	DropUseMulticast                    // unicast REQUEST, RENEW, RELEASE or DECLINE: answered UseMulticast
	DropStoreFailed                     // the lease could not be written: no REPLY
	DropStoreBusy                       // maxPending replies already wait for the disk
	NumDrops
)

var dropNames = [NumDrops]string{
	DropMalformed:     "malformed",
	DropNotForUs:      "not_for_us",
	DropRateLimited:   "rate_limited",
	DropPoolExhausted: "pool_exhausted",
	DropMACLeaseLimit: "mac_lease_limit",
	DropNoBinding:     "no_binding",
	DropStateless:     "stateless",
	DropUseMulticast:  "use_multicast",
	DropStoreFailed:   "store_failed",
	DropStoreBusy:     "store_busy",
}

// String is the metric label value.
func (r DropReason) String() string { return label.Of(dropNames[:], r) }

// Message counters by type, received and sent: typeNames are the labels
// (Messages).
const numTypes = pkt.DHCPv6RelayRepl + 1

var typeNames = [numTypes]string{"", "solicit", "advertise", "request", "confirm", "renew", "rebind", "reply",
	"release", "decline", "reconfigure", "information_request", "relay_forw", "relay_repl"}

// lease is one IA_NA's address (or an offer of one).
type lease struct {
	dhcp.Lease        // as stored: ClientID is the DUID in hex, "/", the IAID
	duid       string // raw
	iaid       uint32
	mac        pkt.MAC // the holder: the source MAC of the messages that made it
	offered    bool    // an ADVERTISE not yet requested: held until Expiry, not stored
}

// Server serves one network. Handle is safe for concurrent use.
type Server struct {
	cfg   Config
	store *dhcp.Store
	now   func() time.Time
	duid  [10]byte // DUID-LL: type 3, hardware type 1, the gateway's MAC

	mu       sync.Mutex
	byClient map[string]*lease // by Lease.ClientID
	byIP     map[netip.Addr]*lease
	byMAC    map[pkt.MAC][]*lease // the holder's, for MaxLeasesPerMAC
	static   map[netip.Addr]bool
	declined map[netip.Addr]time.Time // quarantine ends
	rate     dhcp.RateLimiter
	freeFrom netip.Addr // every range address below it is taken
	key      []byte     // scratch for the client key, under mu

	msgs  [numTypes]atomic.Uint64
	drops [NumDrops]atomic.Uint64

	// With Config.Deliver (commit.go); under mu.
	pend     []*commit
	flushing []*commit
	free     []*commit
	commits  int
	queued   bool
}

// NewServer returns a server for cfg, with the leases store holds under
// dhcp.Key6(cfg.Network). A nil store keeps leases in memory only.
func NewServer(cfg Config, store *dhcp.Store) *Server {
	if cfg.Lease <= 0 {
		cfg.Lease = time.Hour
	}
	if cfg.MaxLeasesPerMAC <= 0 {
		cfg.MaxLeasesPerMAC = dhcp.DefaultMaxLeasesPerMAC
	}
	s := &Server{cfg: cfg, store: store, now: time.Now,
		byClient: map[string]*lease{}, byIP: map[netip.Addr]*lease{}, byMAC: map[pkt.MAC][]*lease{},
		static: map[netip.Addr]bool{}, declined: map[netip.Addr]time.Time{},
		rate: dhcp.NewRateLimiter(), freeFrom: cfg.RangeStart, key: make([]byte, 0, 2*pkt.DHCPv6MaxDUIDLen+9)}
	s.duid = [10]byte{0, pkt.DHCPv6DUIDTypeLL, 0, pkt.DHCPv6HardwareEthernet}
	copy(s.duid[4:], cfg.MAC[:])
	for _, h := range cfg.Hosts {
		s.static[h.IP] = true
	}
	if store != nil {
		for _, l := range store.Load(dhcp.Key6(cfg.Network)) {
			if !cfg.Prefix.Contains(l.IP) || s.byIP[l.IP] != nil || s.byClient[l.ClientID] != nil {
				continue // the network changed under the stored lease
			}
			ls := &lease{Lease: l}
			ls.duid, ls.iaid = parseKey(l.ClientID)
			ls.mac, _ = pkt.ParseMAC(l.MAC)
			s.add(ls)
		}
	}
	return s
}

// DUID is the server's DUID, as sent in Server Identifier options.
func (s *Server) DUID() []byte { return s.duid[:] }

// Leases is a snapshot for `show leases`, sorted by address: bound
// leases, not offers.
func (s *Server) Leases() []dhcp.Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stored()
}

// stored is what the store holds: every lease but offers, by address.
// s.mu is held.
func (s *Server) stored() []dhcp.Lease { return dhcp.Listed(s.byIP, held) }

// held is what dhcp.Listed and dhcp.CountBound read of a lease.
func held(l *lease) (*dhcp.Lease, bool) { return &l.Lease, l.offered }

// Active counts unexpired bound leases.
func (s *Server) Active() int {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return dhcp.CountBound(s.byIP, now, held)
}

// Messages returns the message counters by type name.
func (s *Server) Messages() map[string]uint64 { return label.Counts(typeNames[:], s.msgs[:]) }

// Drops returns the drop counters.
func (s *Server) Drops() (d [NumDrops]uint64) {
	label.Load(d[:], s.drops[:])
	return d
}

// Stateful reports whether the server hands out addresses (it has a
// range or reservations): the router advertisement's M flag.
func (s *Server) Stateful() bool { return s.cfg.RangeStart.IsValid() || len(s.cfg.Hosts) > 0 }
