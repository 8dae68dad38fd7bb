package nat

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/puzpuzpuz/xsync/v4"

	"github.com/vswitch/vswitch/internal/pkt"
)

// Tuple is one direction of a flow as seen on the wire. For ICMP echo the
// ports are both the echo identifier.
type Tuple struct {
	Proto    uint8
	Src, Dst netip.AddrPort
}

// reverse is the tuple of the replies.
func (t Tuple) reverse() Tuple { return Tuple{t.Proto, t.Dst, t.Src} }

// TCP states tracked, coarse like the kernel's.
const (
	StateNew         = iota // one direction seen (SYN, or a first UDP/ICMP packet)
	StateEstablished        // traffic seen both ways (TCP: the handshake completed)
	StateClosing            // FIN seen
	StateClosed             // RST seen
	StateSynRecv            // TCP: the SYN was answered (SYN-ACK), the handshake's last ACK not seen yet
)

var stateNames = [...]string{
	StateNew:         "new",
	StateEstablished: "established",
	StateClosing:     "closing",
	StateClosed:      "closed",
	StateSynRecv:     "syn_recv",
}

// stateName names a state; "unknown" for a value past the last one.
func stateName(s uint32) string {
	if s < uint32(len(stateNames)) {
		return stateNames[s]
	}
	return "unknown"
}

// Timeouts (seconds). The kernel keeps established TCP for 5 days; a
// switch whose guests come and go does not need to. A TCP flow that has
// not completed its handshake is kept briefly (the kernel keeps a lone
// SYN 120 s, nf_conntrack_tcp_timeout_syn_sent): a retransmitted SYN
// refreshes it, and a flood of them must not hold the table for minutes.
const (
	TimeoutTCPNew         = 30
	TimeoutTCPSynRecv     = 30 // the kernel's nf_conntrack_tcp_timeout_syn_recv is 60 s
	TimeoutTCPEstablished = 7200
	TimeoutTCPClosing     = 120
	TimeoutTCPClosed      = 10
	TimeoutUDP            = 30  // one direction only
	TimeoutUDPStream      = 180 // replies seen
	TimeoutICMP           = 30
)

// Entry is one tracked, translated flow.
type Entry struct {
	Inside  Tuple // guest -> remote, as the guest sent it
	Outside Tuple // uplink address -> remote, as it leaves
	Created time.Time

	state       atomic.Uint32
	lastSeen    atomic.Int64     // unix seconds
	pkts, bytes [2]atomic.Uint64 // indexed by dir
	dead        atomic.Bool
	// assured (the kernel's word): TCP completed its handshake, another
	// protocol saw a reply. Early drop spares it.
	assured atomic.Bool
	// fromOutside: a port forward started the flow, so its replies are
	// the guest's (outbound) packets. Set before the entry is published.
	fromOutside bool

	// The early-drop queue, oldest first; guarded by Table.mu.
	older, newer *Entry
	queued       bool
}

// origin is the address that started the flow, which its per-source
// limit counts against: the guest, or a port forward's remote.
func (e *Entry) origin() netip.Addr {
	if e.fromOutside {
		return e.Inside.Dst.Addr()
	}
	return e.Inside.Src.Addr()
}

// State names the flow's state.
func (e *Entry) State() string { return stateName(e.state.Load()) }

// Counters are packets and bytes each way.
func (e *Entry) Counters() (pktsOut, pktsIn, bytesOut, bytesIn uint64) {
	return e.pkts[out].Load(), e.pkts[in].Load(), e.bytes[out].Load(), e.bytes[in].Load()
}

// LastSeen is the unix second of the last packet.
func (e *Entry) LastSeen() int64 { return e.lastSeen.Load() }

