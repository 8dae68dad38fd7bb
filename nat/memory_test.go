package nat

import (
	"net/netip"
	"runtime"
	"testing"
)

// BenchmarkMemoryPer100k reports the live heap a table holds per 100,000
// tracked UDP flows (issue 21's "RSS per 100k conntrack entries"): 25
// guests of 4,000 flows each (each guest to its own remote port: one
// remote port has 28,232 outside ports), translated out once, then the
// heap measured after a collection with the table still referenced.
func BenchmarkMemoryPer100k(b *testing.B) {
	const guests, perGuest = 25, 4000
	for b.Loop() {
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		tb := New(Config{MaxEntries: guests * perGuest, MaxPerSource: perGuest})
		for g := range guests {
			src := netip.AddrFrom4([4]byte{192, 168, 122, byte(10 + g)})
			for p := range perGuest {
				pk := rawPacket(protoUDP, src, remote, uint16(10000+p), uint16(1000+g), false)
				if v, _ := tb.Outbound(Packet{IP: pk}, uplink, now); v != Translated {
					b.Fatalf("guest %d flow %d: %v", g, p, v)
				}
			}
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if n := tb.Len(); n != guests*perGuest {
			b.Fatalf("table holds %d flows, want %d", n, guests*perGuest)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB/100k-flows")
		runtime.KeepAlive(tb)
		b.StartTimer()
	}
}
