package dhcp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"maps"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// Static hosts of the fuzz networks; fuzz clients are mac(0..7) and these.
var (
	fuzzHostA = mac(0xf0)
	fuzzHostB = mac(0xf1)
)

// fuzzConfigs are the networks FuzzHandle drives: ranges small enough for
// the fuzzer to exhaust, reservations inside and outside the range, and
// ranges and reservations the config loader lets touch the network and
// broadcast addresses.
func fuzzConfigs() []Config {
	a := netip.MustParseAddr
	var dns16 []netip.Addr
	for i := range 16 {
		dns16 = append(dns16, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
	}
	return []Config{
		// Two leases per MAC: the limit is reached within a script.
		{Network: "a", Gateway: gw, RangeStart: a("10.9.0.10"), RangeEnd: a("10.9.0.13"), Lease: time.Hour, MaxLeasesPerMAC: 2,
			DNS: []netip.Addr{gw.Addr()}, Domain: "lab", Router: true, MTU: 1500,
			Hosts: []Host{{MAC: fuzzHostA, IP: a("10.9.0.12"), Name: "web"}, {MAC: fuzzHostB, IP: a("10.9.0.50")}}},
		// A /28 whose range ends on the broadcast address; a reservation on
		// the network address. The default lease.
		{Network: "b", Gateway: netip.MustParsePrefix("10.9.0.1/28"), RangeStart: a("10.9.0.12"), RangeEnd: a("10.9.0.15"),
			Hosts: []Host{{MAC: fuzzHostA, IP: a("10.9.0.0"), Name: "zero"}, {MAC: fuzzHostB, IP: a("10.9.0.13"), Name: "b"}}},
		// Every option at its largest: the reply must still fit the client.
		{Network: "c", Gateway: netip.MustParsePrefix("10.9.0.14/28"), RangeStart: a("10.9.0.0"), RangeEnd: a("10.9.0.3"),
			Lease: 90 * time.Second, DNS: dns16, Domain: strings.Repeat("d", 250), Router: true, MTU: 9000,
			Hosts: []Host{{MAC: fuzzHostA, IP: a("10.9.0.8"), Name: strings.Repeat("h", 63)}, {MAC: fuzzHostB, IP: a("10.9.0.15")}}},
	}
}

// A compact fuzz step is 7 bytes:
//
//	0: bit 7 clear; bits 0-3 option 53; 0x10 broadcast flag; 0x20 client id; 0x40 host name
//	1: bits 0-3 the client (0-7, 8 and 9 the static hosts); bits 4-7 the client id
//	2: last octet of the requested address; 3: of ciaddr (both in 10.9.0.0/24)
//	4: 1 requested address, 2 ciaddr, 4 server id, 8 another server's id,
//	   0x10 parameter request list, 0x20 max message size, 0x40 relayed:
//	   giaddr 10.9.0.<byte 3> and an option 82 holding byte 5
//	5: which list, name and size; 6: seconds the clock moves before the step
//	   (values from 128 on are minutes)
//
// A step whose byte 0 has bit 7 set is a raw message of the length in
// bytes 1-2.
const compactStep = 7

var (
	fuzzParams = [][]byte{{}, {1, 3, 6, 15, 28}, {3}, {12, 15, 26, 6}, {51, 53, 54}, {1, 3, 6, 12, 15, 26, 28}}
	fuzzNames  = [][]byte{[]byte("vm1"), {}, []byte("a.b"), []byte("bad\x00"), bytes.Repeat([]byte("x"), 64), []byte("caf\xc3\xa9")}
)

func fuzzMAC(i byte) pkt.MAC {
	switch i {
	case 8:
		return fuzzHostA
	case 9:
		return fuzzHostB
	}
	return mac(i & 7)
}

// nextMessage takes one step off script.
func nextMessage(cfg Config, script []byte) (m, rest []byte, advance time.Duration) {
	if script[0]&0x80 != 0 {
		if len(script) < 3 {
			return script[1:], nil, 0
		}
		n := min(int(binary.BigEndian.Uint16(script[1:])), len(script)-3)
		return script[3 : 3+n], script[3+n:], 0
	}
	var b [compactStep]byte
	rest = script[copy(b[:], script):]
	mm := msg{typ: b[0] & 0x0f, mac: fuzzMAC(b[1] & 0x0f), broadcast: b[0]&0x10 != 0,
		xid: uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | 1<<24}
	if b[0]&0x20 != 0 {
		mm.clientID = []byte{0xff, b[1] >> 4}
	}
	if b[0]&0x40 != 0 {
		mm.hostname = fuzzNames[int(b[5])%len(fuzzNames)]
	}
	if b[4]&1 != 0 {
		mm.reqIP = netip.AddrFrom4([4]byte{10, 9, 0, b[2]})
	}
	if b[4]&2 != 0 {
		mm.ciaddr = netip.AddrFrom4([4]byte{10, 9, 0, b[3]})
	}
	switch {
	case b[4]&8 != 0:
		mm.serverID = netip.MustParseAddr("10.9.0.99")
	case b[4]&4 != 0:
		mm.serverID = cfg.Gateway.Addr()
	}
	if b[4]&0x10 != 0 {
		mm.params = fuzzParams[int(b[5])%len(fuzzParams)]
	}
	if b[4]&0x20 != 0 {
		mm.maxSize = 500 + 2*uint16(b[5]) // below and above the legal minimum of 576
	}
	if b[4]&0x40 != 0 {
		mm.giaddr = netip.AddrFrom4([4]byte{10, 9, 0, b[3]})
		mm.extra = []byte{pkt.OptRelayAgent, 3, 1, 1, b[5]}
	}
	advance = time.Duration(b[6]) * time.Second
	if b[6] >= 128 {
		advance = time.Duration(b[6]-127) * time.Minute
	}
	return mm.bytes(), rest, advance
}

func step(typ, client, req, ci, flags, sel, adv byte) []byte {
	return []byte{typ, client, req, ci, flags, sel, adv}
}

// fuzzFrom is who sends every message of a FuzzHandle run, by bits 6-7
// of its selector: each client itself, or a relay on an ordinary or a
// trusted port (the gateway lets chaddr differ from the source for those).
func fuzzFrom(sel uint8, chaddr pkt.MAC) From {
	switch sel >> 6 {
	case 1:
		return From{MAC: relayMAC}
	case 2:
		return From{MAC: relayMAC, Trusted: true}
	}
	return From{MAC: chaddr}
}

func FuzzHandle(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, sel uint8, script []byte) {
		cfgs := fuzzConfigs()
		cfg := cfgs[int(sel&0x3f)%len(cfgs)]
		s := NewServer(cfg, nil)
		now := time.Unix(1_700_000_000, 0)
		s.now = func() time.Time { return now }
		buf := make([]byte, 1500)
		buckets := map[pkt.MAC]*bucket{}
		for i := 0; len(script) > 0 && i < 64; i++ {
			var m []byte
			var adv time.Duration
			m, script, adv = nextMessage(cfg, script)
			now = now.Add(adv)
			before := snapshot(s)
			dropsBefore := s.Drops()
			q := readRequest(m)
			limited := false
			var from From
			if pkt.DHCP(m).Valid() { // any message with a chaddr counts against its source
				from = fuzzFrom(sel, pkt.DHCP(m).CHAddr())
				b := buckets[from.MAC]
				if b == nil {
					b = &bucket{tokens: 20, last: now}
					buckets[from.MAC] = b
				}
				limited = !from.Trusted && !b.take(now)
			}
			// The run's mode, also for a message too short to have a source.
			q.src, q.trusted = from.MAC, fuzzFrom(sel, pkt.MAC{}).Trusted
			rep, ok := s.HandleFrom(pkt.DHCP(m), from, buf)
			after := snapshot(s)
			if limited {
				if ok || !oneDrop(s.Drops(), dropsBefore, DropRateLimited) || !reflect.DeepEqual(after, before) {
					t.Fatalf("over its rate: answered %v, drops %v (before %v), state changed %v", ok, s.Drops(), dropsBefore, !reflect.DeepEqual(after, before))
				}
				continue
			}
			if s.Drops()[DropRateLimited] != dropsBefore[DropRateLimited] {
				t.Fatal("rate-limited below the rate")
			}
			if q.served && !q.giaddr.IsUnspecified() && !usable(cfg, q.giaddr) {
				if ok || !oneDrop(s.Drops(), dropsBefore, DropGIAddrForeign) || !reflect.DeepEqual(after, before) {
					t.Fatalf("giaddr %v off the network: answered %v, drops %v (before %v)", q.giaddr, ok, s.Drops(), dropsBefore)
				}
				continue
			}
			if cur, had := before.expired(now).byClient[q.clientID]; q.served && !q.trusted && q.src != q.mac && had &&
				before.heldBy[q.clientID] != q.src && cur.Expiry.After(now) && (before.offered[q.clientID] || cur.State == "bound") {
				if ok || !oneDrop(s.Drops(), dropsBefore, DropNotHolder) || !reflect.DeepEqual(after, before) {
					t.Fatalf("relay %v took over %+v: answered %v, drops %v (before %v)", q.src, cur, ok, s.Drops(), dropsBefore)
				}
				continue
			}
			checkRules(t, cfg, before.expired(now), after, q, ok, now, s.Drops(), dropsBefore)
			// An ACK, or an OFFER for a new client, leaves the client's
			// lease with its source to count against, under the client's
			// own chaddr.
			_, had := before.expired(now).byClient[q.clientID]
			if ok && (q.typ == pkt.DHCPRequest || q.typ == pkt.DHCPDiscover && !had) && !pkt.DHCP(rep.Msg).YIAddr().IsUnspecified() {
				if l := after.byClient[q.clientID]; after.heldBy[q.clientID] != from.MAC || l.MAC != q.mac.String() {
					t.Fatalf("lease %+v held by %v, from %v", l, after.heldBy[q.clientID], from.MAC)
				}
			}
			checkReply(t, cfg, before, m, q, rep, ok, now, s.Drops(), dropsBefore)
			checkState(t, cfg, s, q, now)
		}
	})
}