func (e *Entry) timeout() int64 {
	switch e.Inside.Proto {
	case pkt.ProtoTCP:
		switch e.state.Load() {
		case StateNew:
			return TimeoutTCPNew
		case StateSynRecv:
			return TimeoutTCPSynRecv
		case StateEstablished:
			return TimeoutTCPEstablished
		case StateClosing:
			return TimeoutTCPClosing
		}
		return TimeoutTCPClosed
	case pkt.ProtoUDP:
		if e.state.Load() == StateEstablished {
			return TimeoutUDPStream
		}
		return TimeoutUDP
	}
	return TimeoutICMP
}

// Config bounds a table; the zero value works.
type Config struct {
	MaxEntries       int    // default 65536
	MaxPerSource     int    // flows one address may start; default 4096
	MaxFragments     int    // slots for fragmented datagrams in flight; default 4096
	PortMin, PortMax uint16 // outside ports for remapping; default 32768-60999 (Linux's ephemeral range)
}

// Defaults of Config.
const (
	DefaultMaxEntries   = 65536
	DefaultMaxPerSource = 4096
	DefaultMaxFragments = 4096
)

// Stats are a table's counters.
type Stats struct {
	Full        uint64 // new flows refused: every flow in the full table was assured
	SourceLimit uint64 // new flows refused: their source held MaxPerSource
	Created     uint64
	Expired     uint64 // removed by Sweep
	EarlyDrops  uint64 // flows not assured, evicted to make room for a new one
	FragEvicted uint64 // fragmented datagrams in flight whose record a new one took
}

// Table is the conntrack table of one outside address.
type Table struct {
	cfg       Config
	byInside  *xsync.Map[Tuple, *Entry]
	byOutside *xsync.Map[Tuple, *Entry] // keyed by the reply tuple (remote -> uplink)
	count     atomic.Int64
	count6    atomic.Int64 // of count, IPv6 flows (NAT66)
	mu        sync.Mutex   // creating or removing a flow; never taken for an established one
	next      uint16       // next port to try when remapping

	// Guarded by mu: flows per origin address (no zero counts), and the
	// early-drop queue of flows in the order they were created. A flow
	// that is assured leaves the queue lazily, when it reaches the
	// front, so a packet never takes mu to leave it.
	perSource      map[netip.Addr]int
	oldest, newest *Entry

	full, sourceLimit, created, expired, earlyDrops atomic.Uint64

	forwards atomic.Pointer[map[fwdKey]netip.AddrPort]
	frags    fragTable
}

type fwdKey struct {
	proto uint8
	port  uint16
	v6    bool // to the outside IPv6 address (and so to an IPv6 guest)
}

// AddForward sends new connections to the outside address on proto/port
// to a guest (DNAT, a port forward).
func (t *Table) AddForward(proto uint8, port uint16, to netip.AddrPort) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := map[fwdKey]netip.AddrPort{}
	if old := t.forwards.Load(); old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[fwdKey{proto, port, to.Addr().Is6()}] = to
	t.forwards.Store(&m)
}

// forward creates the flow of a new inbound connection that a port
// forward accepts. reply is the arriving packet's tuple (remote ->
// outside); the flow is recorded from the guest's side.
func (t *Table) forward(reply Tuple, now int64) *Entry {
	fw := t.forwards.Load()
	if fw == nil {
		return nil
	}
	to, ok := (*fw)[fwdKey{reply.Proto, reply.Dst.Port(), reply.Dst.Addr().Is6()}]
	if !ok {
		return nil
	}
	in := Tuple{Proto: reply.Proto, Src: to, Dst: reply.Src}
	out := Tuple{Proto: reply.Proto, Src: reply.Dst, Dst: reply.Src}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.byOutside.Load(reply); ok && !e.dead.Load() {
		return e
	}
	if _, ok := t.byInside.Load(in); ok {
		return nil // the guest already has that exact flow out: refuse
	}
	if t.admit(reply.Src.Addr()) != Translated {
		return nil
	}
	e := &Entry{Inside: in, Outside: out, Created: time.Unix(now, 0), fromOutside: true}
	t.insert(e, now)
	return e
}

