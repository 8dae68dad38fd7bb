package dns

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

var (
	guestMAC = pkt.MAC{0x52, 0x54, 0, 0, 0, 0x20}
	guest    = netip.MustParseAddrPort("192.168.122.20:40000")
)

// upstream is a fake DNS server on loopback: answer makes the reply (nil:
// none), seen counts the queries it got.
type upstream struct {
	conn *net.UDPConn
	seen atomic.Int64
	last atomic.Pointer[mdns.Msg]
}

func newUpstream(t *testing.T, answer func(q *mdns.Msg) *mdns.Msg) *upstream {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{conn: c}
	testnet.ServeUDP(t, c, func(_ net.Addr, b []byte) []byte {
		q := new(mdns.Msg)
		if q.Unpack(b) != nil {
			return nil
		}
		u.seen.Add(1)
		u.last.Store(q)
		r := answer(q)
		if r == nil {
			return nil
		}
		out, err := r.Pack()
		if err != nil {
			t.Errorf("upstream: packing its answer: %v", err)
			return nil
		}
		return out
	})
	return u
}

func (u *upstream) addr() netip.AddrPort { return u.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// answerA answers every A query with 198.51.100.7, TTL ttl.
func answerA(ttl uint32) func(q *mdns.Msg) *mdns.Msg {
	return func(q *mdns.Msg) *mdns.Msg {
		r := new(mdns.Msg)
		r.SetReply(q)
		if q.Question[0].Qtype == mdns.TypeA {
			r.Answer = append(r.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: q.Question[0].Name, Rrtype: mdns.TypeA,
				Class: mdns.ClassINET, Ttl: ttl}, A: net.IPv4(198, 51, 100, 7)})
		}
		if opt := q.IsEdns0(); opt != nil {
			r.SetEdns0(opt.UDPSize(), false)
		}
		return r
	}
}

type harness struct {
	s   *Server
	out chan Answer
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{out: make(chan Answer, 4096)}
	cfg.Deliver = func(a Answer) {
		a.Msg = append([]byte(nil), a.Msg...)
		h.out <- a
	}
	h.s = serve(t, cfg)
	return h
}

// serve starts a server of cfg, closed at the end of the test, on the lab
// network 192.168.122.0/24, domain lab, and an empty resolv.conf (never
// the host's) where cfg leaves them unset.
func serve(t *testing.T, cfg Config) *Server {
	if !cfg.Gateway.IsValid() {
		cfg.Gateway = netip.MustParsePrefix("192.168.122.1/24")
	}
	if cfg.Domain == "" {
		cfg.Domain = "lab"
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = t.TempDir() + "/none"
	}
	s := New(cfg)
	s.Start()
	t.Cleanup(func() { s.Close() })
	return s
}

func query(name string, t uint16) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetQuestion(name, t)
	return m
}

func (h *harness) send(t *testing.T, m *mdns.Msg, src netip.AddrPort) {
	t.Helper()
	h.sendAt(t, m, src, time.Now())
}

// sendAt is send with the gateway's clock at now.
func (h *harness) sendAt(t *testing.T, m *mdns.Msg, src netip.AddrPort, now time.Time) {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	h.s.Query(guestMAC, src, b, now)
}

// ask sends m from the guest and returns the parsed answer.
func (h *harness) ask(t *testing.T, m *mdns.Msg) *mdns.Msg {
	t.Helper()
	h.send(t, m, guest)
	return h.recv(t, 5*time.Second)
}

func (h *harness) recv(t *testing.T, wait time.Duration) *mdns.Msg {
	t.Helper()
	a := testnet.Recv(t, h.out, wait, "an answer")
	if a.DstMAC != guestMAC || a.Dst != guest {
		t.Fatalf("answer to %s %s, want %s %s", a.DstMAC, a.Dst, guestMAC, guest)
	}
	r := new(mdns.Msg)
	if err := r.Unpack(a.Msg); err != nil {
		t.Fatalf("answer does not parse: %v", err)
	}
	return r
}