// addSeeds adds the scripts FuzzHandle and FuzzDeliver start from.
func addSeeds(f *testing.F) {
	const d, r, dc, rl, inf = pkt.DHCPDiscover, pkt.DHCPRequest, pkt.DHCPDecline, pkt.DHCPRelease, pkt.DHCPInform
	cat := func(steps ...[]byte) []byte { return bytes.Join(steps, nil) }
	// Each client: DISCOVER, then REQUEST (SELECTING) the address the
	// first free one would be (10, 11, 13 in network a).
	exchange := cat(step(d, 1, 0, 0, 0, 0, 0), step(r, 1, 10, 0, 5, 0, 0),
		step(d, 2, 0, 0, 0x10, 1, 0), step(r, 2, 11, 0, 5, 1, 0),
		step(d|0x40, 3, 0, 0, 0, 0, 0), step(r|0x40, 3, 13, 0, 5, 0, 0))
	f.Add(uint8(0), exchange)
	f.Add(uint8(1), exchange)
	f.Add(uint8(2), exchange)
	// Exhaustion, then offers lapsing.
	f.Add(uint8(0), cat(step(d, 1, 0, 0, 0, 0, 0), step(d, 2, 0, 0, 0, 0, 0), step(d, 3, 0, 0, 0, 0, 0),
		step(d, 4, 0, 0, 0, 0, 0), step(d, 5, 0, 0, 0, 0, 61), step(d, 5, 0, 0, 0, 0, 0)))
	// Renew, rebind, release, decline, inform.
	f.Add(uint8(0), cat(exchange, step(r, 1, 0, 10, 2, 0, 100), step(r|0x10, 2, 0, 11, 2, 0, 130),
		step(rl, 1, 0, 10, 6, 0, 0), step(dc, 3, 13, 0, 5, 0, 0), step(d, 3, 0, 0, 0, 0, 0),
		step(inf, 4, 0, 77, 0x12, 3, 0), step(d, 6, 0, 0, 0, 0, 139), step(d, 7, 0, 0, 0, 0, 0)))
	// Static hosts, client ids moving between MACs, INIT-REBOOT.
	f.Add(uint8(0), cat(step(d|0x20, 8, 0, 0, 0, 0, 0), step(r|0x20, 8, 12, 0, 5, 0, 0),
		step(r|0x20, 1, 12, 0, 1, 0, 0), step(r|0x20, 1, 0, 12, 2, 0, 0), step(r, 9, 50, 0, 1, 0, 0),
		step(r, 2, 50, 0, 1, 0, 0), step(r, 2, 12, 0, 1, 0, 0), step(d, 9, 0, 0, 0x30, 200, 0)))
	f.Add(uint8(2), cat(step(d|0x20, 8, 0, 0, 0x10, 5, 0), step(r|0x20, 8, 8, 0, 5, 0, 0), step(d, 1, 0, 0, 0x30, 30, 0),
		step(r, 1, 0, 0, 5, 5, 0), step(r, 9, 15, 0, 1, 0, 0), step(d, 9, 0, 0, 0, 0, 0)))
	// Draining (issue 13): INIT-REBOOTs with fresh client ids from one
	// MAC; bind and DECLINE again and again; a RELEASE and a DECLINE of
	// client 1's lease under its client id from client 2; a burst past
	// the rate.
	f.Add(uint8(0), cat(step(r|0x20, 0x01, 10, 0, 1, 0, 0), step(r|0x20, 0x11, 11, 0, 1, 0, 0),
		step(r|0x20, 0x21, 13, 0, 1, 0, 0), step(d|0x20, 0x31, 0, 0, 0, 0, 0), step(r|0x20, 0x02, 13, 0, 1, 0, 0)))
	f.Add(uint8(1), cat(step(r, 1, 12, 0, 1, 0, 0), step(dc, 1, 12, 0, 5, 0, 0), step(r, 1, 14, 0, 1, 0, 0),
		step(dc, 1, 14, 0, 5, 0, 0), step(dc, 1, 1, 0, 5, 0, 0), step(r, 1, 15, 0, 1, 0, 0), step(dc, 1, 15, 0, 5, 0, 0),
		step(r, 1, 13, 0, 1, 0, 0), step(dc, 1, 13, 0, 5, 0, 0), step(d, 1, 0, 0, 0, 0, 0), step(d, 2, 0, 0, 0, 0, 0)))
	f.Add(uint8(0), cat(step(d|0x20, 0x11, 0, 0, 0, 0, 0), step(r|0x20, 0x11, 10, 0, 5, 0, 0),
		step(rl|0x20, 0x12, 0, 10, 6, 0, 0), step(dc|0x20, 0x12, 10, 0, 5, 0, 0), step(r|0x20, 0x11, 0, 10, 2, 0, 0)))
	f.Add(uint8(0), bytes.Repeat(step(inf, 4, 0, 77, 2, 0, 0), 22))
	// Raw messages: duplicated options, an empty client id after a real
	// one, a malformed tail.
	raw := func(b []byte) []byte {
		return append([]byte{0x80, byte(len(b) >> 8), byte(len(b))}, b...)
	}
	f.Add(uint8(0), raw(msg{typ: d, mac: mac(1), extra: []byte{61, 2, 1, 2, 61, 0, 53, 1, 3, 50, 4, 10, 9, 0, 11}}.bytes()))
	f.Add(uint8(1), raw(msg{typ: r, mac: mac(1), reqIP: netip.MustParseAddr("10.9.0.15"), extra: []byte{0, 0, 12, 3, 'a', 'b', 'c', 57, 2, 2, 64}}.bytes()))
	f.Add(uint8(0), raw(msg{typ: d, mac: mac(2), extra: []byte{55, 40}}.bytes()))
	// Relayed, from a relay on an ordinary and on a trusted port: giaddrs
	// on and off each network, more clients than the relay's limit, a
	// release by the relay, a DISCOVER without giaddr.
	relay := cat(step(d, 1, 0, 5, 0x40, 7, 0), step(r, 1, 10, 5, 0x45, 7, 0), step(d, 2, 0, 5, 0x40, 1, 0),
		step(d, 3, 0, 0x99, 0x40, 0, 0), step(d, 3, 0, 1, 0x40, 0, 0), step(d|0x10, 4, 0, 6, 0x50, 2, 0),
		step(d, 5, 0, 6, 0x40, 3, 0), step(rl, 1, 0, 10, 6, 0, 0), step(d, 6, 0, 0, 0, 0, 0), step(r, 7, 12, 5, 0x41, 0, 0))
	for _, sel := range []uint8{0, 1, 2, 0x40, 0x41, 0x42, 0x80, 0x81, 0x82} {
		f.Add(sel, relay)
	}
	f.Add(uint8(0x40), bytes.Repeat(step(inf, 4, 0, 77, 2, 0, 0), 22))
}

