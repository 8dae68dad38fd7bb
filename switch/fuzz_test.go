package vswitch

import (
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// FuzzIngress runs arbitrary bytes (and an arbitrary out-of-band tag and
// vnet header) through the whole ingress path of a switch with an access
// port and a trunk. Nothing may panic, and whatever is queued must be a
// well-formed frame for the port it is queued on.
func FuzzIngress(f *testing.F) {
	f.Add(frame(pkt.Broadcast, mac(1)), uint16(0), false, false, uint16(0))
	f.Add(tagged(mac(2), mac(1), 10), uint16(0), false, true, uint16(34))
	f.Add(frame(mac(2), mac(1)), uint16(10), true, true, uint16(0xffff))
	f.Add([]byte{1, 2, 3}, uint16(4095), true, false, uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, tci uint16, hasTCI, fromTrunk bool, csumStart uint16) {
		if len(b) > SmallDataLen {
			return
		}
		s := New(Config{})
		defer s.Close()
		topo := s.topo.Load()
		var ports []*swPort
		for _, pc := range []PortConfig{access("a", 10), trunk("t", 1, 10, 20), access("b", 20)} {
			pc.Queue = 16
			p := newSwPort(pc, newMemPort())
			p.exited.Add(-2)
			topo = topo.with(p, nil)
			ports = append(ports, p)
		}
		s.topo.Store(topo)
		in := ports[0]
		if fromTrunk {
			in = ports[1]
		}
		fr := NewFrame()
		fr.SetData(b)
		if hasTCI {
			fr.SetRxTCI(tci)
		}
		fr.VNet = pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, CsumStart: csumStart}
		frames := []*Frame{fr}
		s.ingress(in, frames, time.Now().Unix())
		frames[0].Release()
		out := make([]*Frame, BatchSize)
		for _, p := range ports {
			n := p.q.Take(out)
			for _, g := range out[:n] {
				e := g.Bytes()
				if len(e) < pkt.EthernetLen {
					t.Fatalf("queued a %d-byte frame", len(e))
				}
				vid, isTagged := tagOf(e)
				switch mode := p.vlan.egress(g.vid); mode {
				case egressTagged:
					if !isTagged || vid != g.vid {
						t.Fatalf("port %s: want tag %d, frame % x", p.name, g.vid, e[:18])
					}
				case egressUntagged:
					if isTagged {
						t.Fatalf("port %s: untagged egress left a tag", p.name)
					}
				default:
					t.Fatalf("port %s got a frame of VLAN %d it does not carry", p.name, g.vid)
				}
				g.Release()
			}
		}
	})
}
