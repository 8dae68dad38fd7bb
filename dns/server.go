package dns

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/ring"
)

// Config is one network's DNS service.
type Config struct {
	Network string
	Gateway netip.Prefix // the server's address and the network's prefix
	// Gateway6 is the server's IPv6 address and the network's /64
	// (address6); invalid: queries come over IPv4 only.
	Gateway6 netip.Prefix
	Domain   string // the local domain (dhcp.domain); "" = bare names only
	// Hosts are the names that always resolve: dns.hosts, then the names
	// of dhcp.hosts. The first entry for a name or address wins.
	Hosts []Host
	// Leases returns the DHCP clients' names now (option 12 of bound
	// leases, each with its lease's end); nil = none. It is called from
	// the server's goroutine at most once a second.
	Leases func() []Host
	// Forwarders get every query that is not local. Empty: the
	// nameservers of ResolvConf, re-read when the file changes.
	Forwarders []netip.AddrPort
	ResolvConf string // "" = /etc/resolv.conf
	// Deliver sends an answer to the guest. It must copy Msg before it
	// returns, and be safe for concurrent use: answers come from the
	// server's goroutine and from the goroutines waiting on upstream.
	Deliver func(Answer)
	// DeliverTCP sends a TCP segment from port 53, under the same rules
	// as Deliver; nil: no DNS over TCP (the gateway resets connections).
	DeliverTCP func(TCPSegment)

	RateLimit    int           // queries (or TCP segments) per second per client; 0 = 100 (bursts of twice that)
	MaxInflight  int           // forwarded queries waiting for upstream; 0 = 256
	CacheEntries int           // 0 = 4096
	CacheBytes   int           // 0 = 4 MiB
	Timeout      time.Duration // for one forwarded query, over all forwarders; 0 = 2s
}

// Host is a local name and its address. A zero Expiry never ends.
type Host struct {
	Name   string
	IP     netip.Addr
	Expiry time.Time
}

// Answer is a DNS message for a guest: UDP from the gateway's port 53.
type Answer struct {
	DstMAC pkt.MAC
	Dst    netip.AddrPort
	Msg    []byte // valid until Deliver returns
}

// Limits of what we take and send.
const (
	maxQueryLen = 1472 // the largest UDP payload of an MTU-1500 frame
	maxJobLen   = 1520 // the largest TCP segment of one: 60 bytes of header, 1460 of data
	maxUDPLen   = 1232 // our EDNS0 buffer size: no IP fragments (DNS flag day 2020)
	numJobs     = 1024 // queries queued or in flight, per network
	localTTL    = 0    // dnsmasq's local-ttl default: guests ask again and see a lease end at once
)

// job is one query or TCP segment, from the gateway's hand-over until the
// server's goroutine has read it. Jobs come from a fixed set: the
// gateway's goroutine takes one from free, the server's goroutine puts it
// back.
type job struct {
	mac pkt.MAC
	src netip.AddrPort
	tcp bool // buf holds a TCP segment, header included
	n   int
	buf [maxJobLen]byte
}

// Server is one network's DNS service. Query is for the gateway's frame
// goroutine; everything else runs on the server's goroutines.
type Server struct {
	cfg     Config
	gw      netip.Addr
	network netip.Addr
	bcast   netip.Addr
	free    *ring.Ring[job]
	q       *ring.Queue[job]
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup

	inflight atomic.Int32
	drops    [NumDrops]atomic.Uint64
	results  [NumResults]atomic.Uint64
	qtypes   [NumQTypes]atomic.Uint64
	latency  histogram
	hosts    atomic.Pointer[localNames]       // SetHosts' names, for the goroutine to take
	fwd      atomic.Pointer[[]netip.AddrPort] // SetForwarders' list, for the goroutine to take

	// The server goroutine's own.
	local   localNames
	packBuf []byte
	limiter *limiter

	cache *cache
	up    upstreams
	tcp   tcpTable
}

