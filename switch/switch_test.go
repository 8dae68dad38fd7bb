package vswitch

import (
	"bytes"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

func TestFloodThenUnicast(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("a", 1), access("b", 1), access("c", 1))
	a, b, c := s.ports["a"], s.ports["b"], s.ports["c"]

	// Unknown destination: flooded to b and c, never back to a.
	a.in <- frame(mac(2), mac(1))
	b.expect(t)
	c.expect(t)
	a.expectNone(t)

	// b answers: mac(1) is known, so only a gets it.
	b.in <- frame(mac(1), mac(2))
	if got := a.expect(t); pkt.Ethernet(got).Src() != mac(2) {
		t.Fatalf("a got frame from %v", pkt.Ethernet(got).Src())
	}
	c.expectNone(t)

	// Now both are known: a -> b is unicast.
	a.in <- frame(mac(2), mac(1))
	b.expect(t)
	c.expectNone(t)

	if fdb := s.FDB(); len(fdb) != 2 || fdb[0].Port != "a" || fdb[1].Port != "b" {
		t.Fatalf("fdb = %+v", fdb)
	}
}

func TestBroadcastStaysInVLAN(t *testing.T) {
	s := newTestSwitch(t, Config{},
		access("a10", 10), access("b10", 10), access("c20", 20), trunk("t", 0, 10, 20))
	s.ports["a10"].in <- frame(pkt.Broadcast, mac(1))
	s.ports["b10"].expect(t)
	got := s.ports["t"].expect(t)
	if vid, ok := tagOf(got); !ok || vid != 10 {
		t.Fatalf("trunk got % x, want a tag of VLAN 10", got[:18])
	}
	if !bytes.Equal(got[18:], frame(pkt.Broadcast, mac(1))[14:]) {
		t.Fatal("payload changed on tagging")
	}
	s.ports["c20"].expectNone(t)
}

func TestTrunkToAccessUntags(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("a", 10), access("b", 20), trunk("t", 1, 10, 20))
	s.ports["t"].in <- tagged(pkt.Broadcast, mac(9), 20)
	got := s.ports["b"].expect(t)
	if !bytes.Equal(got, frame(pkt.Broadcast, mac(9))) {
		t.Fatalf("access port got % x", got)
	}
	s.ports["a"].expectNone(t)
	// Untagged on the trunk is the native VLAN 1: nobody else is in it.
	s.ports["t"].in <- frame(pkt.Broadcast, mac(9))
	s.ports["a"].expectNone(t)
	s.ports["b"].expectNone(t)
}

func TestIngressDrops(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("a", 10), trunk("t", 0, 10), access("b", 10))
	a, tr := s.ports["a"], s.ports["t"]
	tests := []struct {
		name   string
		port   *memPort
		pname  string
		frame  []byte
		reason DropReason
	}{
		{"runt", a, "a", make([]byte, 10), DropRunt},
		{"tag not carried on access", a, "a", tagged(pkt.Broadcast, mac(1), 20), DropVLANNotAllowed},
		{"tag not allowed on trunk", tr, "t", tagged(pkt.Broadcast, mac(1), 30), DropVLANNotAllowed},
		{"untagged on trunk without native", tr, "t", frame(pkt.Broadcast, mac(1)), DropUntagged},
		{"truncated tag", tr, "t", tagged(pkt.Broadcast, mac(1), 10)[:16], DropBadVLAN},
		{"vid 4095", tr, "t", tagged(pkt.Broadcast, mac(1), 4095), DropBadVLAN},
		{"qinq", tr, "t", func() []byte {
			b := tagged(pkt.Broadcast, mac(1), 10)
			b[16], b[17] = 0x81, 0x00
			return b
		}(), DropQinQ},
		{"802.1ad", tr, "t", func() []byte {
			b := tagged(pkt.Broadcast, mac(1), 10)
			b[12], b[13] = 0x88, 0xa8
			return b
		}(), DropQinQ},
		{"multicast source", a, "a", frame(pkt.Broadcast, pkt.MAC{1, 0, 0x5e, 0, 0, 1}), DropBadSrcMAC},
		{"zero source", a, "a", frame(pkt.Broadcast, pkt.MAC{}), DropBadSrcMAC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := s.Port(tt.pname)
			tt.port.in <- tt.frame
			s.waitDrop(t, tt.pname, tt.reason, before.Drops[tt.reason]+1)
			s.ports["b"].expectNone(t)
		})
	}
}

