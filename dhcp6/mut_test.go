package dhcp6

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vswitch/vswitch/dhcp"
	"github.com/vswitch/vswitch/internal/pkt"
)

// clientN is a client for tests that need more than 255 distinct MACs.
func clientN(n uint16) client {
	mac := pkt.MAC{0x52, 0x54, 0, 2, byte(n >> 8), byte(n)}
	return client{mac: mac, duid: append([]byte{0, 3, 0, 1}, mac[:]...), iaid: 1, ll: pkt.LinkLocalFromMAC(mac)}
}

// hasOption reports whether the reply carries a top-level option code.
func hasOption(b []byte, code uint16) bool {
	it := pkt.DHCPv6(b).Options().Iter()
	for it.Next() {
		if it.Code() == code {
			return true
		}
	}
	return false
}

// fixedClock makes s's clock a variable the test moves.
func fixedClock(s *Server) *time.Time {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	return &now
}

func TestDropReasonString(t *testing.T) {
	for r, want := range map[DropReason]string{DropMalformed: "malformed", DropStoreBusy: "store_busy",
		NumDrops: "unknown", NumDrops + 1: "unknown", 255: "unknown"} {
		if got := r.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", r, got, want)
		}
	}
}

func TestMessagesCounted(t *testing.T) {
	s := NewServer(testConfig(), nil)
	c := newClient(1)
	exchange(t, s, c, c.msg(pkt.DHCPv6Solicit, msgOpts{}))
	exchange(t, s, c, c.msg(pkt.DHCPv6Solicit, msgOpts{}))
	// An unknown type (numTypes and above) is dropped, not counted, and does not panic.
	for _, typ := range []uint8{uint8(numTypes), uint8(numTypes) + 1, 255} {
		if _, ok := s.Handle(c.msg(typ, msgOpts{}), c.from(), make([]byte, 1500)); ok {
			t.Fatalf("type %d answered", typ)
		}
	}
	m := s.Messages()
	if len(m) != int(numTypes)-1 {
		t.Fatalf("Messages has %d types: %v", len(m), m)
	}
	for name, n := range m {
		want := uint64(0)
		switch name {
		case "solicit", "advertise":
			want = 2
		}
		if n != want {
			t.Errorf("%s = %d, want %d", name, n, want)
		}
	}
	if _, ok := m["relay_repl"]; !ok {
		t.Fatalf("relay_repl (the last type) missing: %v", m)
	}
	if d := s.Drops(); d[DropNotForUs] != 3 {
		t.Fatalf("drops %v", d)
	}
}

func TestNoDNSNoDomain(t *testing.T) {
	cfg := testConfig()
	cfg.DNS, cfg.Domain = nil, ""
	s := NewServer(cfg, nil)
	c := newClient(1)
	rep, ok := s.Handle(c.msg(pkt.DHCPv6Solicit, msgOpts{}), c.from(), make([]byte, 1500))
	if !ok {
		t.Fatal("no ADVERTISE")
	}
	if hasOption(rep.Msg, pkt.DHCPv6OptDNSServers) || hasOption(rep.Msg, pkt.DHCPv6OptDomainList) {
		t.Fatalf("empty DNS or domain option sent: %x", rep.Msg)
	}
	cfg = testConfig()
	s = NewServer(cfg, nil)
	rep, ok = s.Handle(c.msg(pkt.DHCPv6Solicit, msgOpts{}), c.from(), make([]byte, 1500))
	if !ok {
		t.Fatal("no ADVERTISE with DNS and a domain configured")
	}
	if !hasOption(rep.Msg, pkt.DHCPv6OptDNSServers) || !hasOption(rep.Msg, pkt.DHCPv6OptDomainList) {
		t.Fatalf("DNS or domain option missing: %x", rep.Msg)
	}
}

func TestLeaseDefault(t *testing.T) {
	for _, tc := range []struct {
		lease         time.Duration
		valid, t1, t2 uint32
	}{{0, 3600, 1800, 2880}, {-time.Second, 3600, 1800, 2880}, {2 * time.Hour, 7200, 3600, 5760}, {time.Second, 1, 0, 0}} {
		cfg := testConfig()
		cfg.Lease = tc.lease
		s := NewServer(cfg, nil)
		c := newClient(1)
		a := exchange(t, s, c, c.msg(pkt.DHCPv6Solicit, msgOpts{}))
		if a.valid != tc.valid || a.t1 != tc.t1 || a.t2 != tc.t2 {
			t.Errorf("Lease %v: valid %d t1 %d t2 %d, want %d %d %d", tc.lease, a.valid, a.t1, a.t2, tc.valid, tc.t1, tc.t2)
		}
	}
}