// state is the server's tables before a message.
type state struct {
	byClient   map[string]Lease
	offered    map[string]bool
	declined   map[netip.Addr]time.Time
	declinedBy map[netip.Addr]pkt.MAC
	heldBy     map[string]pkt.MAC // the source MAC each lease counts against
}

func snapshot(s *Server) state {
	st := state{byClient: map[string]Lease{}, offered: map[string]bool{}, declined: map[netip.Addr]time.Time{},
		declinedBy: map[netip.Addr]pkt.MAC{}, heldBy: map[string]pkt.MAC{}}
	for id, l := range s.byClient {
		st.byClient[id], st.offered[id], st.heldBy[id] = l.Lease, l.offered, l.mac
	}
	for a, d := range s.declined {
		st.declined[a], st.declinedBy[a] = d.until, d.by
	}
	return st
}

// expired is st as the server sees it at now, before the message changes
// anything: lapsed offers and ended quarantines forgotten.
func (st state) expired(now time.Time) state {
	out := state{byClient: maps.Clone(st.byClient), offered: maps.Clone(st.offered), declined: maps.Clone(st.declined),
		declinedBy: maps.Clone(st.declinedBy), heldBy: maps.Clone(st.heldBy)}
	for id, l := range st.byClient {
		if st.offered[id] && l.Expiry.Before(now) {
			delete(out.byClient, id)
			delete(out.offered, id)
			delete(out.heldBy, id)
		}
	}
	for a, t := range st.declined {
		if t.Before(now) {
			delete(out.declined, a)
			delete(out.declinedBy, a)
		}
	}
	return out
}

