package vswitch

import (
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestFinalPortsAddCounters: after Close, FinalPorts has every port's
// counters as they ended (the frames read up to the stop included), and a
// new switch's ports take them with AddCounters, drops by reason, adding
// to their own; a port that is not there is false.
func TestFinalPortsAddCounters(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("a", 1), access("b", 1), access("c", 2))
	if s.FinalPorts() != nil {
		t.Fatal("FinalPorts before Close")
	}
	for range 3 {
		s.ports["a"].in <- frame(pkt.Broadcast, mac(1))
		s.ports["b"].expect(t)
	}
	s.ports["a"].in <- frame(mac(1), mac(1)) // to itself: dropped
	s.waitDrop(t, "a", DropSamePort, 1)
	s.Close()
	final := map[string]PortStatus{}
	for _, p := range s.FinalPorts() {
		final[p.Name] = p
	}
	a, b := final["a"], final["b"]
	if len(final) != 3 || a.RxPackets != 4 || b.TxPackets != 3 || a.Drops[DropSamePort] != 1 {
		t.Fatalf("final: a rx %d drops %v, b tx %d (%d ports); want 4, same_port 1, 3",
			a.RxPackets, a.Drops, b.TxPackets, len(final))
	}

	n := newTestSwitch(t, Config{}, access("a", 1), access("b", 1))
	n.ports["a"].in <- frame(pkt.Broadcast, mac(1))
	n.ports["b"].expect(t)
	// The counters are bumped after the frame is handed over: wait for
	// them, so what AddCounters adds is all that changes.
	waitFor(t, func() bool {
		a, _ := n.Port("a")
		b, _ := n.Port("b")
		return a.RxPackets == 1 && b.TxPackets == 1
	})
	if !n.AddCounters("a", a) || !n.AddCounters("b", b) || n.AddCounters("c", final["c"]) {
		t.Fatal("AddCounters: want true for a and b, false for c")
	}
	got, _ := n.Port("a")
	if got.RxPackets != 5 || got.RxBytes != a.RxBytes+uint64(len(frame(pkt.Broadcast, mac(1)))) || got.Drops[DropSamePort] != 1 {
		t.Fatalf("a after AddCounters: rx %d bytes %d drops %v; want 5, %d + one frame, same_port 1",
			got.RxPackets, got.RxBytes, got.Drops, a.RxBytes)
	}
	if got, _ := n.Port("b"); got.TxPackets != 4 || got.TxBytes != b.TxBytes+uint64(len(frame(pkt.Broadcast, mac(1)))) {
		t.Fatalf("b after AddCounters: tx %d bytes %d; want 4", got.TxPackets, got.TxBytes)
	}
}

// dropperPort is a memPort whose driver drops frames itself, as the TAP
// and AF_PACKET readers do with one too long for any buffer.
type dropperPort struct {
	*memPort
	oversize, runt uint64
}

func (d *dropperPort) RxDrops(out *[NumDropReasons]uint64) {
	out[DropOversize] += d.oversize
	out[DropRunt] += d.runt
}

// TestRxDropperCounts: a driver's own drops show as the port's drops, on
// top of what the switch counted, in Port, Ports and FinalPorts; a port
// whose driver drops nothing reports none.
func TestRxDropperCounts(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("b", 1))
	d := &dropperPort{memPort: newMemPort(), oversize: 3, runt: 2}
	if err := s.AddPort(access("a", 1), d); err != nil {
		t.Fatal(err)
	}
	d.in <- []byte{1, 2, 3} // the switch's own runt
	s.waitDrop(t, "a", DropRunt, 3)
	check := func(what string, st PortStatus) {
		t.Helper()
		if st.Drops[DropOversize] != 3 || st.Drops[DropRunt] != 3 {
			t.Fatalf("%s: oversize %d runt %d, want 3 and 3 (2 from the driver, 1 from the switch)",
				what, st.Drops[DropOversize], st.Drops[DropRunt])
		}
	}
	st, _ := s.Port("a")
	check("Port", st)
	check("Ports", s.Ports()[1])
	if b, _ := s.Port("b"); b.Drops != ([NumDropReasons]uint64{}) {
		t.Fatalf("b: drops %v, want none", b.Drops)
	}
	s.Close()
	check("FinalPorts", s.FinalPorts()[1])
}