func TestParseKey(t *testing.T) {
	for k, want := range map[string]struct {
		duid string
		iaid uint32
	}{
		"0102/7":          {"\x01\x02", 7},
		"/0":              {"", 0},
		"ff/4294967295":   {"\xff", 4294967295},
		"0102":            {"", 0},
		"zz/7":            {"", 0},
		"0102/x":          {"", 0},
		"0102/4294967296": {"", 0},
		"010/7":           {"", 0},
	} {
		d, i := parseKey(k)
		if d != want.duid || i != want.iaid {
			t.Errorf("parseKey(%q) = %q %d, want %q %d", k, d, i, want.duid, want.iaid)
		}
	}
}

// TestRemoveIndexes: releasing one of a MAC's two IAs leaves exactly the
// other in every index; releasing the last empties them.
func TestRemoveIndexes(t *testing.T) {
	s := NewServer(testConfig(), nil)
	c1 := newClient(1)
	c2 := c1
	c2.iaid = 2
	a1, a2 := bind(t, s, c1), bind(t, s, c2)
	if a1 != rStart || a2 != rStart.Next() {
		t.Fatalf("addresses %v %v", a1, a2)
	}
	l2 := s.byIP[a2]
	rep := exchange(t, s, c1, c1.msg(pkt.DHCPv6Release, msgOpts{serverID: s.DUID(), addr: a1}))
	if rep.status != pkt.DHCPv6Success || rep.iaStatus != -1 {
		t.Fatalf("RELEASE: %+v", rep)
	}
	if held := s.byMAC[c1.mac]; len(held) != 1 || held[0] != l2 {
		t.Fatalf("byMAC after the first release: %v", held)
	}
	if len(s.byClient) != 1 || s.byClient[l2.ClientID] != l2 || len(s.byIP) != 1 || s.byIP[a2] != l2 {
		t.Fatalf("indexes: %v %v", s.byClient, s.byIP)
	}
	if s.freeFrom != a1 {
		t.Fatalf("freeFrom %v", s.freeFrom)
	}
	// The released IA is no longer held.
	rep = exchange(t, s, c1, c1.msg(pkt.DHCPv6Release, msgOpts{serverID: s.DUID(), addr: a1}))
	if rep.iaStatus != pkt.DHCPv6NoBinding {
		t.Fatalf("second RELEASE: %+v", rep)
	}
	exchange(t, s, c2, c2.msg(pkt.DHCPv6Release, msgOpts{serverID: s.DUID(), addr: a2}))
	if _, ok := s.byMAC[c1.mac]; ok || len(s.byClient) != 0 || len(s.byIP) != 0 {
		t.Fatalf("indexes after releasing all: %v %v %v", s.byMAC, s.byClient, s.byIP)
	}
	if d := s.Drops(); d[DropNoBinding] != 1 {
		t.Fatalf("drops %v", d)
	}
}

// TestRemoveKeepsOthersIndex: removing a lease that no longer owns its
// index entries leaves the owner's in place.
func TestRemoveKeepsOthersIndex(t *testing.T) {
	s := NewServer(testConfig(), nil)
	c := newClient(1)
	a := bind(t, s, c)
	l := s.byIP[a]
	ghost := &lease{mac: c.mac}
	ghost.ClientID, ghost.IP = l.ClientID, a
	s.remove(ghost)
	if s.byClient[l.ClientID] != l || s.byIP[a] != l || len(s.byMAC[c.mac]) != 1 {
		t.Fatalf("another lease's entries went: %v %v %v", s.byClient, s.byIP, s.byMAC)
	}
}