// New returns an empty table.
func New(cfg Config) *Table {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.MaxPerSource <= 0 {
		cfg.MaxPerSource = DefaultMaxPerSource
	}
	if cfg.MaxFragments <= 0 {
		cfg.MaxFragments = DefaultMaxFragments
	}
	if cfg.PortMin == 0 || cfg.PortMax < cfg.PortMin {
		cfg.PortMin, cfg.PortMax = 32768, 60999
	}
	return &Table{cfg: cfg, byInside: xsync.NewMap[Tuple, *Entry](), byOutside: xsync.NewMap[Tuple, *Entry](),
		frags: newFragTable(cfg.MaxFragments), perSource: map[netip.Addr]int{}, next: cfg.PortMin}
}

// Len is the number of flows.
func (t *Table) Len() int { return int(t.count.Load()) }

// Len6 is the number of IPv6 flows among Len.
func (t *Table) Len6() int { return int(t.count6.Load()) }

// Stats are the table's counters.
func (t *Table) Stats() Stats {
	return Stats{Full: t.full.Load(), SourceLimit: t.sourceLimit.Load(), Created: t.created.Load(),
		Expired: t.expired.Load(), EarlyDrops: t.earlyDrops.Load(), FragEvicted: t.frags.evicted.Load()}
}

// admit, under mu, says whether a new flow started by src may be
// created: not when src holds MaxPerSource flows (the kernel's connlimit),
// nor when the table is full and holds no flow that is not assured (the
// kernel's early_drop).
func (t *Table) admit(src netip.Addr) Verdict {
	if t.perSource[src] >= t.cfg.MaxPerSource {
		t.sourceLimit.Add(1)
		return SourceLimit
	}
	if t.count.Load() >= int64(t.cfg.MaxEntries) && !t.earlyDrop() {
		t.full.Add(1)
		return TableFull
	}
	return Translated
}

// earlyDrop, under mu, evicts the oldest flow that is not assured; false
// when every flow is. Assured flows met on the way leave the queue for
// good (a flow never stops being assured), so the walk is O(1) amortized.
func (t *Table) earlyDrop() bool {
	for e := t.oldest; e != nil; e = t.oldest {
		t.unqueue(e)
		if !e.assured.Load() && !e.dead.Swap(true) {
			t.removeLocked(e)
			t.earlyDrops.Add(1)
			return true
		}
	}
	return false
}

// insert, under mu, publishes a new flow and queues it for early drop.
func (t *Table) insert(e *Entry, now int64) {
	e.lastSeen.Store(now)
	t.byInside.Store(e.Inside, e)
	t.byOutside.Store(e.Outside.reverse(), e)
	t.count.Add(1)
	if e.Inside.Src.Addr().Is6() {
		t.count6.Add(1)
	}
	t.created.Add(1)
	t.perSource[e.origin()]++
	e.older, e.queued = t.newest, true
	if t.newest != nil {
		t.newest.newer = e
	} else {
		t.oldest = e
	}
	t.newest = e
}

// unqueue, under mu, takes e out of the early-drop queue.
func (t *Table) unqueue(e *Entry) {
	if !e.queued {
		return
	}
	if e.older != nil {
		e.older.newer = e.newer
	} else {
		t.oldest = e.newer
	}
	if e.newer != nil {
		e.newer.older = e.older
	} else {
		t.newest = e.older
	}
	e.older, e.newer, e.queued = nil, nil, false
}