// holds counts what source mac holds at now other than client id except's
// lease: unexpired offers and bindings, unended quarantines it caused.
func (st state) holds(mac pkt.MAC, except string, now time.Time) int {
	n := 0
	for id, l := range st.byClient {
		if id != except && st.heldBy[id] == mac && l.Expiry.After(now) && (st.offered[id] || l.State == "bound") {
			n++
		}
	}
	for a, t := range st.declined {
		if st.declinedBy[a] == mac && t.After(now) {
			n++
		}
	}
	return n
}

// bucket is the reference rate limit: 20 tokens, 10 more a second.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) take(now time.Time) bool {
	b.tokens = min(20, b.tokens+now.Sub(b.last).Seconds()*10)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// oneDrop reports whether exactly one message was dropped, for reason.
func oneDrop(after, before [NumDrops]uint64, reason DropReason) bool {
	for r := range after {
		want := before[r]
		if DropReason(r) == reason {
			want++
		}
		if after[r] != want {
			return false
		}
	}
	return true
}

// checkRules checks the rules against a guest draining the pool: the
// per-MAC limit, and RELEASE and DECLINE only from the holder. A message
// they drop changes nothing (before is already past expiry).
func checkRules(t *testing.T, cfg Config, before, after state, q fuzzRequest, ok bool, now time.Time, drops, dropsBefore [NumDrops]uint64) {
	t.Helper()
	if !q.valid {
		return
	}
	max := cfg.MaxLeasesPerMAC
	if max == 0 {
		max = DefaultMaxLeasesPerMAC
	}
	full := !q.trusted && before.holds(q.src, q.clientID, now) >= max
	gwa := cfg.Gateway.Addr()
	var want DropReason = dropNone
	cur, had := before.byClient[q.clientID]
	holder := had && before.heldBy[q.clientID] == q.src
	switch q.typ {
	case pkt.DHCPDiscover:
		if full {
			want = DropMACLeaseLimit
		}
	case pkt.DHCPRequest:
		if q.serverID.IsValid() && q.serverID != gwa {
			return // other_server: checkReply
		}
		if full {
			want = DropMACLeaseLimit
		}
	case pkt.DHCPRelease:
		if !holder || cur.IP != q.ciaddr || before.offered[q.clientID] {
			want = DropNotHolder
		} else if l := after.byClient[q.clientID]; l.State != "released" || !l.Expiry.Equal(now) || l.IP != cur.IP {
			t.Fatalf("holder's release: %+v", l)
		}
	case pkt.DHCPDecline:
		_, static := reservedFor(cfg, q.reqIP)
		switch {
		case q.serverID != gwa:
			want = DropNotOurs
		case !q.reqIP.IsValid():
			want = DropNotHolder
		case !inRange(cfg, q.reqIP) || static:
			want = DropDeclineRange
		case !holder || cur.IP != q.reqIP || !cur.Expiry.After(now) || !before.offered[q.clientID] && cur.State != "bound":
			want = DropNotHolder
		default:
			if _, kept := after.byClient[q.clientID]; kept || !after.declined[q.reqIP].Equal(now.Add(Quarantine)) || after.declinedBy[q.reqIP] != q.src {
				t.Fatalf("holder's decline of %v: lease kept %v, quarantine %v by %v", q.reqIP, kept, after.declined[q.reqIP], after.declinedBy[q.reqIP])
			}
		}
	default:
		return
	}
	if want == dropNone {
		for _, r := range []DropReason{DropMACLeaseLimit, DropNotHolder, DropDeclineRange} {
			if drops[r] != dropsBefore[r] {
				t.Fatalf("type %d from %v (client %s) dropped as %v: holds %d of %d", q.typ, q.mac, q.clientID, r, before.holds(q.mac, q.clientID, now), max)
			}
		}
		return
	}
	if ok || !oneDrop(drops, dropsBefore, want) {
		t.Fatalf("type %d from %v (client %s): answered %v, drops %v (before %v), want one %v", q.typ, q.mac, q.clientID, ok, drops, dropsBefore, want)
	}
	if !reflect.DeepEqual(after, before) {
		t.Fatalf("type %d dropped as %v changed the pool:\nbefore %+v\nafter  %+v", q.typ, want, before, after)
	}
}