// summary is an answer in one line: rcode and the answer records' data.
func summary(r *mdns.Msg) string {
	s := []string{mdns.RcodeToString[r.Rcode]}
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *mdns.A:
			s = append(s, "A "+v.A.String())
		case *mdns.PTR:
			s = append(s, "PTR "+v.Ptr)
		default:
			s = append(s, rr.String())
		}
	}
	if r.Truncated {
		s = append(s, "TC")
	}
	return strings.Join(s, " ")
}

func TestLocalNames(t *testing.T) {
	now := time.Now()
	var leases atomic.Pointer[[]Host]
	leases.Store(&[]Host{
		{Name: "Leased", IP: netip.MustParseAddr("192.168.122.50"), Expiry: now.Add(time.Hour)},
		{Name: "gone", IP: netip.MustParseAddr("192.168.122.51"), Expiry: now.Add(-time.Second)},
		{Name: "web", IP: netip.MustParseAddr("192.168.122.52"), Expiry: now.Add(time.Hour)}, // static wins
	})
	up := newUpstream(t, answerA(60))
	h := newHarness(t, Config{
		Hosts: []Host{
			{Name: "db", IP: netip.MustParseAddr("192.168.122.30")},
			{Name: "web", IP: netip.MustParseAddr("192.168.122.10")},
		},
		Leases:     func() []Host { return *leases.Load() },
		Forwarders: []netip.AddrPort{up.addr()},
	})
	tests := []struct {
		name  string
		qname string
		qtype uint16
		want  string
	}{
		{"dns.hosts A", "db.lab.", mdns.TypeA, "NOERROR A 192.168.122.30"},
		{"dhcp.hosts A", "web.lab.", mdns.TypeA, "NOERROR A 192.168.122.10"},
		{"leased A, any case", "leaSED.Lab.", mdns.TypeA, "NOERROR A 192.168.122.50"},
		{"bare name", "db.", mdns.TypeA, "NOERROR A 192.168.122.30"},
		{"expired lease", "gone.lab.", mdns.TypeA, "NXDOMAIN"},
		{"unknown local", "nope.lab.", mdns.TypeA, "NXDOMAIN"},
		{"deeper local", "a.b.lab.", mdns.TypeA, "NXDOMAIN"},
		{"unknown local, not an address", "nope.lab.", mdns.TypeMX, "NXDOMAIN"},
		{"unknown bare", "nope.", mdns.TypeA, "NXDOMAIN"},
		{"AAAA of a local name", "db.lab.", mdns.TypeAAAA, "NOERROR"},
		{"the domain", "lab.", mdns.TypeSOA, "NOERROR"},
		{"PTR dns.hosts", "30.122.168.192.in-addr.arpa.", mdns.TypePTR, "NOERROR PTR db.lab."},
		{"PTR lease", "50.122.168.192.in-addr.arpa.", mdns.TypePTR, "NOERROR PTR leased.lab."},
		{"PTR of a name static took", "52.122.168.192.in-addr.arpa.", mdns.TypePTR, "NXDOMAIN"},
		{"PTR expired", "51.122.168.192.in-addr.arpa.", mdns.TypePTR, "NXDOMAIN"},
		{"PTR unknown in prefix", "99.122.168.192.in-addr.arpa.", mdns.TypePTR, "NXDOMAIN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.ask(t, query(tc.qname, tc.qtype))
			if got := summary(r); got != tc.want {
				t.Errorf("%s %s: %q, want %q", tc.qname, mdns.TypeToString[tc.qtype], got, tc.want)
			}
			if r.Rcode == mdns.RcodeSuccess && !r.Authoritative {
				t.Errorf("local answer without AA")
			}
		})
	}
	if n := up.seen.Load(); n != 0 {
		t.Fatalf("upstream saw %d local queries", n)
	}
	// Sentinel: a name outside reaches upstream, exactly once.
	if got := summary(h.ask(t, query("example.org.", mdns.TypeA))); got != "NOERROR A 198.51.100.7" {
		t.Fatalf("forwarded: %q", got)
	}
	if n := up.seen.Load(); n != 1 {
		t.Fatalf("upstream saw %d queries, want 1", n)
	}
	st := h.s.Stats()
	if st.Results[ResultLocal] != uint64(len(tests)) || st.Results[ResultForwarded] != 1 {
		t.Fatalf("results %v", st.Results)
	}
	// The lease ends: the name goes within the re-read second.
	leases.Store(&[]Host{})
	time.Sleep(1100 * time.Millisecond)
	if got := summary(h.ask(t, query("leased.lab.", mdns.TypeA))); got != "NXDOMAIN" {
		t.Fatalf("after the lease ended: %q", got)
	}
}