func TestPriorityTagIsUntagged(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("a", 10), access("b", 10))
	s.ports["a"].in <- tagged(pkt.Broadcast, mac(1), 0)
	got := s.ports["b"].expect(t)
	if _, ok := tagOf(got); ok {
		t.Fatal("priority-tagged frame left an access port tagged")
	}
}

func TestMACMoveAndSamePort(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("a", 1), access("b", 1), access("c", 1))
	a, b, c := s.ports["a"], s.ports["b"], s.ports["c"]
	a.in <- frame(pkt.Broadcast, mac(1))
	b.expect(t)
	c.expect(t)
	// mac(1) reappears on b: it moves.
	b.in <- frame(pkt.Broadcast, mac(1))
	a.expect(t)
	c.expect(t)
	if st := s.FDBStats(); st.Moves != 1 || st.Entries != 1 {
		t.Fatalf("fdb stats %+v", st)
	}
	// c sends to mac(1): now to b only.
	c.in <- frame(mac(1), mac(3))
	b.expect(t)
	a.expectNone(t)
	// b sends to mac(1), which lives on b: filtered.
	b.in <- frame(mac(1), mac(2))
	s.waitDrop(t, "b", DropSamePort, 1)
}

func TestFDBLimits(t *testing.T) {
	s := newTestSwitch(t, Config{MaxEntries: 3},
		PortConfig{Name: "a", VLAN: VLANConfig{PVID: 1}, MaxMACs: 2}, access("b", 1))
	a, b := s.ports["a"], s.ports["b"]
	for i := byte(1); i <= 4; i++ {
		a.in <- frame(pkt.Broadcast, mac(i))
		b.expect(t) // over the limit the frame is still flooded
	}
	s.waitDrop(t, "a", DropFDBLimit, 2)
	if st, _ := s.Port("a"); st.MACs != 2 {
		t.Fatalf("port a has %d MACs, want 2", st.MACs)
	}
	b.in <- frame(pkt.Broadcast, mac(10))
	a.expect(t)
	b.in <- frame(pkt.Broadcast, mac(11)) // global limit 3 reached
	a.expect(t)
	s.waitDrop(t, "b", DropFDBLimit, 1)
	if st := s.FDBStats(); st.Entries != 3 {
		t.Fatalf("fdb has %d entries, want 3", st.Entries)
	}
}

func TestAgeing(t *testing.T) {
	s := newTestSwitch(t, Config{Ageing: time.Second}, access("a", 1), access("b", 1))
	s.ports["a"].in <- frame(pkt.Broadcast, mac(1))
	s.ports["b"].expect(t)
	if len(s.FDB()) != 1 {
		t.Fatal("not learned")
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(s.FDB()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("entry did not age out: %+v", s.FDB())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st, _ := s.Port("a"); st.MACs != 0 {
		t.Fatalf("port a still counts %d MACs", st.MACs)
	}
}

func TestStaticEntry(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("a", 1), access("b", 1), access("c", 1))
	if err := s.AddStatic("b", 1, mac(2)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddStatic("b", 7, mac(2)); err == nil {
		t.Fatal("static entry on a VLAN the port does not carry was accepted")
	}
	s.ports["a"].in <- frame(mac(2), mac(1))
	s.ports["b"].expect(t)
	s.ports["c"].expectNone(t)
	// A frame from mac(2) on c does not move a static entry.
	s.ports["c"].in <- frame(pkt.Broadcast, mac(2))
	s.ports["a"].expect(t)
	s.ports["a"].in <- frame(mac(2), mac(1))
	s.ports["b"].expect(t)
}

// The switch's own address (a gateway's MAC): a frame from another port
// with it as source is dropped and counted, and the entry stays; the
// owner's own frames and frames to it go on as before.
func TestLocalEntry(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("gw", 1), access("a", 1), access("b", 1))
	if err := s.AddLocal("gw", 1, mac(9)); err != nil {
		t.Fatal(err)
	}
	s.ports["a"].in <- frame(pkt.Broadcast, mac(9)) // a guest claims the gateway's MAC
	s.waitDrop(t, "a", DropLocalMAC, 1)
	s.ports["b"].in <- frame(mac(9), mac(2)) // to the gateway: still to its port
	s.ports["gw"].expect(t)
	s.ports["a"].expectNone(t)
	s.ports["gw"].in <- frame(mac(2), mac(9)) // the gateway's own frame is forwarded
	s.ports["b"].expect(t)
	want := [NumDropReasons]uint64{DropLocalMAC: 1}
	if st, _ := s.Port("a"); st.Drops != want {
		t.Fatalf("port a drops %v, want %v", st.Drops, want)
	}
	if DropLocalMAC.String() != "local_mac" {
		t.Fatal(DropLocalMAC.String())
	}
}

func TestSlowPortDoesNotStallOthers(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("a", 1), access("b", 1),
		PortConfig{Name: "slow", VLAN: VLANConfig{PVID: 1}, Queue: 16})
	slow := s.ports["slow"]
	slow.block = make(chan struct{}) // never written: the device is stuck
	a, b := s.ports["a"], s.ports["b"]
	for i := 0; i < 200; i++ {
		a.in <- frame(pkt.Broadcast, mac(1))
		b.expect(t)
	}
	// The writer holds one batch in the stuck WriteBatch; the queue holds
	// 16; the rest is tail-dropped.
	s.waitDrop(t, "slow", DropQueueFull, 150)
}