// New returns the server for cfg; Start runs it.
func New(cfg Config) *Server {
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = 100
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = 256
	}
	if cfg.CacheEntries <= 0 {
		cfg.CacheEntries = 4096
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = 4 << 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	s := &Server{
		cfg: cfg, gw: cfg.Gateway.Addr(), network: cfg.Gateway.Masked().Addr(), bcast: broadcast(cfg.Gateway),
		free: ring.New[job](numJobs), q: ring.NewQueue[job](numJobs), done: make(chan struct{}),
		local:   newLocalNames(cfg.Domain, cfg.Hosts, cfg.Leases),
		limiter: newLimiter(cfg.RateLimit),
		packBuf: make([]byte, 0, 4096),
		cache:   newCache(cfg.CacheEntries, cfg.CacheBytes),
		up:      upstreams{static: cfg.Forwarders, path: cfg.ResolvConf},
		tcp:     tcpTable{m: map[netip.AddrPort]*tcpConn{}, perClient: map[netip.Addr]int{}},
	}
	for range s.free.Cap() {
		s.free.Put(new(job))
	}
	return s
}

// Start runs the server's goroutine.
func (s *Server) Start() {
	s.wg.Add(2)
	go s.run()
	go s.tcpTimers()
}

// Close stops the server and waits for its goroutines (forwarded queries
// end within Timeout).
func (s *Server) Close() error {
	s.once.Do(func() { close(s.done) })
	s.wg.Wait()
	return nil
}

// Query hands a guest's query over: mac and src are the frame's source,
// msg the UDP payload (copied), now the batch's clock. It never blocks or
// allocates; one goroutine at a time may call it (the gateway's writer).
// The per-client rate limit is checked here, so a flooding guest's excess
// never takes a job another guest's query needs.
func (s *Server) Query(mac pkt.MAC, src netip.AddrPort, msg []byte, now time.Time) {
	s.handOver(mac, src, msg, false, now)
}

// client reports whether a may ask: a guest address of the network, IPv4
// or (with Gateway6) IPv6.
func (s *Server) client(a netip.Addr) bool {
	if g6 := s.cfg.Gateway6; a.Is6() {
		return g6.IsValid() && g6.Contains(a) && a != g6.Addr()
	}
	return s.cfg.Gateway.Contains(a) && a != s.gw && a != s.network && a != s.bcast
}

func (s *Server) handOver(mac pkt.MAC, src netip.AddrPort, msg []byte, tcp bool, now time.Time) {
	a := src.Addr()
	if !s.client(a) || src.Port() == 0 {
		s.drop(DropOutsidePrefix)
		return
	}
	if len(msg) < 12 || len(msg) > maxQueryLen && !tcp || len(msg) > maxJobLen {
		s.drop(DropMalformed)
		return
	}
	if !s.limiter.allow(a, now.UnixNano()) {
		s.drop(DropRateLimited)
		return
	}
	var one [1]*job
	if s.free.Take(one[:]) == 0 {
		s.drop(DropQueueFull)
		return
	}
	j := one[0]
	j.mac, j.src, j.tcp, j.n = mac, src, tcp, copy(j.buf[:], msg)
	if !s.q.Put(j) { // cannot happen: the queue holds every job
		s.free.Put(j)
		s.drop(DropQueueFull)
	}
}

// Dropped counts a query the caller dropped before handing it over.
func (s *Server) Dropped(r DropReason) { s.drop(r) }

func (s *Server) drop(r DropReason) {
	s.drops[r].Add(1)
	s.results[ResultDropped].Add(1)
}

func (s *Server) run() {
	defer s.wg.Done()
	var batch [32]*job
	for {
		n := s.q.Wait(batch[:], s.done)
		if n == 0 {
			return
		}
		now := time.Now()
		for _, j := range batch[:n] {
			s.serve(j, now)
			s.free.Put(j)
		}
	}
}

// client is where an answer goes: a UDP source, or a TCP connection.
type client struct {
	mac  pkt.MAC
	src  netip.AddrPort
	conn *tcpConn // nil: UDP
}

// serve handles j: a UDP query, or a TCP segment.
func (s *Server) serve(j *job, now time.Time) {
	if j.tcp {
		s.tcp.segment(s, j, now)
		return
	}
	s.resolve(client{mac: j.mac, src: j.src}, j.buf[:j.n], now)
}

