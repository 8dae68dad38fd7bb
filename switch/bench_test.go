package vswitch

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// benchSwitch builds a switch whose ports have no goroutines, so a
// benchmark can drive ingress and drain the egress queues itself.
func benchSwitch(b testing.TB, pcs ...PortConfig) (*Switch, []*swPort) {
	s := New(Config{})
	b.Cleanup(func() { s.Close() })
	var ports []*swPort
	topo := s.topo.Load()
	for _, pc := range pcs {
		if pc.Queue == 0 {
			pc.Queue = DefaultQueue
		}
		p := newSwPort(pc, newMemPort())
		p.exited.Add(-2) // no goroutines to wait for
		topo = topo.with(p, nil)
		ports = append(ports, p)
	}
	s.topo.Store(topo)
	return s, ports
}

// benchForward runs batches of the frame tmpl from port in through ingress
// and drains every other port, recycling frames through the pool as the
// real reader and writer do.
func benchForward(b *testing.B, s *Switch, ports []*swPort, in int, tmpl []byte) {
	b.SetBytes(int64(len(tmpl)))
	benchMix(b, s, ports, in, func(int) []byte { return tmpl })
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mframes/s")
}

// BenchmarkForwardUnicast is the steady state of one flow: a known
// destination on an access port.
func BenchmarkForwardUnicast(b *testing.B) {
	s, ports := benchSwitch(b, access("a", 1), access("b", 1))
	s.fdb.learn(ports[1], 1, mac(2), time.Now().Unix())
	benchForward(b, s, ports, 0, frame(mac(2), mac(1)))
}

// BenchmarkForwardTrunkToAccess pops a tag on ingress.
func BenchmarkForwardTrunkToAccess(b *testing.B) {
	s, ports := benchSwitch(b, trunk("t", 0, 10, 20), access("b", 20))
	s.fdb.learn(ports[1], 20, mac(2), time.Now().Unix())
	benchForward(b, s, ports, 0, tagged(mac(2), mac(1), 20))
}

// BenchmarkForwardAccessToTrunk pushes a tag on egress.
func BenchmarkForwardAccessToTrunk(b *testing.B) {
	s, ports := benchSwitch(b, access("a", 20), trunk("t", 0, 10, 20))
	s.fdb.learn(ports[1], 20, mac(2), time.Now().Unix())
	benchForward(b, s, ports, 0, frame(mac(2), mac(1)))
}

// BenchmarkFlood4 floods a broadcast to three other ports (two copies).
func BenchmarkFlood4(b *testing.B) {
	s, ports := benchSwitch(b, access("a", 1), access("b", 1), access("c", 1), access("d", 1))
	benchForward(b, s, ports, 0, frame(pkt.Broadcast, mac(1)))
}

// BenchmarkFDBLookup is one lock-free read of a 4096-entry table.
func BenchmarkFDBLookup(b *testing.B) {
	s, ports := benchSwitch(b, access("a", 1))
	now := time.Now().Unix()
	for i := 0; i < 4096; i++ {
		s.fdb.learn(ports[0], 1, pkt.MACFromUint64(0x525400000000+uint64(i)), now)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := uint64(0)
		for pb.Next() {
			if s.fdb.lookup(1, pkt.MACFromUint64(0x525400000000+i&4095)) == nil {
				b.Fatal("miss")
			}
			i++
		}
	})
}

// BenchmarkForwardUnicastCaptured is BenchmarkForwardUnicast with a
// capture attached to the ingress port, drained as fast as a reader can.
func BenchmarkForwardUnicastCaptured(b *testing.B) {
	s, ports := benchSwitch(b, access("a", 1), access("b", 1))
	s.fdb.learn(ports[1], 1, mac(2), time.Now().Unix())
	c, err := s.StartCapture("a")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	frames := make([]*Frame, BatchSize)
	for i := range frames {
		frames[i] = NewFrame()
	}
	out := make([]*Frame, BatchSize)
	tmpl := frame(mac(2), mac(1))
	now := time.Now()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if n == 0 {
			for _, f := range frames {
				f.reset()
				f.SetData(tmpl)
			}
		}
		n++
		if n == BatchSize {
			// What readLoop does: one atomic load per batch, a copy per frame.
			if list := ports[0].caps.Load(); list != nil {
				for _, f := range frames {
					captureFrame(*list, f, now.UnixNano())
				}
			}
			s.ingress(ports[0], frames, now.Unix())
			for k := ports[1].q.Take(out); k > 0; k = ports[1].q.Take(out) {
				for _, f := range out[:k] {
					f.Release()
				}
			}
			for k := c.q.Take(out); k > 0; k = c.q.Take(out) {
				for _, f := range out[:k] {
					f.Release()
				}
			}
			n = 0
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mframes/s")
}

// BenchmarkForwardMulticast is a group stream with snooping: two members
// of 16 ports, one router port, on a table of 1000 groups; "off" is the
// same stream with snooping off, flooded to the 15 other ports.
func BenchmarkForwardMulticast(b *testing.B) {
	for _, tc := range []struct {
		name  string
		group string
	}{{"igmp", "239.1.2.3"}, {"mld", "ff15::1"}, {"unregistered", "239.200.0.1"}, {"off", "239.1.2.3"}} {
		b.Run(tc.name, func(b *testing.B) {
			var pcs []PortConfig
			for i := range 16 {
				pcs = append(pcs, access(string(rune('a'+i)), 1))
			}
			s, ports := mcastSwitch(b, pcs...)
			now := time.Now().Unix()
			inject(s, ports, 0, query4(), now-2)
			inject(s, ports, 0, query6(), now-2)
			g := addr(tc.group)
			for i := range 1000 {
				s.mdb.join(ports[3+i%10], keyOf(1, netip.AddrFrom4([4]byte{239, 0, byte(i >> 8), byte(i)})), now)
			}
			s.mdb.join(ports[2], keyOf(1, addr("239.1.2.3")), now)
			s.mdb.join(ports[5], keyOf(1, addr("239.1.2.3")), now)
			s.mdb.join(ports[2], keyOf(1, addr("ff15::1")), now)
			s.mdb.join(ports[5], keyOf(1, addr("ff15::1")), now)
			if tc.name == "off" {
				s.mdb = nil
			}
			benchForward(b, s, ports, 1, udpTo(2, g))
		})
	}
}
