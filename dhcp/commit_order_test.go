package dhcp

import (
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// A client's second REQUEST waits behind its first. Whatever the two
// writes' outcomes, the ACKs come in order and the lease ends as on disk.
func TestSameClientTwoRequests(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		name         string
		fail1, fail2 bool
		acks         []string
		state        string    // the lease after both, "" none
		expiry       time.Time // its expiry
	}{
		{name: "both written", acks: []string{"ack 10.9.0.10 xid 1", "ack 10.9.0.10 xid 2"}, state: "bound", expiry: t0.Add(time.Hour + time.Minute)},
		{name: "first fails", fail1: true, acks: []string{"ack 10.9.0.10 xid 2"}, state: "bound", expiry: t0.Add(time.Hour + time.Minute)},
		// The second puts back what the first wrote.
		{name: "second fails", fail2: true, acks: []string{"ack 10.9.0.10 xid 1"}, state: "bound", expiry: t0.Add(time.Hour)},
		// Nothing was written: the lease is the offer it was.
		{name: "both fail", fail1: true, fail2: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecorder(t)
			st := r.store()
			s, c := asyncServer(netConfig("n", 9), st, r)
			reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(1)})
			r.setFails(tc.fail1, tc.fail2)
			release := r.hold()
			handleAsync(t, s, msg{typ: pkt.DHCPRequest, mac: mac(1), reqIP: guest(9, 10), serverID: guest(9, 1), xid: 1})
			r.waitEntered()
			c.t = c.t.Add(time.Minute)
			// A renewal of the lease the first is writing.
			handleAsync(t, s, msg{typ: pkt.DHCPRequest, mac: mac(1), ciaddr: guest(9, 10), xid: 2})
			release()
			deadline := time.Now().Add(5 * time.Second)
			for {
				_, acks := r.snapshot()
				if len(acks)+int(s.Drops()[DropStoreFailed]) == 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the two REQUESTs did not complete")
				}
				time.Sleep(time.Millisecond)
			}
			st.Close()
			if got := r.ackStrings(); !slices.Equal(got, tc.acks) {
				t.Fatalf("acks %q, want %q", got, tc.acks)
			}
			ls := s.Leases()
			if tc.state == "" {
				if len(ls) != 0 || !s.byIP[guest(9, 10)].offered {
					t.Fatalf("leases %+v", ls)
				}
				return
			}
			if len(ls) != 1 || ls[0].State != tc.state || !ls[0].Expiry.Equal(tc.expiry) {
				t.Fatalf("leases %+v", ls)
			}
			st2 := reopen(t, r.dir)
			sameLeases(t, st2.Load("n"), ls)
		})
	}
}

// Close writes what is queued (here: behind a held fsync), delivers its
// ACKs and ends the store goroutine; REQUESTs after it get no ACK.
func TestCloseFlushes(t *testing.T) {
	base := runtime.NumGoroutine()
	r := newRecorder(t)
	st := r.store()
	s, _ := asyncServer(netConfig("n", 9), st, r)
	release := r.hold()
	handleAsync(t, s, reboot(1, guest(9, 10), 1))
	r.waitEntered()
	handleAsync(t, s, reboot(2, guest(9, 11), 2))
	handleAsync(t, s, reboot(3, guest(9, 12), 3))
	closed := make(chan struct{})
	go func() {
		st.Close()
		close(closed)
	}()
	if _, ok := testnet.Poll(closed, 20*time.Millisecond); ok {
		t.Fatal("Close returned with a write under way")
	}
	release()
	testnet.Recv(t, closed, 5*time.Second, "Close to return")
	_, acks := r.snapshot()
	if len(acks) != 3 || acks[0].xid != 1 || acks[1].xid != 2 || acks[2].xid != 3 {
		t.Fatalf("acks %v", acks)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before", runtime.NumGoroutine(), base)
		}
		time.Sleep(time.Millisecond)
	}
	// After Close: not written, not acknowledged, not bound.
	handleAsync(t, s, reboot(4, guest(9, 13), 4))
	handleAsync(t, s, msg{typ: pkt.DHCPRelease, mac: mac(1), ciaddr: guest(9, 10)})
	if d := s.Drops(); d != [NumDrops]uint64{DropStoreFailed: 1} {
		t.Fatalf("drops %v", d)
	}
	if l := s.byIP[guest(9, 13)]; l == nil || !l.offered || s.Active() != 2 {
		t.Fatalf("after Close: %+v, active %d", l, s.Active())
	}
	st.Close() // twice: no-op
	if _, acks := r.snapshot(); len(acks) != 3 {
		t.Fatalf("acks after Close %v", acks)
	}
	st2 := reopen(t, r.dir)
	var stored []netip.Addr
	for _, l := range st2.Load("n") {
		if l.State == "bound" {
			stored = append(stored, l.IP)
		}
	}
	if !slices.Equal(stored, []netip.Addr{guest(9, 10), guest(9, 11), guest(9, 12)}) {
		t.Fatalf("stored %v", stored)
	}
	// A store whose goroutine never started closes at once.
	st3, err := OpenStore(t.TempDir())
	must(t, err)
	quickly(t, "Close of an idle store", st3.Close)
}

