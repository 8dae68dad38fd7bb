package vswitch

import (
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// Two isolated ports do not reach each other, by flood or by unicast; both
// reach the gateway and a port that is not isolated, and are reached by
// them. Only the unicast between the isolated pair is counted.
func TestIsolatedPorts(t *testing.T) {
	iso := func(name string) PortConfig { pc := access(name, 1); pc.Isolated = true; return pc }
	s := newTestSwitch(t, Config{}, iso("a"), iso("b"), access("c", 1), access("gw", 1))
	steps := []struct {
		name    string
		from    string
		frame   []byte
		reach   []string
		dropped bool // counted as isolated on from
	}{
		{"a's broadcast skips b", "a", frame(pkt.Broadcast, mac(1)), []string{"c", "gw"}, false},
		{"b's broadcast skips a", "b", frame(pkt.Broadcast, mac(2)), []string{"c", "gw"}, false},
		{"known unicast a to b", "a", frame(mac(2), mac(1)), nil, true},
		{"unknown unicast from a skips b", "a", frame(mac(7), mac(1)), []string{"c", "gw"}, false},
		{"gateway's broadcast reaches all", "gw", frame(pkt.Broadcast, mac(9)), []string{"a", "b", "c"}, false},
		{"open port to b", "c", frame(mac(2), mac(3)), []string{"b"}, false},
		{"a to the gateway", "a", frame(mac(9), mac(1)), []string{"gw"}, false},
		{"b to the open port", "b", frame(mac(3), mac(2)), []string{"c"}, false},
	}
	drops := map[string]uint64{}
	for _, st := range steps {
		s.ports[st.from].in <- st.frame
		if st.dropped {
			drops[st.from]++
			s.waitDrop(t, st.from, DropIsolated, drops[st.from])
		}
		for _, name := range st.reach {
			s.ports[name].expect(t)
		}
		for name, m := range s.ports {
			if name != st.from {
				m.expectNone(t) // nothing more, and nothing to the others
			}
		}
	}
	for name := range s.ports {
		st, _ := s.Port(name)
		var want [NumDropReasons]uint64
		want[DropIsolated] = drops[name]
		if st.Drops != want {
			t.Errorf("port %s drops %v, want %v", name, st.Drops, want)
		}
	}
	if drops["a"] != 1 || DropIsolated.String() != "isolated" {
		t.Fatal(drops, DropIsolated.String())
	}
}