func TestDeclineQuarantineFull(t *testing.T) {
	s := NewServer(testConfig(), nil)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	base := netip.MustParseAddr("fd00:122::1:0")
	a := base
	s.decline(a, now)
	s.decline(a.Next(), now.Add(time.Second))
	if len(s.declined) != 2 {
		t.Fatalf("2 declines hold %d", len(s.declined))
	}
	for i := 2; i < maxDeclined; i++ {
		a = a.Next()
		if i > 1 {
			a = base
			for range i {
				a = a.Next()
			}
		}
		s.decline(a, now.Add(time.Duration(i)*time.Second))
	}
	if len(s.declined) != maxDeclined {
		t.Fatalf("%d declines hold %d", maxDeclined, len(s.declined))
	}
	extra := netip.MustParseAddr("fd00:122::2:0")
	s.decline(extra, now.Add(time.Hour))
	if len(s.declined) != maxDeclined {
		t.Fatalf("a full quarantine grew to %d", len(s.declined))
	}
	if _, ok := s.declined[base]; ok {
		t.Fatal("the quarantine that ends first was kept")
	}
	if until := s.declined[extra]; !until.Equal(now.Add(time.Hour + quarantine)) {
		t.Fatalf("new quarantine ends %v", until)
	}
	if _, ok := s.declined[base.Next()]; !ok {
		t.Fatal("the second-earliest quarantine went")
	}
}

// TestOfferHoldBoundary: an ADVERTISE holds its address for exactly
// offerHold.
func TestOfferHoldBoundary(t *testing.T) {
	s := NewServer(testConfig(), nil)
	now := fixedClock(s)
	c1, c2, c3 := newClient(1), newClient(2), newClient(3)
	if a := exchange(t, s, c1, c1.msg(pkt.DHCPv6Solicit, msgOpts{})); a.addr != rStart {
		t.Fatalf("offer %v", a.addr)
	}
	*now = now.Add(offerHold - time.Nanosecond)
	if a := exchange(t, s, c2, c2.msg(pkt.DHCPv6Solicit, msgOpts{addr: rStart})); a.addr != rStart.Next() {
		t.Fatalf("held offer given away: %v", a.addr)
	}
	*now = now.Add(time.Nanosecond)
	if a := exchange(t, s, c3, c3.msg(pkt.DHCPv6Solicit, msgOpts{addr: rStart})); a.addr != rStart {
		t.Fatalf("expired offer not given: %v", a.addr)
	}
}

// TestLeaseExpiryBoundary: a bound lease ends exactly at its expiry; its
// address then goes to the next client, the last of the range included.
func TestLeaseExpiryBoundary(t *testing.T) {
	s := NewServer(testConfig(), nil)
	now := fixedClock(s)
	var addrs []netip.Addr
	for i := range byte(4) {
		addrs = append(addrs, bind(t, s, newClient(i+1)))
	}
	if addrs[0] != rStart || addrs[3] != rEnd {
		t.Fatalf("range handed as %v", addrs)
	}
	c := newClient(9)
	*now = now.Add(time.Hour - time.Nanosecond)
	if a := exchange(t, s, c, c.msg(pkt.DHCPv6Solicit, msgOpts{addr: rEnd})); a.status != pkt.DHCPv6NoAddrsAvail || a.addr.IsValid() {
		t.Fatalf("live leases given away: %+v", a)
	}
	if s.Active() != 4 {
		t.Fatalf("active %d", s.Active())
	}
	*now = now.Add(time.Nanosecond)
	if s.Active() != 0 {
		t.Fatalf("active at expiry %d", s.Active())
	}
	if a := exchange(t, s, c, c.msg(pkt.DHCPv6Solicit, msgOpts{addr: rEnd})); a.addr != rEnd || a.valid != 3600 {
		t.Fatalf("expired lease's address not given: %+v", a)
	}
	if d := s.Drops(); d[DropPoolExhausted] != 1 {
		t.Fatalf("drops %v", d)
	}
}

// TestExpiredKeptUntilReused: a SOLICIT on a table that is not full does
// not reap; an expired lease stays stored until its address is needed.
func TestExpiredKeptUntilReused(t *testing.T) {
	s := NewServer(testConfig(), nil)
	now := fixedClock(s)
	a := bind(t, s, newClient(1))
	*now = now.Add(2 * time.Hour)
	c := newClient(2)
	if got := exchange(t, s, c, c.msg(pkt.DHCPv6Solicit, msgOpts{addr: rEnd})); got.addr != rEnd {
		t.Fatalf("hint not given: %v", got.addr)
	}
	if ls := s.Leases(); len(ls) != 1 || ls[0].IP != a {
		t.Fatalf("leases %+v", ls)
	}
}

// fillTable puts n leases outside the range into s's table, all live
// until exp, one of them (the first) expiring at expFirst.
func fillTable(s *Server, n int, exp, expFirst time.Time) {
	base := netip.MustParseAddr("fd00:122::1:0:0")
	a := base
	m := pkt.MAC{0x52, 0x54, 0, 9, 9, 9}
	for i := range n {
		l := &lease{mac: m}
		l.ClientID, l.IP, l.Expiry = fmt.Sprintf("x/%d", i), a, exp
		if i == 0 {
			l.Expiry = expFirst
		}
		s.byClient[l.ClientID] = l
		s.byIP[a] = l
		a = a.Next()
	}
}

