package dhcp

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// durableClient is client i of BenchmarkDurableLeases: its MAC and the
// address its lease has.
func durableClient(i int) (pkt.MAC, netip.Addr) {
	return pkt.MAC{0x52, 0x54, 0, 1, byte(i >> 8), byte(i)}, netip.AddrFrom4([4]byte{10, 9, byte(1 + i>>8), byte(i)})
}

// BenchmarkDurableLeases measures acknowledged leases per second with
// the store on disk, as perfdhcp drives a server: a closed loop of
// inflight clients, each sending its next REQUEST when its ACK (written
// and synced) arrives. The network holds `leases` bound leases, each
// REQUEST renews one of them (INIT-REBOOT), so the file's size stays
// put. What bounds it is the cost of one durable write and how many
// leases one write covers.
func BenchmarkDurableLeases(b *testing.B) {
	for _, leases := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("leases=%d", leases), func(b *testing.B) {
			dir := b.TempDir()
			st, err := OpenStore(dir)
			if err != nil {
				b.Fatal(err)
			}
			cfg := Config{Network: "n", Gateway: netip.MustParsePrefix("10.9.0.1/16"), RangeStart: netip.MustParseAddr("10.9.1.0"),
				RangeEnd: netip.MustParseAddr("10.9.255.254"), Lease: time.Hour}
			exp := time.Now().Add(time.Hour)
			var all []Lease
			msgs := make([]pkt.DHCP, leases)
			for i := range leases {
				m, ip := durableClient(i)
				all = append(all, Lease{Network: "n", ClientID: "mac:" + m.String(), MAC: m.String(), IP: ip, Expiry: exp, State: "bound"})
				msgs[i] = msg{typ: pkt.DHCPRequest, mac: m, reqIP: ip}.bytes()
			}
			if err := st.Save("n", all); err != nil {
				b.Fatal(err)
			}
			// Half of what may wait for the disk: an ACK hands its token back
			// before its commit is free again.
			const inflight = maxPending / 2
			// Each ACK lets the sender, a goroutine of its own as perfdhcp
			// is, send the next REQUEST.
			var acked atomic.Int64
			tokens := make(chan struct{}, inflight)
			cfg.Deliver = func(Reply) {
				acked.Add(1)
				tokens <- struct{}{}
			}
			s := NewServer(cfg, st)
			s.rate.interval = 0
			for range inflight {
				tokens <- struct{}{}
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			buf := make([]byte, 1500)
			for i := range b.N {
				select {
				case <-tokens:
				case <-time.After(time.Minute):
					b.Fatalf("%d of %d acked, drops %v", acked.Load(), i, s.Drops())
				}
				s.Handle(msgs[i%leases], buf)
			}
			for acked.Load()+int64(s.Drops()[DropStoreBusy]) < int64(b.N) {
				time.Sleep(time.Millisecond)
			}
			el := time.Since(start)
			b.StopTimer()
			st.Close()
			b.ReportMetric(float64(acked.Load())/el.Seconds(), "leases/s")
			b.ReportMetric(float64(s.Drops()[DropStoreBusy])/float64(b.N), "busy/op")
		})
	}
}

// BenchmarkLoad100k is a start with 100,000 leases in the file: reading
// and parsing it (OpenStore) and building the server's tables (NewServer).
func BenchmarkLoad100k(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	st, err := OpenStore(dir)
	if err != nil {
		b.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	all := make([]Lease, n)
	for i := range all {
		m := pkt.MAC{0x52, 0x54, 0, byte(i >> 16), byte(i >> 8), byte(i)}
		all[i] = Lease{Network: "n", ClientID: "mac:" + m.String(), MAC: m.String(), Hostname: "vm",
			IP: netip.AddrFrom4([4]byte{10, byte(1 + i>>16), byte(i >> 8), byte(i)}), Expiry: exp, State: "bound"}
	}
	if err := st.Save("n", all); err != nil {
		b.Fatal(err)
	}
	cfg := Config{Network: "n", Gateway: netip.MustParsePrefix("10.0.0.1/8"), RangeStart: netip.MustParseAddr("10.1.0.0"),
		RangeEnd: netip.MustParseAddr("10.2.255.255")}
	b.ReportAllocs()
	var s *Server
	for b.Loop() {
		st, err := OpenStore(dir)
		if err != nil {
			b.Fatal(err)
		}
		if s = NewServer(cfg, st); len(s.byClient) != n {
			b.Fatalf("%d leases loaded", len(s.byClient))
		}
	}
	// What a lease costs the server kept in memory: its tables, without
	// the store's copy (which a store shares among networks).
	b.StopTimer()
	var m0, m1 runtime.MemStats
	s = nil
	runtime.GC()
	runtime.ReadMemStats(&m0)
	st2, _ := OpenStore(dir)
	s = NewServer(cfg, st2)
	st2.nets = nil
	runtime.GC()
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(m1.HeapInuse-m0.HeapInuse)/n, "heap-B/lease")
	runtime.KeepAlive(s)
}