func TestNoDomain(t *testing.T) {
	h := newHarness(t, Config{Domain: ".", Hosts: []Host{{Name: "db", IP: netip.MustParseAddr("192.168.122.30")}}})
	h.s.local.domain = "" // as with no dhcp.domain
	for q, want := range map[string]string{
		"db.":                          "NOERROR A 192.168.122.30",
		"30.122.168.192.in-addr.arpa.": "",
	} {
		r := h.ask(t, query(q, mdns.TypeA))
		if want != "" && summary(r) != want {
			t.Errorf("%s: %q, want %q", q, summary(r), want)
		}
	}
	r := h.ask(t, query("30.122.168.192.in-addr.arpa.", mdns.TypePTR))
	if got := summary(r); got != "NOERROR PTR db." {
		t.Errorf("PTR: %q", got)
	}
}

func TestDrops(t *testing.T) {
	h := newHarness(t, Config{Hosts: []Host{{Name: "db", IP: netip.MustParseAddr("192.168.122.30")}}})
	ok, _ := query("db.lab.", mdns.TypeA).Pack()
	resp := query("db.lab.", mdns.TypeA)
	resp.Response = true
	rb, _ := resp.Pack()
	two := query("db.lab.", mdns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	tb, _ := two.Pack()
	tests := []struct {
		name string
		src  string
		msg  []byte
		want DropReason
	}{
		{"outside the prefix", "10.0.0.1:1000", ok, DropOutsidePrefix},
		{"the gateway itself", "192.168.122.1:1000", ok, DropOutsidePrefix},
		{"broadcast source", "192.168.122.255:1000", ok, DropOutsidePrefix},
		{"port 0", "192.168.122.20:0", ok, DropOutsidePrefix},
		{"IPv6 on a network without address6", "[fd00:122::5]:1000", ok, DropOutsidePrefix},
		{"short", guest.String(), ok[:11], DropMalformed},
		{"garbage", guest.String(), []byte("this is not a DNS message at all"), DropMalformed},
		{"a response", guest.String(), rb, DropNotQuery},
		{"two questions", guest.String(), tb, DropMalformed},
		{"too long", guest.String(), make([]byte, maxQueryLen+1), DropMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.s.Stats().Drops
			h.s.Query(guestMAC, netip.MustParseAddrPort(tc.src), tc.msg, time.Now())
			// Sentinel: an honest query is answered after it, so the
			// server has handled the bad one.
			if got := summary(h.ask(t, query("db.lab.", mdns.TypeA))); got != "NOERROR A 192.168.122.30" {
				t.Fatalf("honest query: %q", got)
			}
			after := h.s.Stats().Drops
			for r := range NumDrops {
				want := before[r]
				if r == tc.want {
					want++
				}
				if after[r] != want {
					t.Errorf("drops[%s] = %d, want %d", r, after[r], want)
				}
			}
		})
	}
	select {
	case a := <-h.out:
		t.Fatalf("a dropped query was answered: % x", a.Msg)
	default:
	}
}

