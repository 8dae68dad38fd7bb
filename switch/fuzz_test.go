package vswitch

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// ingressRig is one switch for a whole fuzzing run: ports without
// goroutines, so the target drives ingress and reads the egress queues
// itself, and a few FDB entries put back before every input.
type ingressRig struct {
	s     *Switch
	ports []*swPort
	fixed []rigEntry
	last  rigEntry // the source the last input made the switch learn
}

type rigEntry struct {
	vid  uint16
	mac  pkt.MAC
	port int
}

// The rig's ports. Every VLAN has at least two members, so a frame that is
// not dropped always leaves somewhere.
var rigPorts = []struct {
	pc   PortConfig
	feat Features
}{
	{access("a", 10), FeatVNetHdr},
	{trunk("t", 30, 10, 20), FeatVNetHdr},
	{access("b", 20), 0},
	{trunk("u", 0, 10, 20, 30), 0},
}

func newIngressRig() *ingressRig {
	s := &Switch{fdb: newFDB(64, 300), log: slog.Default(), stop: make(chan struct{})}
	topo := &topology{byName: map[string]*swPort{}}
	r := &ingressRig{s: s}
	for _, rp := range rigPorts {
		pc := rp.pc
		pc.Queue = 16
		m := newMemPort()
		m.feat = rp.feat
		p := newSwPort(pc, m)
		p.exited.Add(-2) // no goroutines
		topo = topo.with(p, nil)
		r.ports = append(r.ports, p)
	}
	s.topo.Store(topo)
	r.fixed = []rigEntry{{10, mac(3), 0}, {10, mac(4), 1}, {20, mac(2), 2}, {20, mac(5), 3}, {30, mac(6), 1}, {30, mac(7), 3}}
	return r
}

// reset puts the rig back as newIngressRig left it: counters zero, the
// fixed FDB entries only, and (the caller drained them) empty queues. It
// touches only the entries an input can have changed: walking the whole
// table would cost more than the input.
func (r *ingressRig) reset() {
	for _, p := range r.ports {
		st := &p.stats
		st.rxPackets.Store(0)
		st.rxBytes.Store(0)
		st.txPackets.Store(0)
		st.txBytes.Store(0)
		for i := range st.drops {
			st.drops[i].Store(0)
		}
	}
	t := r.s.fdb
	forget := func(vid uint16, mac pkt.MAC) {
		if e, ok := t.m.LoadAndDelete(fdbKey(vid, mac)); ok {
			if p := e.port.Swap(nil); p != nil {
				p.macs.Add(-1)
				t.count.Add(-1)
			}
		}
	}
	if r.last.vid != 0 {
		forget(r.last.vid, r.last.mac)
		r.last = rigEntry{}
	}
	for _, e := range r.fixed {
		forget(e.vid, e.mac) // it may have moved
		t.learn(r.ports[e.port], e.vid, e.mac, 1)
	}
}

// ingressModel is the slow, obvious reading of what the switch must do
// with frame b (tag tci out of band if hasTCI) arriving on port in:
// either drop it for reason, or send its untagged form, of VLAN vid with
// priority bits prio, to every port in out.
type ingressModel struct {
	drop     bool
	reason   DropReason
	vid      uint16
	prio     uint16
	untagged []byte
	out      [4]bool
}