func TestTableFull(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Exactly full, all live: pool_exhausted.
	s := NewServer(testConfig(), nil)
	fixedClock(s)
	fillTable(s, maxLeases, start.Add(time.Hour), start.Add(time.Hour))
	c := newClient(1)
	if a := exchange(t, s, c, c.msg(pkt.DHCPv6Solicit, msgOpts{})); a.status != pkt.DHCPv6NoAddrsAvail || a.addr.IsValid() {
		t.Fatalf("full table: %+v", a)
	}
	if d := s.Drops(); d[DropPoolExhausted] != 1 {
		t.Fatalf("drops %v", d)
	}
	// Exactly full with one expired: reaped, served.
	s = NewServer(testConfig(), nil)
	fixedClock(s)
	fillTable(s, maxLeases, start.Add(time.Hour), start)
	if a := exchange(t, s, c, c.msg(pkt.DHCPv6Solicit, msgOpts{})); a.addr != rStart {
		t.Fatalf("full table with an expired lease: %+v", a)
	}
	if len(s.byIP) != maxLeases {
		t.Fatalf("table holds %d", len(s.byIP))
	}
	// One short of full: served without reaping.
	s = NewServer(testConfig(), nil)
	fixedClock(s)
	fillTable(s, maxLeases-2, start.Add(time.Hour), start)
	if a := exchange(t, s, c, c.msg(pkt.DHCPv6Solicit, msgOpts{})); a.addr != rStart {
		t.Fatalf("table one short: %+v", a)
	}
	if len(s.byIP) != maxLeases-1 {
		t.Fatalf("table holds %d: reaped below full", len(s.byIP))
	}
}

// TestHostLeaseMoved: a stored lease of a client whose reservation is
// another address is dropped; a bound reserved lease is advertised as it
// is, not turned back into an offer.
func TestHostLeaseMoved(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	c := newClient(1)
	hostIP := netip.MustParseAddr("fd00:122::50")
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	key := fmt.Sprintf("%x/%d", c.duid, c.iaid)
	if err := st.Save(dhcp.Key6("lab"), []dhcp.Lease{{Network: "lab", ClientID: key, MAC: c.mac.String(),
		IP: rStart, Expiry: exp, State: "bound"}}); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Hosts = []Host{{MAC: c.mac, IP: hostIP, Name: "h1"}}
	s := NewServer(cfg, st)
	if ls := s.Leases(); len(ls) != 1 || ls[0].IP != rStart {
		t.Fatalf("loaded %+v", ls)
	}
	if a := exchange(t, s, c, c.msg(pkt.DHCPv6Solicit, msgOpts{})); a.addr != hostIP {
		t.Fatalf("ADVERTISE %v, want the reservation", a.addr)
	}
	if ls := s.Leases(); len(ls) != 0 {
		t.Fatalf("the moved lease is kept: %+v", ls)
	}
	rep := exchange(t, s, c, c.msg(pkt.DHCPv6Request, msgOpts{serverID: s.DUID()}))
	if rep.addr != hostIP || rep.valid != 3600 {
		t.Fatalf("REPLY %+v", rep)
	}
	if a := exchange(t, s, c, c.msg(pkt.DHCPv6Solicit, msgOpts{})); a.addr != hostIP {
		t.Fatalf("re-SOLICIT %v", a.addr)
	}
	if ls := s.Leases(); len(ls) != 1 || ls[0].IP != hostIP || ls[0].Hostname != "h1" || ls[0].State != "bound" {
		t.Fatalf("bound reservation after SOLICIT: %+v", ls)
	}
}