// A RELEASE is never undone on disk by the REQUEST before it: written
// after the ACK, while the ACK's write is under way, or before it (then
// there is no ACK: the lease was not written bound), nor by a renewal
// whose write fails.
func TestReleaseAfterRequest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		when  string // "acked", "writing", "queued", "renewal failed"
		acks  []string
		drops [NumDrops]uint64
	}{
		{name: "after the ACK", when: "acked", acks: []string{"ack 10.9.0.10 xid 1"}},
		{name: "while the ACK's write is under way", when: "writing", acks: []string{"ack 10.9.0.10 xid 1"}},
		{name: "before the write", when: "queued", acks: []string{"ack 10.9.0.20 xid 9"}},
		{name: "while a renewal's write fails", when: "renewal failed", acks: []string{"ack 10.9.0.10 xid 1"},
			drops: [NumDrops]uint64{DropStoreFailed: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecorder(t)
			st := r.store()
			s, c := asyncServer(netConfig("n", 9), st, r)
			req := reboot(1, guest(9, 10), 1)
			rel := msg{typ: pkt.DHCPRelease, mac: mac(1), ciaddr: guest(9, 10)}
			switch tc.when {
			case "acked":
				handleAsync(t, s, req)
				r.waitAcks(1)
				c.t = c.t.Add(time.Minute)
				handleAsync(t, s, rel)
			case "writing":
				release := r.hold()
				handleAsync(t, s, req)
				r.waitEntered()
				c.t = c.t.Add(time.Minute)
				handleAsync(t, s, rel)
				release()
			case "queued":
				release := r.hold()
				handleAsync(t, s, reboot(9, guest(9, 20), 9)) // another client's write holds the store
				r.waitEntered()
				handleAsync(t, s, req)
				c.t = c.t.Add(time.Minute)
				handleAsync(t, s, rel)
				release()
			case "renewal failed":
				handleAsync(t, s, req)
				r.waitAcks(1)
				r.setFails(true, false)
				release := r.hold()
				handleAsync(t, s, msg{typ: pkt.DHCPRequest, mac: mac(1), ciaddr: guest(9, 10), xid: 2})
				r.waitEntered()
				c.t = c.t.Add(time.Minute)
				handleAsync(t, s, rel)
				release()
			}
			st.Close()
			if got := r.ackStrings(); !slices.Equal(got, tc.acks) {
				t.Fatalf("acks %q, want %q", got, tc.acks)
			}
			st2 := reopen(t, r.dir)
			i := slices.IndexFunc(st2.Load("n"), func(l Lease) bool { return l.IP == guest(9, 10) })
			if i < 0 {
				t.Fatal("the released lease is not stored")
			}
			if l := st2.Load("n")[i]; l.State != "released" || !l.Expiry.Equal(c.t) {
				t.Fatalf("stored %+v", l)
			}
			if d := s.Drops(); d != tc.drops {
				t.Fatalf("drops %v", d)
			}
			ls := s.Leases()
			if i := slices.IndexFunc(ls, func(l Lease) bool { return l.IP == guest(9, 10) }); i < 0 || ls[i].State != "released" {
				t.Fatalf("leases %+v", ls)
			}
		})
	}
}