// resolve answers a query, or starts forwarding it.
func (s *Server) resolve(c client, msg []byte, now time.Time) {
	m := new(mdns.Msg)
	if err := m.Unpack(msg); err != nil || len(m.Question) != 1 {
		s.drop(DropMalformed)
		return
	}
	if m.Response {
		s.drop(DropNotQuery)
		return
	}
	q := m.Question[0]
	s.qtypes[qtypeOf(q.Qtype)].Add(1)
	switch {
	case m.Opcode != mdns.OpcodeQuery:
		s.reply(c, m, mdns.RcodeNotImplemented, nil, false, ResultRefused)
		return
	case q.Qclass != mdns.ClassINET:
		s.reply(c, m, mdns.RcodeRefused, nil, false, ResultRefused)
		return
	}
	s.takeHosts()
	if rcode, rrs, ok := s.local.answer(q, s.cfg.Gateway, now); ok {
		s.reply(c, m, rcode, rrs, true, ResultLocal)
		return
	}
	key := cacheKey(m)
	if out, ok := s.cache.answer(key, m, now, s.packBuf, c.limit(m)); ok {
		s.deliver(c, out, ResultCached)
		return
	}
	s.takeForwarders()
	fw := s.up.servers(now)
	if len(fw) == 0 {
		s.reply(c, m, mdns.RcodeRefused, nil, false, ResultRefused)
		return
	}
	if int(s.inflight.Add(1)) > s.cfg.MaxInflight {
		s.inflight.Add(-1)
		s.drop(DropInflightFull)
		return
	}
	s.wg.Add(1)
	go s.forward(c, m, key, fw)
}

// reply answers m with rcode and rrs, with an OPT record if m had one.
func (s *Server) reply(c client, m *mdns.Msg, rcode int, rrs []mdns.RR, auth bool, res Result) {
	r := new(mdns.Msg)
	r.SetRcode(m, rcode)
	r.Authoritative, r.RecursionAvailable = auth, true
	r.Answer = rrs
	if opt := m.IsEdns0(); opt != nil {
		r.SetEdns0(maxUDPLen, opt.Do())
	}
	out, err := r.PackBuffer(s.packBuf)
	if err != nil {
		s.drop(DropMalformed) // a name we cannot encode back
		return
	}
	s.deliver(c, out, res)
}

// deliver sends an answer; safe from any of the server's goroutines.
func (s *Server) deliver(c client, msg []byte, res Result) {
	s.results[res].Add(1)
	if c.conn != nil {
		s.tcp.answer(s, c.conn, msg)
		return
	}
	s.cfg.Deliver(Answer{DstMAC: c.mac, Dst: c.src, Msg: msg})
}

// limit is the largest answer c takes: over TCP, any.
func (c client) limit(m *mdns.Msg) int {
	if c.conn != nil {
		return mdns.MaxMsgSize
	}
	return clientMax(m)
}

// clientMax is the largest UDP answer m's sender takes (RFC 6891 6.2.5).
func clientMax(m *mdns.Msg) int {
	if opt := m.IsEdns0(); opt != nil {
		return max(512, min(int(opt.UDPSize()), maxUDPLen))
	}
	return 512
}

// fit truncates an answer too large for the client (setting TC, so it asks
// again over TCP).
func fit(out []byte, limit int, buf []byte) ([]byte, bool) {
	if len(out) <= limit {
		return out, true
	}
	r := new(mdns.Msg)
	if r.Unpack(out) != nil {
		return nil, false
	}
	r.Truncate(limit)
	b, err := r.PackBuffer(buf)
	return b, err == nil
}

func qtypeOf(t uint16) QType {
	switch t {
	case mdns.TypeA:
		return QTypeA
	case mdns.TypeAAAA:
		return QTypeAAAA
	case mdns.TypePTR:
		return QTypePTR
	case mdns.TypeMX:
		return QTypeMX
	case mdns.TypeTXT:
		return QTypeTXT
	case mdns.TypeSRV:
		return QTypeSRV
	case mdns.TypeCNAME:
		return QTypeCNAME
	case mdns.TypeNS:
		return QTypeNS
	case mdns.TypeSOA:
		return QTypeSOA
	case mdns.TypeANY:
		return QTypeANY
	case mdns.TypeHTTPS:
		return QTypeHTTPS
	}
	return QTypeOther
}

// broadcast is the last address of p's network.
func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	binary.BigEndian.PutUint32(a[:], binary.BigEndian.Uint32(a[:])|(1<<(32-p.Bits())-1))
	return netip.AddrFrom4(a)
}