func TestForwardCache(t *testing.T) {
	up := newUpstream(t, answerA(300))
	h := newHarness(t, Config{Forwarders: []netip.AddrPort{up.addr()}})
	q := query("Example.ORG.", mdns.TypeA)
	q.Id = 0x1234
	r := h.ask(t, q)
	if r.Id != 0x1234 || summary(r) != "NOERROR A 198.51.100.7" || r.Answer[0].Header().Ttl != 300 {
		t.Fatalf("forwarded: id %#x %q %v", r.Id, summary(r), r.Answer)
	}
	if up.last.Load().Id == 0x1234 && up.last.Load().Id == r.Id {
		t.Logf("upstream saw the client's ID (1 in 65536)")
	}
	// Shift the cache's clock: the entry is 100 s old.
	h.s.cache.mu.Lock()
	for _, e := range h.s.cache.m {
		e.stored = e.stored.Add(-100 * time.Second)
	}
	h.s.cache.mu.Unlock()
	q.Id = 0x4321
	q.Question[0].Name = "example.org."
	r = h.ask(t, q)
	if r.Id != 0x4321 || summary(r) != "NOERROR A 198.51.100.7" {
		t.Fatalf("cached: id %#x %q", r.Id, summary(r))
	}
	if ttl := r.Answer[0].Header().Ttl; ttl != 200 && ttl != 199 {
		t.Fatalf("cached TTL %d, want 200", ttl)
	}
	if n := up.seen.Load(); n != 1 {
		t.Fatalf("upstream saw %d, want 1", n)
	}
	st := h.s.Stats()
	if st.Results[ResultForwarded] != 1 || st.Results[ResultCached] != 1 || st.Queries[QTypeA] != 2 {
		t.Fatalf("stats %+v", st)
	}
	var lat uint64
	for _, c := range st.Latency {
		lat += c
	}
	if lat != 1 {
		t.Fatalf("latency observations %d, want 1", lat)
	}
}

func TestEDNSPassThrough(t *testing.T) {
	// 60 A records: about 1 KB, more than 512.
	up := newUpstream(t, func(q *mdns.Msg) *mdns.Msg {
		r := new(mdns.Msg)
		r.SetReply(q)
		for i := range 60 {
			r.Answer = append(r.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: q.Question[0].Name, Rrtype: mdns.TypeA,
				Class: mdns.ClassINET, Ttl: 60}, A: net.IPv4(198, 51, 100, byte(i))})
		}
		size := 512
		if opt := q.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
			r.SetEdns0(opt.UDPSize(), false)
		}
		r.Truncate(size)
		return r
	})
	h := newHarness(t, Config{Forwarders: []netip.AddrPort{up.addr()}})
	q := query("big.example.", mdns.TypeA)
	q.SetEdns0(4096, true)
	r := h.ask(t, q)
	if len(r.Answer) != 60 || r.Truncated || r.IsEdns0() == nil {
		t.Fatalf("EDNS0: %d answers, TC %v, OPT %v", len(r.Answer), r.Truncated, r.IsEdns0())
	}
	opt := up.last.Load().IsEdns0()
	if opt == nil || opt.UDPSize() != maxUDPLen || !opt.Do() {
		t.Fatalf("upstream got OPT %v, want size %d with DO", opt, maxUDPLen)
	}
	r = h.ask(t, query("big.example.", mdns.TypeA))
	if !r.Truncated || len(r.Answer) >= 60 {
		t.Fatalf("without EDNS0: %d answers, TC %v", len(r.Answer), r.Truncated)
	}
}

func TestUpstreamDown(t *testing.T) {
	// A server that never answers, and a port nobody listens on.
	silent := newUpstream(t, func(*mdns.Msg) *mdns.Msg { return nil })
	c, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	closed := c.LocalAddr().(*net.UDPAddr).AddrPort()
	c.Close()
	for _, tc := range []struct {
		name string
		fw   []netip.AddrPort
	}{{"silent", []netip.AddrPort{silent.addr()}}, {"closed port", []netip.AddrPort{closed}}, {"both", []netip.AddrPort{closed, silent.addr()}}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{Forwarders: tc.fw, Timeout: 500 * time.Millisecond})
			start := time.Now()
			r := h.ask(t, query("example.org.", mdns.TypeA))
			if d := time.Since(start); summary(r) != "SERVFAIL" || d > 2*time.Second {
				t.Fatalf("%q after %v, want SERVFAIL within 2s (timeout 0.5s)", summary(r), d)
			}
			if st := h.s.Stats(); st.Results[ResultServfail] != 1 {
				t.Fatalf("results %v", st.Results)
			}
		})
	}
}