// holder is the client that holds a at now, if any: an offer until it
// lapses, a bound lease until it expires or is released.
func (st state) holder(a netip.Addr, now time.Time) string {
	for id, l := range st.byClient {
		if l.IP != a || l.Expiry.Before(now) {
			continue
		}
		if st.offered[id] || l.State == "bound" {
			return id
		}
	}
	return ""
}

// fuzzRequest is an independent reading of a request: what the reply is
// checked against.
type fuzzRequest struct {
	typ               uint8
	clientID          string
	mac               pkt.MAC
	reqIP, serverID   netip.Addr
	ciaddr            netip.Addr
	params            []byte
	hasParams         bool
	maxSize           int
	answerable, valid bool
	served            bool       // valid and of a type a server receives
	giaddr            netip.Addr // 0.0.0.0: not relayed
	agent             []byte     // option 82, the last one; nil: none
	src               pkt.MAC    // From.MAC, set by FuzzHandle
	trusted           bool       // From.Trusted
}

func readRequest(b []byte) fuzzRequest {
	var q fuzzRequest
	d := pkt.DHCP(b)
	if len(b) < pkt.DHCPOptionsOff || binary.BigEndian.Uint32(b[236:]) != pkt.DHCPCookie || b[0] != 1 || b[1] != 1 || b[2] != 6 {
		return q
	}
	q.mac, q.ciaddr, q.giaddr, q.src = d.CHAddr(), d.CIAddr(), d.GIAddr(), d.CHAddr()
	it := d.Options()
	for it.Next() {
		v := it.Data()
		switch it.Code() {
		case 53:
			if len(v) == 1 {
				q.typ = v[0]
			}
		case 61:
			if len(v) > 0 {
				q.clientID = hex.EncodeToString(v)
			}
		case 50:
			if len(v) == 4 {
				q.reqIP = netip.AddrFrom4([4]byte(v))
			}
		case 54:
			if len(v) == 4 {
				q.serverID = netip.AddrFrom4([4]byte(v))
			}
		case 55:
			q.params, q.hasParams = v, true
		case 57:
			if len(v) == 2 {
				q.maxSize = int(binary.BigEndian.Uint16(v))
			}
		case 82:
			q.agent = v
		}
	}
	if it.Malformed() {
		return q
	}
	q.valid = true
	if q.clientID == "" {
		q.clientID = "mac:" + q.mac.String()
	}
	q.answerable = q.typ == pkt.DHCPDiscover || q.typ == pkt.DHCPRequest || q.typ == pkt.DHCPInform
	q.served = q.answerable || q.typ == pkt.DHCPDecline || q.typ == pkt.DHCPRelease
	return q
}