// lookupOrCreate finds the flow of an outbound packet, creating it (with
// an outside port) if it is new. Without a flow it says why: the source's
// limit, a full table, or no free outside tuple (TableFull).
func (t *Table) lookupOrCreate(in Tuple, outside netip.Addr, now int64) (*Entry, Verdict) {
	if e, ok := t.byInside.Load(in); ok && !e.dead.Load() {
		return e, Translated
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.byInside.Load(in); ok && !e.dead.Load() {
		return e, Translated
	}
	if v := t.admit(in.Src.Addr()); v != Translated {
		return nil, v
	}
	out := Tuple{Proto: in.Proto, Src: netip.AddrPortFrom(outside, in.Src.Port()), Dst: in.Dst}
	if isEcho(in) {
		out.Dst = netip.AddrPortFrom(in.Dst.Addr(), in.Src.Port())
	}
	// Keep the guest's port when that outside tuple is free; otherwise
	// walk the range. The reply tuple is the key, so it is unique.
	if _, taken := t.byOutside.Load(out.reverse()); taken {
		if in.Proto != pkt.ProtoTCP && in.Proto != pkt.ProtoUDP && !isEcho(in) {
			// No port to remap: the replies to this guest would
			// reach the one whose flow holds the tuple.
			t.full.Add(1)
			return nil, TableFull
		}
		found := false
		span := int(t.cfg.PortMax-t.cfg.PortMin) + 1
		for i := 0; i < span; i++ {
			p := t.next // always in the range: New starts it at PortMin
			if p == t.cfg.PortMax {
				t.next = t.cfg.PortMin
			} else {
				t.next = p + 1
			}
			out.Src = netip.AddrPortFrom(outside, p)
			if isEcho(in) {
				out.Dst = netip.AddrPortFrom(in.Dst.Addr(), p)
			}
			if _, taken := t.byOutside.Load(out.reverse()); !taken {
				found = true
				break
			}
		}
		if !found {
			t.full.Add(1)
			return nil, TableFull
		}
	}
	e := &Entry{Inside: in, Outside: out, Created: time.Unix(now, 0)}
	t.insert(e, now)
	return e, Translated
}

// isEcho reports whether the flow of tuple t is an ICMP echo, whose
// identifier is its "port" at both ends: ICMP over IPv4, ICMPv6 over
// IPv6. The other family's ICMP is a protocol without ports there (the
// rewrite would not write a remapped identifier).
func isEcho(t Tuple) bool {
	if t.Src.Addr().Is6() {
		return t.Proto == pkt.ProtoICMPv6
	}
	return t.Proto == pkt.ProtoICMP
}

// lookupReply finds the flow a packet arriving at the outside belongs to.
func (t *Table) lookupReply(reply Tuple) *Entry {
	if e, ok := t.byOutside.Load(reply); ok && !e.dead.Load() {
		return e
	}
	return nil
}

// Sweep removes flows idle past their timeout; the caller runs it from a
// timer, never per packet.
func (t *Table) Sweep(now int64) int {
	t.frags.sweep(now)
	n := 0
	t.byInside.Range(func(k Tuple, e *Entry) bool {
		if now-e.lastSeen.Load() >= e.timeout() {
			t.remove(e)
			n++
		}
		return true
	})
	return n
}

func (t *Table) remove(e *Entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.dead.Swap(true) {
		return
	}
	t.removeLocked(e)
	t.expired.Add(1)
}

// removeLocked, under mu, unpublishes e, which the caller marked dead.
func (t *Table) removeLocked(e *Entry) {
	t.byInside.Delete(e.Inside)
	t.byOutside.Delete(e.Outside.reverse())
	t.count.Add(-1)
	if e.Inside.Src.Addr().Is6() {
		t.count6.Add(-1)
	}
	t.unqueue(e)
	src := e.origin()
	if n := t.perSource[src] - 1; n > 0 {
		t.perSource[src] = n
	} else {
		delete(t.perSource, src)
	}
}

// Entries is a snapshot for `show conntrack`.
func (t *Table) Entries() []*Entry {
	var out []*Entry
	t.byInside.Range(func(_ Tuple, e *Entry) bool {
		if !e.dead.Load() {
			out = append(out, e)
		}
		return true
	})
	return out
}