// A restart loads exactly the leases that were acknowledged: a burst of
// REQUESTs of two networks, some dropped as store_busy, some behind a held
// fsync, then Close and a new store over the directory.
func TestRestartLoadsDeliveredLeases(t *testing.T) {
	r := newRecorder(t)
	st := r.store()
	n, m := r.twoNetworks(st, wideConfig)
	release := r.hold()
	handleAsync(t, n, wide(9, 0, 1))
	r.waitEntered()
	for i := 0; i < maxPending+40; i++ {
		handleAsync(t, n, wide(9, i+1, uint32(100+i)))
		if i%2 == 0 {
			handleAsync(t, m, wide(8, i+1, uint32(10000+i)))
		}
	}
	release()
	st.Close()
	if d := n.Drops(); d != [NumDrops]uint64{DropStoreBusy: 41} {
		t.Fatalf("n drops %v", d)
	}
	if d := m.Drops(); d != [NumDrops]uint64{} {
		t.Fatalf("m drops %v", d)
	}
	_, acks := r.snapshot()
	want := map[netip.Addr]int64{}
	for _, a := range acks {
		want[a.ip] = time.Unix(1_700_000_000, 0).Add(time.Duration(a.lease) * time.Second).UnixNano()
	}
	if len(want) != len(acks) || len(acks) != maxPending+(maxPending+40)/2 { // all of n's that fit, all of m's
		t.Fatalf("%d acks, %d addresses", len(acks), len(want))
	}
	st2 := reopen(t, r.dir)
	got := map[netip.Addr]int64{}
	for _, net := range []string{"n", "m"} {
		for _, l := range st2.Load(net) {
			if l.State != "bound" {
				t.Fatalf("stored %+v", l)
			}
			got[l.IP] = l.Expiry.UnixNano()
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d stored, %d acknowledged", len(got), len(want))
	}
	for ip, exp := range want {
		if got[ip] != exp {
			t.Fatalf("%v: stored expiry %d, acknowledged %d", ip, got[ip], exp)
		}
	}
}

// A REQUEST after a RELEASE whose write fails puts back the RELEASE, not
// the lease the first REQUEST bound; a REQUEST after a RELEASE, both
// behind a write that fails with the first REQUEST, is acknowledged by its
// own write.
func TestRequestAfterRelease(t *testing.T) {
	rel := msg{typ: pkt.DHCPRelease, mac: mac(1), ciaddr: guest(9, 10)}
	t.Run("its own write fails", func(t *testing.T) {
		r := newRecorder(t)
		st := r.store()
		s, c := asyncServer(netConfig("n", 9), st, r)
		handleAsync(t, s, reboot(1, guest(9, 10), 1))
		r.waitAcks(1)
		c.t = c.t.Add(time.Minute)
		released := c.t
		handleAsync(t, s, rel)
		deadline := time.Now().Add(5 * time.Second)
		for events, _ := r.snapshot(); len(events) < 5; events, _ = r.snapshot() { // file, dir, ack, file, dir
			if time.Now().After(deadline) {
				t.Fatalf("the RELEASE was not written: %q", events)
			}
			time.Sleep(time.Millisecond)
		}
		r.setFails(true)
		c.t = c.t.Add(time.Minute)
		handleAsync(t, s, reboot(1, guest(9, 10), 3))
		st.Close()
		if _, acks := r.snapshot(); len(acks) != 1 {
			t.Fatalf("acks %v", acks)
		}
		if d := s.Drops(); d != [NumDrops]uint64{DropStoreFailed: 1} {
			t.Fatalf("drops %v", d)
		}
		if ls := s.Leases(); len(ls) != 1 || ls[0].State != "released" || !ls[0].Expiry.Equal(released) {
			t.Fatalf("leases %+v", ls)
		}
	})
	t.Run("the first REQUEST's write fails", func(t *testing.T) {
		r := newRecorder(t)
		st := r.store()
		s, c := asyncServer(netConfig("n", 9), st, r)
		r.setFails(true, false)
		release := r.hold()
		handleAsync(t, s, reboot(1, guest(9, 10), 1))
		r.waitEntered()
		handleAsync(t, s, rel)
		c.t = c.t.Add(time.Minute)
		handleAsync(t, s, reboot(1, guest(9, 10), 2))
		release()
		st.Close()
		_, acks := r.snapshot()
		if len(acks) != 1 || acks[0].String() != "ack 10.9.0.10 xid 2" {
			t.Fatalf("acks %v", acks)
		}
		if d := s.Drops(); d != [NumDrops]uint64{DropStoreFailed: 1} {
			t.Fatalf("drops %v", d)
		}
		ls := s.Leases()
		if len(ls) != 1 || ls[0].State != "bound" || !ls[0].Expiry.Equal(c.t.Add(time.Hour)) {
			t.Fatalf("leases %+v", ls)
		}
		st2 := reopen(t, r.dir)
		sameLeases(t, st2.Load("n"), ls)
	})
}