// usable reports whether a may be a guest's address on cfg's network: in
// the prefix, neither the gateway nor (below /31) the network or broadcast
// address.
func usable(cfg Config, a netip.Addr) bool {
	p := cfg.Gateway.Masked()
	b := p.Addr().As4()
	bc := binary.BigEndian.AppendUint32(nil, binary.BigEndian.Uint32(b[:])|^(^uint32(0)<<(32-p.Bits())))
	edge := p.Bits() < 31 && (a == p.Addr() || a == netip.AddrFrom4([4]byte(bc)))
	return p.Contains(a) && a != cfg.Gateway.Addr() && !edge
}

// reservation is the static host of mac, if it may have its address.
func reservation(cfg Config, m pkt.MAC) (Host, bool) {
	for _, h := range cfg.Hosts {
		if h.MAC == m && usable(cfg, h.IP) {
			return h, true
		}
	}
	return Host{}, false
}

func reservedFor(cfg Config, a netip.Addr) (pkt.MAC, bool) {
	for _, h := range cfg.Hosts {
		if h.IP == a && usable(cfg, h.IP) {
			return h.MAC, true
		}
	}
	return pkt.MAC{}, false
}

func inRange(cfg Config, a netip.Addr) bool {
	return !a.Less(cfg.RangeStart) && !cfg.RangeEnd.Less(a)
}
