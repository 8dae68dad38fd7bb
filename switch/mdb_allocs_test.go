//go:build !race

package vswitch

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestSnoopAllocs: multicast data through the MDB, an unregistered group,
// a report refreshing a membership and a query allocate nothing once the
// pools are warm.
func TestSnoopAllocs(t *testing.T) {
	g, g6 := addr("239.1.2.3"), addr("ff15::1")
	tests := []struct {
		name string
		from int
		b    []byte
		want []int // per port (r a b c) per run
	}{
		{"igmp group data", pB, udpTo(2, g), []int{1, 1, 0, 0}},
		{"mld group data", pB, udpTo(2, g6), []int{1, 0, 0, 1}},
		{"unregistered", pB, udpTo(2, addr("239.7.7.7")), []int{1, 0, 0, 0}},
		{"report refresh", pA, igmpFrame(1, g, igmpMsg(pkt.IGMPv2Report, 0, g)), []int{1, 0, 0, 0}},
		{"mldv2 report refresh", pC, mldFrame(3, mldV2Dst, reportV3(pkt.MLDv2Report, []rec{{pkt.RecordIsExclude, g6, 0}})), []int{1, 0, 0, 0}},
		{"query", pR, query4(), []int{0, 1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ports := fourPorts(t)
			now := time.Now().Unix()
			inject(s, ports, pR, query4(), now-2)
			inject(s, ports, pR, query6(), now-2)
			inject(s, ports, pA, igmpFrame(1, g, igmpMsg(pkt.IGMPv2Report, 0, g)), now)
			inject(s, ports, pC, mldFrame(3, g6, mldV1(pkt.MLDv1Report, 0, g6)), now)
			frames := []*Frame{NewFrame()}
			out := make([]*Frame, BatchSize)
			got := make([]int, len(ports))
			run := func() {
				frames[0].reset()
				frames[0].SetData(tt.b)
				s.ingress(ports[tt.from], frames, now)
				for i, p := range ports {
					for k := p.q.Take(out); k > 0; k = p.q.Take(out) {
						got[i] += k
						for _, f := range out[:k] {
							f.Release()
						}
					}
				}
			}
			run()
			if a := testing.AllocsPerRun(1000, run); a != 0 {
				t.Errorf("%v allocs per frame, want 0", a)
			}
			for i := range got {
				if got[i] != tt.want[i]*1002 {
					t.Errorf("port %d got %d frames, want %d", i, got[i], tt.want[i]*1002)
				}
			}
		})
	}
}

// TestSnoopSharedFrameReturnsOnce: the frame two snooped members share
// goes back to the pool with the second release, not before.
func TestSnoopSharedFrameReturnsOnce(t *testing.T) {
	ports, f, _ := snoopShared(t)
	out := make([]*Frame, BatchSize)
	ports[3].q.Take(out)
	out[0].Release() // the trunk's copy
	ports[0].q.Take(out)
	out[0].Release()
	if g := NewFrame(); g == f {
		t.Fatal("the pool gave out a frame a member still holds")
	} else {
		g.Release()
		NewFrame() // take g back out of the per-P slot
	}
	ports[1].q.Take(out)
	out[0].Release()
	if g := NewFrame(); g != f {
		t.Fatal("the frame did not go back with its last owner")
	}
}

// TestSourceFilterAllocs: data through a source-filtered membership, and
// a report that refreshes a filter's timers with the same sources,
// allocate nothing.
func TestSourceFilterAllocs(t *testing.T) {
	g := addr("232.1.1.1")
	s1 := addr("10.0.0.1")
	report := igmpFrame(3, igmpV3Dst, reportSrc(pkt.IGMPv3Report, srcRec{pkt.RecordIsInclude, g, []netip.Addr{s1}}))
	for _, tt := range []struct {
		name string
		from int
		b    []byte
		want []int
	}{
		{"data from an asked source", pA, udpTo(1, g), []int{1, 0, 0, 1}},
		{"data from another source", pB, udpTo(2, g), []int{1, 0, 0, 0}},
		{"include refresh", pC, report, []int{1, 0, 0, 0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, ports := fourPorts(t)
			now := time.Now().Unix()
			inject(s, ports, pR, query4(), now-2)
			inject(s, ports, pC, report, now)
			frames := []*Frame{NewFrame()}
			run := func() {
				frames[0].reset()
				frames[0].SetData(tt.b)
				s.ingress(ports[tt.from], frames, now)
			}
			run()
			if got := drain(ports); !slices.Equal(got, tt.want) {
				t.Fatalf("frames per port %v, want %v", got, tt.want)
			}
			out := make([]*Frame, BatchSize)
			if a := testing.AllocsPerRun(1000, func() {
				run()
				for _, p := range ports {
					for k := p.q.Take(out); k > 0; k = p.q.Take(out) {
						for _, f := range out[:k] {
							f.Release()
						}
					}
				}
			}); a != 0 {
				t.Errorf("%v allocs per frame, want 0", a)
			}
		})
	}
}
