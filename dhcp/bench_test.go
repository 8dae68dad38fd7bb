package dhcp

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// floodClients is how many distinct clients BenchmarkRequestFlood cycles
// through: enough that consecutive REQUESTs never share a client, few
// enough that the lease file stays the same size throughout.
const floodClients = 256

// BenchmarkRequestFlood measures what Handle costs the caller's goroutine
// for REQUESTs of distinct clients (INIT-REBOOT, each asking for its own
// address) with the lease store on disk: sync writes the file in Handle,
// deliver leaves it to the store goroutine. With deliver, acks/op says
// how many were written and acknowledged, busy/op how many found
// maxPending already waiting.
func BenchmarkRequestFlood(b *testing.B) {
	cfg := Config{Network: "n", Gateway: netip.MustParsePrefix("10.9.0.1/16"), RangeStart: netip.MustParseAddr("10.9.1.0"),
		RangeEnd: netip.MustParseAddr("10.9.1.255"), Lease: time.Hour}
	msgs := make([]pkt.DHCP, floodClients)
	for i := range msgs {
		ip := netip.AddrFrom4([4]byte{10, 9, 1, byte(i)})
		msgs[i] = msg{typ: pkt.DHCPRequest, mac: pkt.MAC{0x52, 0x54, 0, 0, 1, byte(i)}, reqIP: ip}.bytes()
	}
	b.Run("sync", func(b *testing.B) {
		st, err := OpenStore(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		s := NewServer(cfg, st)
		s.rate.interval = 0 // the lookup runs; 256 clients this fast would be over the rate
		buf := make([]byte, 1500)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := s.Handle(msgs[i%floodClients], buf); !ok {
				b.Fatal("no ACK")
			}
			i++
		}
	})
	b.Run("deliver", func(b *testing.B) {
		st, err := OpenStore(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		var acks atomic.Int64
		c := cfg
		c.Deliver = func(Reply) { acks.Add(1) }
		s := NewServer(c, st)
		s.rate.interval = 0
		buf := make([]byte, 1500)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := s.Handle(msgs[i%floodClients], buf); ok {
				b.Fatal("answered at once")
			}
			i++
		}
		st.Close()
		b.ReportMetric(float64(acks.Load())/float64(i), "acks/op")
		b.ReportMetric(float64(s.Drops()[DropStoreBusy])/float64(i), "busy/op")
		if int(acks.Load())+int(s.Drops()[DropStoreBusy]) != i {
			b.Fatalf("%d REQUESTs, %d acks, drops %v", i, acks.Load(), s.Drops())
		}
	})
}

// BenchmarkRateLimited is what a guest over its rate costs the gateway's
// writer goroutine per DHCP message.
func BenchmarkRateLimited(b *testing.B) {
	cfg := Config{Network: "n", Gateway: netip.MustParsePrefix("10.9.0.1/24"), RangeStart: netip.MustParseAddr("10.9.0.10"),
		RangeEnd: netip.MustParseAddr("10.9.0.20")}
	s := NewServer(cfg, nil)
	m := msg{typ: pkt.DHCPDiscover, mac: pkt.MAC{0x52, 0x54, 0, 0, 1, 1}, clientID: []byte{1, 2, 3}}.bytes()
	buf := make([]byte, 1500)
	b.ReportAllocs()
	for b.Loop() {
		s.Handle(m, buf)
	}
	if s.Drops()[DropRateLimited] == 0 {
		b.Fatal("never limited")
	}
}

// BenchmarkRenew is a bound client's RENEWING REQUEST and its ACK, with
// no store: the server's own cost per request.
func BenchmarkRenew(b *testing.B) {
	cfg := Config{Network: "n", Gateway: netip.MustParsePrefix("10.9.0.1/24"), RangeStart: netip.MustParseAddr("10.9.0.10"),
		RangeEnd: netip.MustParseAddr("10.9.0.20")}
	for _, tc := range []struct {
		name string
		m    msg
	}{
		{"chaddr", msg{typ: pkt.DHCPRequest, mac: pkt.MAC{0x52, 0x54, 0, 0, 1, 1}, ciaddr: netip.MustParseAddr("10.9.0.10")}},
		{"client-id+hostname", msg{typ: pkt.DHCPRequest, mac: pkt.MAC{0x52, 0x54, 0, 0, 1, 1}, ciaddr: netip.MustParseAddr("10.9.0.10"),
			clientID: []byte{1, 0x52, 0x54, 0, 0, 1, 1}, hostname: []byte("vm1")}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := NewServer(cfg, nil)
			s.rate.interval = 0
			buf := make([]byte, 1500)
			boot := tc.m
			boot.ciaddr, boot.reqIP = netip.Addr{}, netip.MustParseAddr("10.9.0.10")
			if _, ok := s.Handle(boot.bytes(), buf); !ok {
				b.Fatal("no ACK for the first REQUEST")
			}
			m := tc.m.bytes()
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := s.Handle(m, buf); !ok {
					b.Fatal("no ACK")
				}
			}
		})
	}
}