func (r *ingressRig) model(in int, b []byte, tci uint16, hasTCI bool) ingressModel {
	var m ingressModel
	dropped := func(reason DropReason) ingressModel { m.drop, m.reason = true, reason; return m }
	if len(b) < 14 {
		return dropped(DropRunt)
	}
	isTPID := func(t uint16) bool { return t == 0x8100 || t == 0x88a8 || t == 0x9100 }
	typ := binary.BigEndian.Uint16(b[12:])
	var tag uint16
	tagged := false
	m.untagged = b
	switch {
	case hasTCI:
		if isTPID(typ) {
			return dropped(DropQinQ)
		}
		tag, tagged = tci, true
	case typ == 0x8100:
		if len(b) < 18 {
			return dropped(DropBadVLAN)
		}
		if isTPID(binary.BigEndian.Uint16(b[16:])) {
			return dropped(DropQinQ)
		}
		tag, tagged = binary.BigEndian.Uint16(b[14:]), true
		m.untagged = append(append([]byte(nil), b[:12]...), b[16:]...)
	case typ == 0x88a8 || typ == 0x9100:
		return dropped(DropQinQ)
	}
	cfg := rigPorts[in].pc.VLAN
	member := func(c VLANConfig, vid uint16) (bool, bool) { // member, tagged
		if !c.Trunk {
			return vid == c.PVID, false
		}
		if vid != 0 && vid == c.Native {
			return true, false
		}
		for _, a := range c.Allowed {
			if a == vid {
				return true, true
			}
		}
		return false, false
	}
	vid := tag & 0xfff
	switch {
	case vid == 0xfff:
		return dropped(DropBadVLAN)
	case !tagged || vid == 0:
		vid = cfg.PVID
		if cfg.Trunk {
			vid = cfg.Native
		}
		if vid == 0 {
			return dropped(DropUntagged)
		}
	default:
		if ok, _ := member(cfg, vid); !ok {
			return dropped(DropVLANNotAllowed)
		}
	}
	if b[6]&1 == 1 || bytes.Equal(b[6:12], make([]byte, 6)) {
		return dropped(DropBadSrcMAC)
	}
	m.vid, m.prio = vid, tag>>12
	// The source is learned (moved) before the destination is looked up.
	var dst, src pkt.MAC
	copy(dst[:], b[0:6])
	copy(src[:], b[6:12])
	r.last = rigEntry{vid: vid, mac: src}
	known := -1
	if dst[0]&1 == 0 {
		if dst == src {
			known = in
		} else {
			for _, e := range r.fixed {
				if e.vid == vid && e.mac == dst {
					known = e.port
				}
			}
		}
	}
	switch {
	case known == in:
		return dropped(DropSamePort)
	case known >= 0:
		m.out[known] = true
	default:
		for i, rp := range rigPorts {
			if ok, _ := member(rp.pc.VLAN, vid); ok && i != in {
				m.out[i] = true
			}
		}
	}
	return m
}

// FuzzIngress runs arbitrary bytes, with an arbitrary out-of-band tag and
// offload header, into one port of a four-port switch and checks the
// outcome against ingressModel: the frame is counted received, and either
// dropped with exactly the model's reason and sent nowhere, or sent to
// exactly the model's ports (never back to its ingress port), in its VLAN,
// tagged with its VLAN and priority where the port tags, byte for byte
// (bar a finished checksum or a GSO cut for ports without a vnet header),
// or counted as an egress drop there. rx = forwarded + dropped, exactly.
func FuzzIngress(f *testing.F) {
	f.Add(frame(pkt.Broadcast, mac(1)), uint16(0), false, uint8(0), uint16(0), uint8(0), uint16(0))
	f.Add(tagged(mac(2), mac(1), 10), uint16(0), false, uint8(1), uint16(34), uint8(0), uint16(0))
	f.Add(tagged(mac(2), mac(1), 5<<13|20), uint16(0), false, uint8(3), uint16(0), uint8(0), uint16(0))
	f.Add(frame(mac(3), mac(1)), uint16(3<<13|10), true, uint8(1), uint16(0xffff), uint8(0), uint16(0))
	f.Add(frame(mac(6), mac(9)), uint16(0), false, uint8(1), uint16(0), uint8(0), uint16(0))
	f.Add([]byte{1, 2, 3}, uint16(4095), true, uint8(0), uint16(0), uint8(0), uint16(0))
	f.Add(tcpFrame(f, false, 1, 1, true, true, false, pattern(3000)), uint16(0), false, uint8(0), uint16(34), uint8(pkt.VirtioNetHdrGSOTCPv4), uint16(1000))
	f.Add(tcpFrame(f, true, 1, 1, true, true, false, pattern(100)), uint16(20), true, uint8(1), uint16(54), uint8(pkt.VirtioNetHdrGSOTCPv6), uint16(10))
	f.Add(tcpFrame(f, false, 1, 1, true, true, false, nil), uint16(0), false, uint8(0), uint16(34), uint8(pkt.VirtioNetHdrGSOTCPv4), uint16(1000))
	r := newIngressRig()
	out := make([]*Frame, 64)
	f.Fuzz(func(t *testing.T, b []byte, tci uint16, hasTCI bool, inPort uint8, csumStart uint16, gsoType uint8, gsoSize uint16) {
		r.run(t, out, b, tci, hasTCI, inPort, csumStart, gsoType, gsoSize)
	})
}