// TestStoreBusy: at most maxPending replies wait for the disk; the next
// is dropped as store_busy.
func TestStoreBusy(t *testing.T) {
	st := openStore(t, t.TempDir())
	cfg := testConfig()
	cfg.RangeEnd = netip.MustParseAddr("fd00:122::1100")
	started, release := make(chan struct{}, 1), make(chan struct{})
	delivered := make(chan struct{}, 2*maxPending)
	cfg.Deliver = func(Reply) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
		delivered <- struct{}{}
	}
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before st.Close: a failing test must not leave Deliver blocked
	s := NewServer(cfg, st)
	send := func(i int) bool {
		c := clientN(uint16(i))
		_, ok := s.Handle(c.msg(pkt.DHCPv6Solicit, msgOpts{rapid: true}), c.from(), make([]byte, 1500))
		return ok
	}
	if send(0) {
		t.Fatal("reply before the write")
	}
	if d := s.Drops(); d != ([NumDrops]uint64{}) {
		t.Fatalf("first reply dropped: %v", d)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		select {
		case <-started:
		case <-time.After(time.Millisecond):
			if d := s.Drops(); d != ([NumDrops]uint64{}) || time.Now().After(deadline) {
				t.Fatalf("no delivery started; drops %v", d)
			}
			continue
		}
		break
	}
	// The first reply is being delivered; maxPending-1 more may wait.
	for i := 1; i < maxPending; i++ {
		send(i)
		if d := s.Drops(); d[DropStoreBusy] != 0 {
			t.Fatalf("store_busy after %d: %v", i+1, d)
		}
	}
	send(maxPending)
	if d := s.Drops(); d[DropStoreBusy] != 1 {
		t.Fatalf("drops after %d: %v", maxPending+1, d)
	}
	unblock()
	for i := range maxPending {
		select {
		case <-delivered:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d delivered", i, maxPending)
		}
	}
	if s.commits != maxPending {
		t.Fatalf("commits %d", s.commits)
	}
}

// TestClientKeyNoRealloc: the scratch key holds the longest DUID's key.
func TestClientKeyNoRealloc(t *testing.T) {
	s := NewServer(testConfig(), nil)
	d := make([]byte, pkt.DHCPv6MaxDUIDLen)
	p := &s.key[:1][0]
	k := s.clientKey(d, 1234567)
	if len(k) != 2*pkt.DHCPv6MaxDUIDLen+8 || &k[0] != p {
		t.Fatalf("key of %d bytes reallocated", len(k))
	}
}

func TestDUIDMAC(t *testing.T) {
	m := pkt.MAC{1, 2, 3, 4, 5, 6}
	ll := append([]byte{0, 3, 0, 1}, m[:]...)
	llt := append([]byte{0, 1, 0, 1, 9, 9, 9, 9}, m[:]...)
	for _, tc := range []struct {
		d  []byte
		ok bool
	}{
		{ll, true}, {llt, true},
		{append([]byte{1, 3, 0, 1}, m[:]...), false}, {append([]byte{0, 3, 1, 1}, m[:]...), false},
		{append([]byte{0, 3, 0, 2}, m[:]...), false}, {append([]byte{0, 1, 0, 1}, m[:]...), false},
		{append([]byte{1, 1, 0, 1, 9, 9, 9, 9}, m[:]...), false}, {append([]byte{0, 1, 1, 1, 9, 9, 9, 9}, m[:]...), false},
		{append([]byte{0, 1, 0, 6, 9, 9, 9, 9}, m[:]...), false}, {append([]byte{0, 3, 0, 1, 9, 9, 9, 9}, m[:]...), false},
		{ll[:9], false}, {nil, false},
	} {
		got, ok := duidMAC(tc.d)
		if ok != tc.ok || ok && got != m {
			t.Errorf("duidMAC(%x) = %v %v", tc.d, got, ok)
		}
	}
}

// TestInfoServerIDOptional: an INFORMATION-REQUEST may carry our server
// id (RFC 8415 16.12); another server's is not for us.
func TestInfoServerIDOptional(t *testing.T) {
	s := NewServer(testConfig(), nil)
	c := newClient(1)
	for _, sid := range [][]byte{nil, s.DUID()} {
		a := exchange(t, s, c, c.msg(pkt.DHCPv6InfoRequest, msgOpts{noIA: true, serverID: sid}))
		if a.typ != pkt.DHCPv6Reply || a.addr.IsValid() || len(a.dns) != 1 || a.dns[0] != dnsAddr || a.status != -1 {
			t.Fatalf("INFORMATION-REQUEST with server id %x: %+v", sid, a)
		}
	}
	other := append([]byte{0, 3, 0, 1}, 1, 2, 3, 4, 5, 6)
	if _, ok := s.Handle(c.msg(pkt.DHCPv6InfoRequest, msgOpts{noIA: true, serverID: other}), c.from(), make([]byte, 1500)); ok {
		t.Fatal("answered another server's INFORMATION-REQUEST")
	}
	if d := s.Drops(); d[DropNotForUs] != 1 || d[DropMalformed] != 0 {
		t.Fatalf("drops %v", d)
	}
}