func TestRemovePortFlushesFDB(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("a", 1), access("b", 1))
	s.ports["a"].in <- frame(pkt.Broadcast, mac(1))
	s.ports["b"].expect(t)
	if err := s.RemovePort("a"); err != nil {
		t.Fatal(err)
	}
	if len(s.FDB()) != 0 || len(s.Ports()) != 1 {
		t.Fatalf("fdb %+v ports %+v", s.FDB(), s.Ports())
	}
	if err := s.RemovePort("a"); err == nil {
		t.Fatal("removing twice succeeded")
	}
	m := newMemPort()
	if err := s.AddPort(access("a", 1), m); err != nil {
		t.Fatal(err)
	}
	m.in <- frame(pkt.Broadcast, mac(1))
	s.ports["b"].expect(t)
}

func TestGSOOffsetsFollowTag(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("a", 10), trunk("t", 0, 10))
	f := NewFrame()
	f.SetData(frame(pkt.Broadcast, mac(1)))
	f.VNet = pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, GSOType: pkt.VirtioNetHdrGSOTCPv4,
		HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	p := s.topo.Load().byName["t"]
	in := s.topo.Load().byName["a"]
	if r := in.vlan.classify(f); r != NumDropReasons {
		t.Fatal(r)
	}
	f.tag()
	if f.VNet.CsumStart != 38 || f.VNet.HdrLen != 58 {
		t.Fatalf("after tag: %+v", f.VNet)
	}
	if r := p.vlan.classify(f); r != NumDropReasons {
		t.Fatal(r)
	}
	if f.VNet.CsumStart != 34 || f.VNet.HdrLen != 54 || f.vid != 10 {
		t.Fatalf("after untag: %+v vid %d", f.VNet, f.vid)
	}
	f.Release()
}

// A port's Mark travels with its frames, flooded or unicast, and a frame
// from an unmarked port carries none: the gateway trusts a DHCP relay by
// it, so a frame must never keep an earlier frame's mark.
func TestPortMark(t *testing.T) {
	r := access("r", 1)
	r.Mark = 5
	s := newTestSwitch(t, Config{}, r, access("b", 1), access("c", 1))
	rp, b, c := s.ports["r"], s.ports["b"], s.ports["c"]

	rp.in <- frame(mac(2), mac(1)) // flooded: a clone to one port, the frame itself to the other
	b.expect(t)
	c.expect(t)
	if mb, mc := <-b.marks, <-c.marks; mb != 5 || mc != 5 {
		t.Fatalf("flooded marks %d %d, want 5 5", mb, mc)
	}
	b.in <- frame(mac(1), mac(2)) // unicast back to r, from an unmarked port
	rp.expect(t)
	if m := <-rp.marks; m != 0 {
		t.Fatalf("mark %d from an unmarked port", m)
	}
	rp.in <- frame(mac(2), mac(1)) // unicast to b: the reader's frames are reused
	b.expect(t)
	if m := <-b.marks; m != 5 {
		t.Fatalf("unicast mark %d, want 5", m)
	}
}
