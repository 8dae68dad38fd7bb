package vswitch

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// The scale benchmarks give the figures of docs/performance.md: the cost
// of a frame as the FDB, the port count and the VLAN count grow. Each
// reports ns/op per frame and allocates nothing.

// scaleSwitch is benchSwitch with an FDB that holds max entries.
func scaleSwitch(b *testing.B, max int, pcs ...PortConfig) (*Switch, []*swPort) {
	s, ports := benchSwitch(b, pcs...)
	s.fdb = newFDB(max, 300)
	return s, ports
}

// benchMix runs batches of frames from port in through ingress, tmpl(i)
// the i-th frame overall (a different one in each slot walks the whole
// FDB instead of one hot entry), and drains every other port, recycling
// frames through the pool as the real reader and writer do.
func benchMix(b *testing.B, s *Switch, ports []*swPort, in int, tmpl func(i int) []byte) {
	frames := make([]*Frame, BatchSize)
	for i := range frames {
		frames[i] = NewFrame()
	}
	out := make([]*Frame, BatchSize)
	now := time.Now().Unix()
	b.ReportAllocs()
	n, total := 0, 0
	for b.Loop() {
		f := frames[n]
		f.reset()
		f.SetData(tmpl(total))
		n++
		total++
		if n == BatchSize {
			s.ingress(ports[in], frames, now)
			for i, p := range ports {
				if i == in {
					continue
				}
				for k := p.q.Take(out); k > 0; k = p.q.Take(out) {
					for _, f := range out[:k] {
						f.Release()
					}
				}
			}
			n = 0
		}
	}
}

// accessPorts is n access ports on VLAN 1, named p0, p1, ...
func accessPorts(n int) []PortConfig {
	pcs := make([]PortConfig, n)
	for i := range pcs {
		pcs[i] = access(fmt.Sprintf("p%d", i), 1)
	}
	return pcs
}

// macN is the n-th of many test addresses (52:54:xx:xx:xx:xx, unicast).
func macN(n int) pkt.MAC { return pkt.MACFromUint64(0x525400000000 + uint64(n)) }

// BenchmarkFDBSize forwards unicast frames to destinations spread over an
// FDB of 1k, 100k and 1M addresses, all known, on one port.
func BenchmarkFDBSize(b *testing.B) {
	for _, size := range []int{1_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("macs=%d", size), func(b *testing.B) {
			s, ports := scaleSwitch(b, size+16, access("a", 1), access("b", 1))
			now := time.Now().Unix()
			for i := range size {
				s.fdb.learn(ports[1], 1, macN(i), now)
			}
			tmpls := make([][]byte, 4096)
			for i := range tmpls {
				// A stride prime to the size visits the whole table.
				tmpls[i] = frame(macN(i*7919%size), mac(1))
			}
			benchMix(b, s, ports, 0, func(i int) []byte { return tmpls[i%len(tmpls)] })
		})
	}
}

// BenchmarkPorts forwards among 10, 100 and 1000 access ports: unicast from
// one port to destinations on every other port, and a broadcast flooded
// to all of them (ns/op is per broadcast, all copies delivered).
func BenchmarkPorts(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("unicast/ports=%d", n), func(b *testing.B) {
			s, ports := scaleSwitch(b, 2*n, accessPorts(n)...)
			now := time.Now().Unix()
			tmpls := make([][]byte, n-1)
			for i := 1; i < n; i++ {
				s.fdb.learn(ports[i], 1, macN(i), now)
				tmpls[i-1] = frame(macN(i), mac(1))
			}
			benchMix(b, s, ports, 0, func(i int) []byte { return tmpls[i%len(tmpls)] })
		})
		b.Run(fmt.Sprintf("broadcast/ports=%d", n), func(b *testing.B) {
			s, ports := scaleSwitch(b, 2*n, accessPorts(n)...)
			bc := frame(pkt.Broadcast, mac(1))
			benchMix(b, s, ports, 0, func(int) []byte { return bc })
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n-1), "ns/copy")
		})
	}
}

// BenchmarkVLANs forwards tagged unicast between two trunks carrying 1, 10
// and 100 VLANs, the frames spread over all of them.
func BenchmarkVLANs(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("vlans=%d", n), func(b *testing.B) {
			vids := make([]uint16, n)
			for i := range vids {
				vids[i] = uint16(100 + i)
			}
			s, ports := scaleSwitch(b, 4*n, trunk("t1", 0, vids...), trunk("t2", 0, vids...))
			now := time.Now().Unix()
			tmpls := make([][]byte, n)
			for i, vid := range vids {
				s.fdb.learn(ports[1], vid, mac(2), now)
				tmpls[i] = tagged(mac(2), mac(1), vid)
				binary.BigEndian.PutUint16(tmpls[i][14:], vid)
			}
			benchMix(b, s, ports, 0, func(i int) []byte { return tmpls[i%n] })
		})
	}
}