func TestForwarderFailover(t *testing.T) {
	// A forwarder answering SERVFAIL (or REFUSED) is passed over.
	for _, rcode := range []int{mdns.RcodeServerFailure, mdns.RcodeRefused} {
		bad := newUpstream(t, func(q *mdns.Msg) *mdns.Msg { return new(mdns.Msg).SetRcode(q, rcode) })
		good := newUpstream(t, answerA(60))
		h := newHarness(t, Config{Forwarders: []netip.AddrPort{bad.addr(), good.addr()}})
		if got := summary(h.ask(t, query("example.org.", mdns.TypeA))); got != "NOERROR A 198.51.100.7" {
			t.Fatalf("after a %s: %q", mdns.RcodeToString[rcode], got)
		}
		if bad.seen.Load() != 1 || good.seen.Load() != 1 {
			t.Fatalf("queries: bad %d good %d", bad.seen.Load(), good.seen.Load())
		}
	}
}

func TestRateLimit(t *testing.T) {
	h := newHarness(t, Config{RateLimit: 5, Hosts: []Host{{Name: "db", IP: netip.MustParseAddr("192.168.122.30")}}})
	now := time.Now()
	for range 30 {
		h.sendAt(t, query("db.lab.", mdns.TypeA), guest, now)
	}
	// Positive control, and the sentinel: another guest is answered.
	other := netip.MustParseAddrPort("192.168.122.21:5353")
	h.sendAt(t, query("db.lab.", mdns.TypeA), other, now)
	got := 0
	for a := range h.out {
		if a.Dst == other {
			break
		}
		got++
	}
	// A burst of twice the rate.
	if got != 10 {
		t.Fatalf("%d of 30 answered, want 10", got)
	}
	if d := h.s.Stats().Drops[DropRateLimited]; int(d) != 30-got {
		t.Fatalf("ratelimit drops %d, want %d", d, 30-got)
	}
}

func TestInflightBound(t *testing.T) {
	silent := newUpstream(t, func(*mdns.Msg) *mdns.Msg { return nil })
	h := newHarness(t, Config{MaxInflight: 3, Forwarders: []netip.AddrPort{silent.addr()}, Timeout: 2 * time.Second})
	for i := range 5 {
		h.send(t, query("n"+string(rune('a'+i))+".example.", mdns.TypeA), guest)
	}
	for range 3 {
		if r := h.recv(t, 10*time.Second); r.Rcode != mdns.RcodeServerFailure {
			t.Fatalf("rcode %d", r.Rcode)
		}
	}
	st := h.s.Stats()
	if st.Drops[DropInflightFull] != 2 || st.Results[ResultServfail] != 3 || silent.seen.Load() != 3 {
		t.Fatalf("drops %v results %v upstream saw %d", st.Drops, st.Results, silent.seen.Load())
	}
}

func TestResolvConf(t *testing.T) {
	up := newUpstream(t, answerA(0))
	path := t.TempDir() + "/resolv.conf"
	h := newHarness(t, Config{ResolvConf: path})
	if got := summary(h.ask(t, query("example.org.", mdns.TypeA))); got != "REFUSED" {
		t.Fatalf("no resolv.conf: %q", got)
	}
	a := up.addr()
	if a.Port() != 53 {
		// resolv.conf has no ports: point the parsed entry at the fake.
		writeFile(t, path, "# test\nnameserver 127.0.0.1\noptions edns0\n")
		time.Sleep(1100 * time.Millisecond)
		if got := h.s.up.servers(time.Now()); len(got) != 1 || got[0] != netip.MustParseAddrPort("127.0.0.1:53") {
			t.Fatalf("servers %v", got)
		}
		h.s.up.mu.Lock()
		h.s.up.list = []netip.AddrPort{a}
		h.s.up.mu.Unlock()
	}
	if got := summary(h.ask(t, query("example.org.", mdns.TypeA))); got != "NOERROR A 198.51.100.7" {
		t.Fatalf("with resolv.conf: %q", got)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParseResolvConf(t *testing.T) {
	got := ParseResolvConf([]byte("search lab\nnameserver 10.0.0.1\nnameserver  fd00::1\nnameserver bogus\n#nameserver 1.1.1.1\n"))
	want := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:53"), netip.MustParseAddrPort("[fd00::1]:53")}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("%v, want %v", got, want)
	}
}