// run is one FuzzIngress input.
func (r *ingressRig) run(t testing.TB, out []*Frame, b []byte, tci uint16, hasTCI bool, inPort uint8, csumStart uint16, gsoType uint8, gsoSize uint16) {
	t.Helper()
	if len(b) > SmallDataLen {
		return
	}
	r.reset()
	if c := r.s.fdb.count.Load(); c != int64(len(r.fixed)) || r.s.fdb.m.Size() != len(r.fixed) {
		t.Fatalf("reset left %d entries (%d counted)", r.s.fdb.m.Size(), c)
	}
	in := int(inPort) % len(r.ports)
	m := r.model(in, b, tci, hasTCI)

	fr := NewFrame()
	fr.SetData(b)
	if hasTCI {
		fr.SetRxTCI(tci)
	}
	vnet := pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, CsumStart: csumStart, CsumOffset: 16, GSOType: gsoType, GSOSize: gsoSize}
	if csumStart == 0 {
		vnet = pkt.VirtioNetHdr{} // most inputs: a plain frame
	}
	fr.VNet = vnet
	frames := []*Frame{fr}
	r.s.ingress(r.ports[in], frames, 1)
	frames[0].Release()

	if got := r.ports[in].stats.rxPackets.Load(); got != 1 {
		t.Fatalf("rx_packets %d, want 1", got)
	}
	for i, p := range r.ports {
		n := p.q.Take(out)
		var drops [NumDropReasons]uint64
		var total uint64
		for k := range drops {
			drops[k] = p.stats.drops[k].Load()
			total += drops[k]
		}
		switch {
		case m.drop && i == in:
			if total != 1 || drops[m.reason] != 1 {
				t.Fatalf("port %s: drops %v, want one %s", p.name, drops, m.reason)
			}
		case !m.out[i]:
			if total != 0 {
				t.Fatalf("port %s (not an egress port): drops %v", p.name, drops)
			}
		default:
			egressDrops := drops[DropQueueFull] + drops[DropBadOffload]
			if egressDrops != total {
				t.Fatalf("port %s: drops %v, want only queue_full or bad_offload", p.name, drops)
			}
			if uint64(n)+egressDrops == 0 {
				t.Fatalf("port %s: frame neither queued nor counted as dropped", p.name)
			}
			if !vnet.IsGSO() && uint64(n)+egressDrops != 1 {
				t.Fatalf("port %s: %d queued + %d dropped for one frame", p.name, n, egressDrops)
			}
		}
		if n > 0 && !m.out[i] {
			t.Fatalf("port %s (ingress %v, want ports %v, drop %v %s) got a frame", p.name, i == in, m.out, m.drop, m.reason)
		}
		for _, g := range out[:n] {
			checkEgress(t, p, g, m, vnet, b)
			g.Release()
		}
	}
}

// checkEgress checks one frame queued on p against the model.
func checkEgress(t testing.TB, p *swPort, g *Frame, m ingressModel, vnet pkt.VirtioNetHdr, in []byte) {
	t.Helper()
	if g.vid != m.vid {
		t.Fatalf("port %s: frame of VLAN %d, want %d", p.name, g.vid, m.vid)
	}
	e := g.Bytes()
	want := m.untagged
	mode := p.vlan.egress(m.vid)
	if mode == egressTagged {
		want = withTCI(want, m.prio<<12|m.vid)
	}
	switch {
	case vnet == (pkt.VirtioNetHdr{}) || p.feat&FeatVNetHdr != 0:
		if !bytes.Equal(e, want) {
			t.Fatalf("port %s got\n% x\nwant\n% x", p.name, e, want)
		}
		// The offsets follow the tag.
		wh := vnet
		wh.Shift(len(want) - len(in))
		if g.VNet != wh {
			t.Fatalf("port %s: vnet header %+v, want %+v", p.name, g.VNet, wh)
		}
	case !vnet.IsGSO():
		// Only the checksum field may differ.
		if len(e) != len(want) {
			t.Fatalf("port %s: %d bytes, want %d", p.name, len(e), len(want))
		}
		field := int(vnet.CsumStart) + int(vnet.CsumOffset) + len(want) - len(in)
		for k := range e {
			if e[k] != want[k] && (k < field || k >= field+2) {
				t.Fatalf("port %s: byte %d changed (field at %d)\n% x\nwant\n% x", p.name, k, field, e, want)
			}
		}
	default:
		// A segment: same addresses and tag.
		hl := 12
		if mode == egressTagged {
			hl = 16
		}
		if len(e) < hl || !bytes.Equal(e[:hl], want[:hl]) {
			t.Fatalf("port %s: segment starts % x, want % x", p.name, e[:min(len(e), hl)], want[:hl])
		}
	}
	if g.VNet != (pkt.VirtioNetHdr{}) && p.feat&FeatVNetHdr == 0 {
		t.Fatalf("port %s takes no vnet header but got %+v", p.name, g.VNet)
	}
}
