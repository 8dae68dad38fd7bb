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
// the rate limit and the copy into a job on the queue (taken back off it
// between rounds, as the server's goroutine would).
func BenchmarkQuery(b *testing.B) {
	s := benchServer(b)
	q, _ := query("db.lab.", mdns.TypeA).Pack()
	now := time.Now()
	var batch [256]*job
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Query(guestMAC, guest, q, now)
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
