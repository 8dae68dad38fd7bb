package dhcp

import (
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

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

// How long an OFFER holds its address, and a DECLINEd address stays out.
const (
	offerHold  = 60 * time.Second
	quarantine = 10 * time.Minute
)

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
	DropNotOurs                         // REQUEST for another server
	DropStoreFailed                     // the lease could not be written: no ACK
	DropStoreBusy                       // maxPending REQUESTs already wait for the disk: no ACK
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
}

// String is the metric label value.
func (r DropReason) String() string {
	if r < NumDrops {
		return dropNames[r]
	}
	return "unknown"
}

// TypeNames are the label values of the message counters.
var TypeNames = [numTypes]string{"", "discover", "offer", "request", "decline", "ack", "nak", "release", "inform"}

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
	declined map[netip.Addr]time.Time

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
	offered bool // an OFFER not yet requested: held until Expiry, not stored
}

// NewServer returns a server for cfg, with the leases store holds.
func NewServer(cfg Config, store *Store) *Server {
	if cfg.Lease <= 0 {
		cfg.Lease = time.Hour
	}
	s := &Server{
		cfg: cfg, store: store, now: time.Now,
		byClient: map[string]*lease{}, byIP: map[netip.Addr]*lease{},
		static: map[pkt.MAC]Host{}, staticIP: map[netip.Addr]bool{},
		declined: map[netip.Addr]time.Time{},
	}
	for _, h := range cfg.Hosts {
		if !s.guest(h.IP) {
			continue // a reservation on the gateway, network or broadcast address
		}
		s.static[h.MAC] = h
		s.staticIP[h.IP] = true
	}
	if store != nil {
		for _, l := range store.Load(cfg.Network) {
			if !s.guest(l.IP) {
				continue // the network changed under the stored lease
			}
			ls := &lease{leaseState: leaseState{Lease: l}}
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
	var out []Lease
	for _, l := range s.byClient {
		if !l.offered {
			out = append(out, l.Lease)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IP.Less(out[j].IP) })
	return out
}

// Active counts unexpired bound leases.
func (s *Server) Active() int {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.byClient {
		if !l.offered && l.State == "bound" && l.Expiry.After(now) {
			n++
		}
	}
	return n
}

// Messages returns the message counters by type name.
func (s *Server) Messages() map[string]uint64 {
	m := map[string]uint64{}
	for i := 1; i < numTypes; i++ {
		m[TypeNames[i]] = s.msgs[i].Load()
	}
	return m
}

// Drops returns the drop counters.
func (s *Server) Drops() [NumDrops]uint64 {
	var d [NumDrops]uint64
	for i := range d {
		d[i] = s.drops[i].Load()
	}
	return d
}

// Reply is where and what to answer.
type Reply struct {
	Msg       []byte // the DHCP message: in the buffer given to Handle, or one Deliver may use only during its call
	DstMAC    pkt.MAC
	DstIP     netip.Addr
	Broadcast bool // to ff:ff:ff:ff:ff:ff and 255.255.255.255
}

// request is what Handle extracts from a message.
type request struct {
	typ       uint8
	clientID  string
	mac       pkt.MAC
	reqIP     netip.Addr
	serverID  netip.Addr
	hostname  string
	params    []byte
	hasParams bool
	maxSize   int // option 57, 0 if absent
}

func parse(m pkt.DHCP) (request, DropReason) {
	var r request
	if !m.Valid() {
		return r, DropMalformed
	}
	if m.Op() != pkt.BOOTRequest || m.HType() != 1 || m.HLen() != 6 {
		return r, DropNotRequest
	}
	r.mac = m.CHAddr()
	o := m.ParseOptions()
	if o.Malformed {
		return r, DropMalformed
	}
	r.typ, r.reqIP, r.serverID, r.maxSize = o.Type, o.RequestedIP, o.ServerID, o.MaxSize
	r.hostname = sanitizeHostname(o.Hostname)
	r.params, r.hasParams = o.ParamRequest, o.HasParams
	if o.ClientID != nil {
		r.clientID = hex.EncodeToString(o.ClientID)
	} else {
		r.clientID = "mac:" + r.mac.String()
	}
	switch r.typ {
	case pkt.DHCPDiscover, pkt.DHCPRequest, pkt.DHCPDecline, pkt.DHCPRelease, pkt.DHCPInform:
		return r, dropNone
	}
	return r, DropNoType
}

// sanitizeHostname keeps a client's name only if it is a plain DNS label.
func sanitizeHostname(b []byte) string {
	if len(b) == 0 || len(b) > 63 {
		return ""
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return ""
		}
	}
	return string(b)
}

// Handle answers one message; buf receives the reply (at least 576 bytes).
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
func (s *Server) Handle(m pkt.DHCP, buf []byte) (rep Reply, ok bool) {
	r, drop := parse(m)
	if drop != dropNone {
		s.drops[drop].Add(1)
		return rep, false
	}
	s.msgs[r.typ].Add(1)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now)
	var typ uint8
	var ip netip.Addr
	var l *lease
	var c *commit
	switch r.typ {
	case pkt.DHCPDiscover:
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
		if r.serverID == s.cfg.Gateway.Addr() && r.reqIP.IsValid() {
			if cur, ok := s.byClient[r.clientID]; ok && cur.IP == r.reqIP {
				s.drop(cur)
			}
			s.declined[r.reqIP] = now.Add(quarantine)
			s.changed()
		}
		return rep, false
	case pkt.DHCPRelease:
		if cur, ok := s.byClient[r.clientID]; ok && cur.IP == m.CIAddr() && !cur.offered {
			cur.State, cur.Expiry = "released", now
			cur.seq++
			s.changed()
		}
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

// addressee says where a reply of type typ to m goes. RFC 2131 4.1: NAKs
// and broadcast-flagged requests are broadcast; renewals (ciaddr set) are
// unicast to ciaddr; the rest unicast to the new address at chaddr (we
// are on the link, so no ARP is needed).
func addressee(m pkt.DHCP, r request, typ uint8, ip netip.Addr) (rep Reply) {
	ci := m.CIAddr()
	switch {
	case typ == pkt.DHCPNak || m.Flags()&pkt.DHCPFlagBroadcast != 0:
		rep.Broadcast = true
	case ci.IsValid() && !ci.IsUnspecified():
		rep.DstMAC, rep.DstIP = r.mac, ci
	case ip.IsValid():
		rep.DstMAC, rep.DstIP = r.mac, ip
	default:
		rep.Broadcast = true
	}
	return rep
}

// request handles the four REQUEST cases of RFC 2131 4.3.2. An ACK comes
// with a commit when it must wait for the store goroutine.
func (s *Server) request(m pkt.DHCP, r request, now time.Time) (uint8, *lease, *commit) {
	cur := s.byClient[r.clientID]
	ci := m.CIAddr()
	switch {
	case r.serverID.IsValid(): // SELECTING: answering an OFFER
		if r.serverID != s.cfg.Gateway.Addr() {
			if cur != nil && cur.offered {
				s.drop(cur) // the client took another server's offer
			}
			s.drops[DropNotOurs].Add(1)
			return 0, nil, nil
		}
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
	if h, ok := s.static[r.mac]; ok && h.IP != cur.IP || !ok && s.staticIP[cur.IP] {
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
	cur.MAC = r.mac.String()
	if r.hostname != "" {
		cur.Hostname = r.hostname
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

// pick chooses the address to offer.
func (s *Server) pick(r request, now time.Time) netip.Addr {
	if h, ok := s.static[r.mac]; ok {
		return h.IP // a reservation always wins
	}
	if cur, ok := s.byClient[r.clientID]; ok && s.assignable(r, cur.IP, now) {
		return cur.IP // sticky
	}
	if r.reqIP.IsValid() && s.inRange(r.reqIP) && s.assignable(r, r.reqIP, now) {
		return r.reqIP
	}
	// A never-used address first, so expired leases stay with their
	// clients as long as possible.
	var oldest *lease
	for a := s.cfg.RangeStart; a.IsValid() && !s.cfg.RangeEnd.Less(a); a = a.Next() {
		if s.staticIP[a] || !s.guest(a) || s.quarantined(a, now) {
			continue
		}
		l, used := s.byIP[a]
		if !used {
			return a
		}
		if !l.offered && (l.Expiry.Before(now) || l.State == "released") && (oldest == nil || l.Expiry.Before(oldest.Expiry)) {
			oldest = l
		}
	}
	if oldest != nil {
		ip := oldest.IP
		s.drop(oldest)
		return ip
	}
	return netip.Addr{}
}

func (s *Server) inRange(a netip.Addr) bool {
	return s.cfg.RangeStart.IsValid() && !a.Less(s.cfg.RangeStart) && !s.cfg.RangeEnd.Less(a)
}

// guest reports whether a may be a guest's address: inside the prefix,
// neither the gateway nor, below /31 (RFC 3021), the network or broadcast
// address.
func (s *Server) guest(a netip.Addr) bool {
	p := s.cfg.Gateway.Masked()
	if !p.Contains(a) || a == s.cfg.Gateway.Addr() {
		return false
	}
	return p.Bits() >= 31 || a != p.Addr() && a != broadcast(p)
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	v := binary.BigEndian.Uint32(b[:]) | ^(^uint32(0) << (32 - p.Bits()))
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

func (s *Server) quarantined(a netip.Addr, now time.Time) bool {
	t, ok := s.declined[a]
	return ok && t.After(now)
}

// assignable reports whether a may go to the client of r.
func (s *Server) assignable(r request, a netip.Addr, now time.Time) bool {
	if !s.guest(a) || s.quarantined(a, now) {
		return false
	}
	if h, ok := s.static[r.mac]; ok {
		return h.IP == a
	}
	if s.staticIP[a] {
		return false
	}
	if !s.inRange(a) {
		return false
	}
	l, used := s.byIP[a]
	if !used || l.ClientID == r.clientID {
		return true
	}
	return !l.offered && (l.Expiry.Before(now) || l.State == "released")
}

// hold records that a is the client's (an offer until a REQUEST binds it).
func (s *Server) hold(r request, a netip.Addr, now time.Time) *lease {
	if cur, ok := s.byClient[r.clientID]; ok && cur.IP != a {
		s.drop(cur)
	}
	if other, ok := s.byIP[a]; ok && other.ClientID != r.clientID {
		s.drop(other)
	}
	l, ok := s.byClient[r.clientID]
	if !ok {
		l = &lease{leaseState: leaseState{Lease: Lease{Network: s.cfg.Network, ClientID: r.clientID, MAC: r.mac.String(), IP: a}}}
		s.byClient[r.clientID] = l
		s.byIP[a] = l
	}
	if l.State != "bound" || l.Expiry.Before(now) {
		l.offered = true
		l.Expiry = now.Add(offerHold)
	}
	return l
}

func (s *Server) drop(l *lease) {
	delete(s.byClient, l.ClientID)
	if s.byIP[l.IP] == l {
		delete(s.byIP, l.IP)
	}
}

// expire forgets offers that were never taken and ended quarantines.
func (s *Server) expire(now time.Time) {
	for _, l := range s.byClient {
		if l.offered && l.Expiry.Before(now) {
			s.drop(l)
		}
	}
	for a, t := range s.declined {
		if t.Before(now) {
			delete(s.declined, a)
		}
	}
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
func (s *Server) stored() []Lease {
	var out []Lease
	for _, l := range s.byClient {
		if !l.offered {
			out = append(out, l.Lease)
		}
	}
	return out
}

// build writes the reply message into buf and returns its length.
func (s *Server) build(buf []byte, m pkt.DHCP, r request, typ uint8, ip netip.Addr, l *lease) int {
	clear(buf[:pkt.DHCPOptionsOff])
	buf[0], buf[1], buf[2] = pkt.BOOTReply, 1, 6
	copy(buf[4:8], m[4:8])     // xid
	copy(buf[10:12], m[10:12]) // flags
	copy(buf[12:16], m[12:16]) // ciaddr
	if typ != pkt.DHCPNak && ip.IsValid() && r.typ != pkt.DHCPInform {
		a := ip.As4()
		copy(buf[16:20], a[:]) // yiaddr
	}
	copy(buf[24:28], m[24:28]) // giaddr
	copy(buf[28:44], m[28:44]) // chaddr
	binary.BigEndian.PutUint32(buf[236:], pkt.DHCPCookie)
	// No larger than the client takes (RFC 2131 2: a 576-byte datagram,
	// more if its option 57 says so, which counts the IP and UDP headers):
	// options that do not fit are left out.
	limit := min(len(buf), max(576, r.maxSize)-28)
	w := pkt.DHCPOptionWriter{B: buf[:limit], N: pkt.DHCPOptionsOff}
	w.Add(pkt.OptMessageType, typ)
	w.AddAddr(pkt.OptServerID, s.cfg.Gateway.Addr())
	if typ == pkt.DHCPNak {
		w.Add(pkt.OptMessage, []byte("address not available")...)
		w.End()
		return pad(buf, w.N)
	}
	if r.typ != pkt.DHCPInform {
		secs := uint32(s.cfg.Lease / time.Second)
		w.AddUint32(pkt.OptLeaseTime, secs)
		w.AddUint32(pkt.OptRenewalT1, secs/2)
		w.AddUint32(pkt.OptRebindingT2, secs/8*7)
	}
	want := func(code uint8) bool {
		if !r.hasParams {
			return true
		}
		for _, c := range r.params {
			if c == code {
				return true
			}
		}
		return false
	}
	pfx := s.cfg.Gateway.Masked()
	if want(pkt.OptSubnetMask) {
		w.AddUint32(pkt.OptSubnetMask, ^uint32(0)<<(32-pfx.Bits()))
	}
	if s.cfg.Router && want(pkt.OptRouter) {
		w.AddAddr(pkt.OptRouter, s.cfg.Gateway.Addr())
	}
	if len(s.cfg.DNS) > 0 && want(pkt.OptDNS) {
		w.AddAddr(pkt.OptDNS, s.cfg.DNS...)
	}
	if l != nil && l.Hostname != "" && l.Static && want(pkt.OptHostname) {
		w.Add(pkt.OptHostname, []byte(l.Hostname)...)
	}
	if s.cfg.Domain != "" && want(pkt.OptDomain) {
		w.Add(pkt.OptDomain, []byte(s.cfg.Domain)...)
	}
	if s.cfg.MTU > 0 && want(pkt.OptMTU) {
		w.Add(pkt.OptMTU, byte(s.cfg.MTU>>8), byte(s.cfg.MTU))
	}
	if want(pkt.OptBroadcast) {
		w.AddAddr(pkt.OptBroadcast, broadcast(pfx))
	}
	w.End()
	return pad(buf, w.N)
}

// pad zero-fills to the 300-byte BOOTP minimum some clients expect.
func pad(buf []byte, n int) int {
	for n < 300 && n < len(buf) {
		buf[n] = 0
		n++
	}
	return n
}
