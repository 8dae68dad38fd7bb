package vswitch

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// FuzzSnoop runs arbitrary frames from a guest port through a snooping
// switch with a querier: it must never panic, send a frame twice to a
// port or back to the guest, hold more than the guest's max_groups, or
// learn a group that is not a snooped multicast address.
func FuzzSnoop(f *testing.F) {
	g, g6 := addr("239.1.2.3"), addr("ff15::1")
	for _, b := range [][]byte{
		igmpFrame(1, g, igmpMsg(pkt.IGMPv2Report, 0, g)),
		igmpFrame(1, igmpV3Dst, igmpV3Report(rec{pkt.RecordToExclude, g, 0}, rec{pkt.RecordAllowNew, addr("239.0.0.9"), 1})),
		igmpFrame(1, addr("224.0.0.2"), igmpMsg(pkt.IGMPv2Leave, 0, g)),
		mldFrame(1, mldV2Dst, reportV3(pkt.MLDv2Report, []rec{{pkt.RecordIsExclude, g6, 0}})),
		mldFrame(1, g6, mldV1(pkt.MLDv1Report, 0, g6)),
		query4(), query6(), udpTo(1, g), udpTo(1, g6),
		igmpFrame(1, igmpV3Dst, reportSrc(pkt.IGMPv3Report, srcRec{pkt.RecordIsInclude, g, []netip.Addr{addr("10.0.0.2")}},
			srcRec{pkt.RecordBlockOld, g, []netip.Addr{addr("10.0.0.2")}})),
		mldFrame(1, mldV2Dst, reportSrc(pkt.MLDv2Report, srcRec{pkt.RecordToExclude, g6, []netip.Addr{addr("fe80::2")}},
			srcRec{pkt.RecordToInclude, g6, []netip.Addr{addr("fe80::2"), addr("fe80::3")}})),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > SmallDataLen {
			return
		}
		s, ports := mcastSwitch(t, access("r", 1), PortConfig{Name: "a", VLAN: VLANConfig{PVID: 1}, MaxGroups: 4, Queue: DefaultQueue},
			access("b", 1), PortConfig{Name: "c", VLAN: VLANConfig{PVID: 1}, Queue: DefaultQueue, MulticastRouter: MulticastRouterNever})
		now := time.Now().Unix()
		inject(s, ports, 0, query4(), now-2)
		inject(s, ports, 0, query6(), now-2)
		for range 2 { // the second time refreshes what the first learned
			got := inject(s, ports, 1, b, now)
			if got[1] != 0 || got[0] > 1 || got[2] > 1 {
				t.Fatalf("frames per port %v", got)
			}
		}
		// A multicast_router never port's frame, whatever it is, makes
		// no router port and no querier.
		if got := inject(s, ports, 3, b, now); got[3] != 0 || got[1] > 1 || got[2] > 1 {
			t.Fatalf("frames per port from c %v", got)
		}
		if n := s.mdb.portGroups(ports[1]); n > 4 {
			t.Fatalf("guest holds %d groups, limit 4", n)
		}
		for _, e := range s.MDB() {
			if e.Router { // an auto port that queries becomes a router port, as on Linux
				if e.Port == "b" || e.Port == "c" {
					t.Fatalf("router port %s", e.Port)
				}
				continue
			}
			a := e.Group
			if e.Port != "a" && e.Port != "c" || !a.IsMulticast() || a.Is4() && linkLocal4(a.As4()) || a.Is6() && flooded6(a.As16()) {
				t.Fatalf("learned %+v", e)
			}
			if a.Is4In6() || a.Zone() != "" || a == (netip.Addr{}) {
				t.Fatalf("group %v not canonical", a)
			}
		}
	})
}
