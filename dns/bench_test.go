package dns

import (
	"net/netip"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

func benchServer(b *testing.B) *Server {
	return New(Config{Gateway: netip.MustParsePrefix("192.168.122.1/24"), Domain: "lab", RateLimit: 1 << 30,
		Hosts: []Host{{Name: "db", IP: netip.MustParseAddr("192.168.122.30")}}, ResolvConf: b.TempDir() + "/none",
		Deliver: func(Answer) {}})
}

// BenchmarkQuery is the gateway writer's share of a query: the checks,
// the rate limit and the copy into a job on the queue.
func BenchmarkQuery(b *testing.B) {
	s := benchServer(b)
	q, _ := query("db.lab.", mdns.TypeA).Pack()
	now := time.Now()
	benchHandOver(b, s, func() { s.Query(guestMAC, guest, q, now) })
}

// benchHandOver runs handOver, one hand-over to s, in b's loop, taking
// the jobs back off the queue between rounds as the server's goroutine
// would; any drop fails it.
func benchHandOver(b *testing.B, s *Server, handOver func()) {
	var batch [256]*job
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		handOver()
		if i%256 == 255 {
			for _, j := range batch[:s.q.Take(batch[:])] {
				s.free.Put(j)
			}
		}
	}
	if d := s.Stats().Drops; d != ([NumDrops]uint64{}) {
		b.Fatalf("drops %v", d)
	}
}

// BenchmarkResolveLocal is the server goroutine's cost of a local answer
// (parse, look up, pack): off the frame path.
func BenchmarkResolveLocal(b *testing.B) {
	s := benchServer(b)
	q, _ := query("db.lab.", mdns.TypeA).Pack()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		s.resolve(client{mac: guestMAC, src: guest}, q, now)
	}
}

// BenchmarkSegment is the gateway writer's share of a TCP segment to port
// 53, per family: the same checks, rate limit and copy as a query.
func BenchmarkSegment(b *testing.B) {
	for _, src := range []netip.AddrPort{guest, guest6} {
		name := "ipv4"
		if src.Addr().Is6() {
			name = "ipv6"
		}
		b.Run(name, func(b *testing.B) {
			s := New(Config{Gateway: netip.MustParsePrefix("192.168.122.1/24"), Gateway6: gw6, RateLimit: 1 << 30,
				ResolvConf: b.TempDir() + "/none", Deliver: func(Answer) {}, DeliverTCP: func(TCPSegment) {}})
			seg := segment(src.Port(), isn, 0, 0x02, 65535, mss536, nil)
			now := time.Now()
			benchHandOver(b, s, func() { s.Segment(guestMAC, src, seg, now) })
		})
	}
}
