package dhcp

import (
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// With Deliver, Handle returns while the store's fsync is held, for the
// network writing and for another one, whose DISCOVER is offered at once.
func TestDeliverHandleNeverWaitsForDisk(t *testing.T) {
	r := newRecorder(t)
	st := r.store()
	n, m := r.twoNetworks(st, netConfig)
	release := r.hold()
	quickly(t, "a REQUEST", func() { handleAsync(t, n, reboot(1, guest(9, 10), 1)) })
	r.waitEntered()
	quickly(t, "a REQUEST of the same network", func() { handleAsync(t, n, reboot(2, guest(9, 11), 2)) })
	quickly(t, "another network's DISCOVER", func() {
		typ, ip, rep := reply(t, m, msg{typ: pkt.DHCPDiscover, mac: mac(3), xid: 3})
		if typ != pkt.DHCPOffer || ip != guest(8, 10) || rep.DstMAC != mac(3) || rep.DstIP != guest(8, 10) {
			t.Errorf("offer %d %v %+v", typ, ip, rep)
		}
	})
	quickly(t, "another network's REQUEST", func() {
		handleAsync(t, m, msg{typ: pkt.DHCPRequest, mac: mac(3), reqIP: guest(8, 10), serverID: guest(8, 1), xid: 4})
	})
	quickly(t, "a RELEASE", func() { handleAsync(t, m, msg{typ: pkt.DHCPRelease, mac: mac(7), ciaddr: guest(8, 20)}) })
	if _, acks := r.snapshot(); len(acks) != 0 {
		t.Fatalf("ACKs before the fsync returned: %v", acks)
	}
	release()
	acks := r.waitAcks(3)
	got := []string{acks[0].String(), acks[1].String(), acks[2].String()}
	want := []string{"ack 10.9.0.10 xid 1", "ack 10.9.0.11 xid 2", "ack 10.8.0.10 xid 4"}
	if !slices.Equal(got, want) {
		t.Fatalf("acks %v, want %v", got, want)
	}
	if c := n.Messages()["ack"] + m.Messages()["ack"]; c != 3 {
		t.Fatalf("ack counters %d", c)
	}
}

// An ACK is delivered only after the file holding its lease and the
// directory are synced, and is the same message, to the same place, that
// the synchronous server sends.
func TestDeliverAfterSync(t *testing.T) {
	r := newRecorder(t)
	st := r.store()
	s, _ := asyncServer(netConfig("n", 9), st, r)
	sync, _ := newServer(t, netConfig("n", 9), nil)
	r.onAck = func(a ack) {
		st2 := reopen(t, r.dir)
		ls := st2.Load("n")
		if len(ls) != 1 || ls[0].IP != a.ip || ls[0].State != "bound" || ls[0].Expiry.Unix() != 1_700_000_000+3600 {
			t.Errorf("file when %v was delivered: %+v", a, ls)
		}
	}
	steps := []msg{
		{typ: pkt.DHCPDiscover, mac: mac(1), xid: 1, params: []byte{1, 3, 6}},
		{typ: pkt.DHCPRequest, mac: mac(1), xid: 2, reqIP: guest(9, 10), serverID: guest(9, 1), params: []byte{1, 3, 6}, broadcast: true},
	}
	var want Reply
	for _, m := range steps {
		var ok bool
		if want, ok = sync.Handle(m.bytes(), make([]byte, 1500)); !ok {
			t.Fatalf("the synchronous twin did not answer %+v", m)
		}
	}
	typ, ip, _ := reply(t, s, steps[0])
	if typ != pkt.DHCPOffer || ip != guest(9, 10) {
		t.Fatalf("offer %d %v", typ, ip)
	}
	handleAsync(t, s, steps[1])
	acks := r.waitAcks(1)
	events, _ := r.snapshot()
	if w := []string{"file synced", "dir synced", "ack 10.9.0.10 xid 2"}; !slices.Equal(events, w) {
		t.Fatalf("events %q, want %q", events, w)
	}
	got := acks[0].rep
	if string(got.Msg) != string(want.Msg) || got.Broadcast != want.Broadcast || got.DstMAC != want.DstMAC || got.DstIP != want.DstIP {
		t.Fatalf("delivered %+v\nsynchronous %+v", got, want)
	}
	if acks[0].typ != pkt.DHCPAck || acks[0].lease != 3600 {
		t.Fatalf("delivered %+v", acks[0])
	}
}

// REQUESTs that arrive while a write is under way, of two networks, are
// one more write, and the file then holds them all.
func TestPendingRequestsAreOneWrite(t *testing.T) {
	r := newRecorder(t)
	st := r.store()
	n, m := r.twoNetworks(st, netConfig)
	release := r.hold()
	handleAsync(t, n, reboot(1, guest(9, 10), 1))
	r.waitEntered()
	want := []string{"file synced", "dir synced", "ack 10.9.0.10 xid 1", "file synced", "dir synced"}
	for i := byte(2); i <= 11; i++ {
		s, third := n, byte(9)
		if i%2 == 0 {
			s, third = m, 8
		}
		handleAsync(t, s, reboot(i, guest(third, 10+i), uint32(i)))
	}
	// Server by server in the order they asked (m's first REQUEST came
	// first), each one's REQUESTs in order.
	for _, i := range []byte{2, 4, 6, 8, 10, 3, 5, 7, 9, 11} {
		third := map[bool]byte{true: 8, false: 9}[i%2 == 0]
		want = append(want, ack{xid: uint32(i), ip: guest(third, 10+i)}.String())
	}
	release()
	r.waitAcks(11)
	st.Close() // nothing more to write
	events, acks := r.snapshot()
	if !slices.Equal(events, want) {
		t.Fatalf("events\n%q\nwant\n%q", events, want)
	}
	st2 := reopen(t, r.dir)
	var stored []netip.Addr
	for _, net := range []string{"n", "m"} {
		for _, l := range st2.Load(net) {
			stored = append(stored, l.IP)
		}
	}
	var acked []netip.Addr
	for _, a := range acks {
		acked = append(acked, a.ip)
	}
	slices.SortFunc(stored, netip.Addr.Compare)
	slices.SortFunc(acked, netip.Addr.Compare)
	if !slices.Equal(stored, acked) {
		t.Fatalf("stored %v, acknowledged %v", stored, acked)
	}
}

// With maxPending REQUESTs waiting for the disk, the next one is dropped
// as store_busy, unchanged; once the write is done the client is answered.
func TestStoreBusy(t *testing.T) {
	r := newRecorder(t)
	st := r.store()
	s, _ := asyncServer(wideConfig("n", 9), st, r)
	release := r.hold()
	handleAsync(t, s, wide(9, 0, 1000)) // being written
	r.waitEntered()
	for i := 1; i < maxPending; i++ {
		handleAsync(t, s, wide(9, i, uint32(1000+i)))
	}
	busy := wide(9, maxPending, 20000)
	handleAsync(t, s, busy)
	if d := s.Drops(); d != [NumDrops]uint64{DropStoreBusy: 1} {
		t.Fatalf("drops %v", d)
	}
	if l, ok := s.byIP[busy.reqIP]; !ok || !l.offered || s.Active() != maxPending {
		t.Fatalf("the dropped REQUEST changed its lease: %+v, active %d", l, s.Active())
	}
	release()
	acks := r.waitAcks(maxPending)
	for i, a := range acks {
		if a.xid != uint32(1000+i) || a.ip != wide(9, i, 0).reqIP {
			t.Fatalf("ack %d: %v", i, a)
		}
	}
	// The client retries.
	handleAsync(t, s, busy)
	if a := r.waitAcks(maxPending + 1)[maxPending]; a.xid != 20000 || a.ip != busy.reqIP {
		t.Fatalf("retry: %v", a)
	}
	if d := s.Drops(); d != [NumDrops]uint64{DropStoreBusy: 1} {
		t.Fatalf("drops %v", d)
	}
	st.Close()
	st2 := reopen(t, r.dir)
	if got := len(st2.Load("n")); got != maxPending+1 {
		t.Fatalf("%d leases stored", got)
	}
}

// A failed write delivers nothing and leaves the lease as it was on disk;
// the client's retry is acknowledged once writing works, and the file
// then holds exactly that. Another network's later write does not store
// the lease that failed.
func TestDeliverWriteFails(t *testing.T) {
	r := newRecorder(t)
	st := r.store()
	s, m := r.twoNetworks(st, netConfig)
	offer := msg{typ: pkt.DHCPDiscover, mac: mac(1), xid: 1}
	req := msg{typ: pkt.DHCPRequest, mac: mac(1), reqIP: guest(9, 10), serverID: guest(9, 1), xid: 2}
	if typ, ip, _ := reply(t, s, offer); typ != pkt.DHCPOffer || ip != guest(9, 10) {
		t.Fatalf("offer %d %v", typ, ip)
	}
	r.setFail(true)
	handleAsync(t, s, req)
	waitDrops(t, s, DropStoreFailed, 1)
	if ls := s.Leases(); len(ls) != 0 || s.Active() != 0 {
		t.Fatalf("leases after the failed write: %+v", ls)
	}
	if l := s.byIP[guest(9, 10)]; l == nil || !l.offered {
		t.Fatalf("the offer is gone: %+v", l)
	}
	r.setFail(false)
	handleAsync(t, m, reboot(5, guest(8, 10), 5))
	handleAsync(t, s, req) // the client retries within the offer's hold
	acks := r.waitAcks(2)
	if acks[0].String() != "ack 10.8.0.10 xid 5" || acks[1].String() != "ack 10.9.0.10 xid 2" || len(acks) != 2 {
		t.Fatalf("acks %v", acks)
	}
	events, _ := r.snapshot()
	if events[0] != "file failed" {
		t.Fatalf("events %q", events)
	}
	if d := s.Drops(); d != [NumDrops]uint64{DropStoreFailed: 1} {
		t.Fatalf("drops %v", d)
	}
	st.Close()
	st2 := reopen(t, r.dir)
	sameLeases(t, st2.Load("n"), s.Leases())
	if got := len(st2.Load("n")); got != 1 {
		t.Fatalf("%d leases stored, want 1", got)
	}
	tmps, _ := filepath.Glob(filepath.Join(r.dir, ".leases-*"))
	if len(tmps) != 0 {
		t.Fatalf("temp files left: %v", tmps)
	}
}

// A failed write of another network's lease is not stored by a later
// successful write (store mode: a failed Save leaves no trace).
func TestFailedWriteNotStoredByAnotherNetwork(t *testing.T) {
	for _, async := range []bool{false, true} {
		t.Run(map[bool]string{false: "Save", true: "Deliver"}[async], func(t *testing.T) {
			r := newRecorder(t)
			st := r.store()
			n, m := NewServer(netConfig("n", 9), st), NewServer(netConfig("m", 8), st)
			if async {
				n, m = r.twoNetworks(st, netConfig)
			}
			r.setFail(true)
			n.Handle(reboot(1, guest(9, 10), 1).bytes(), make([]byte, 1500))
			waitDrops(t, n, DropStoreFailed, 1)
			r.setFail(false)
			m.Handle(reboot(2, guest(8, 10), 2).bytes(), make([]byte, 1500))
			st.Close()
			st2 := reopen(t, r.dir)
			if ls := st2.Load("n"); len(ls) != 0 {
				t.Fatalf("the lease that failed was stored: %+v", ls)
			}
			if ls := st2.Load("m"); len(ls) != 1 || ls[0].IP != guest(8, 10) {
				t.Fatalf("m: %+v", ls)
			}
		})
	}
}
