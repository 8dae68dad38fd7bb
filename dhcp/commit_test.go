package dhcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// recorder is a Store's fsync seam and its servers' Deliver: one log of
// syncs and ACKs in the order they happened, a gate that holds file
// fsyncs, and a switch that fails them.
type recorder struct {
	t       *testing.T
	dir     string
	mu      sync.Mutex
	events  []string
	acks    []ack
	gate    chan struct{} // non-nil: file fsyncs wait until it is closed
	entered chan struct{} // a file fsync reached the gate
	fail    bool          // file fsyncs fail
	fails   []bool        // if not empty, the next file fsyncs fail or not, in turn
	onAck   func(ack)     // run inside Deliver
}

// ack is a delivered reply, copied out of the server's buffer.
type ack struct {
	typ   uint8
	xid   uint32
	ip    netip.Addr
	lease uint32 // option 51, seconds
	rep   Reply
}

func (a ack) String() string { return fmt.Sprintf("ack %v xid %d", a.ip, a.xid) }

func newRecorder(t *testing.T) *recorder {
	return &recorder{t: t, dir: t.TempDir(), entered: make(chan struct{}, 1)}
}

// store opens the recorder's directory with the recorder as fsync seam,
// closed at the end of the test.
func (r *recorder) store() *Store {
	st, err := OpenStore(r.dir)
	must(r.t, err)
	st.sync = r.sync
	r.t.Cleanup(st.Close)
	return st
}

func (r *recorder) sync(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	kind := map[bool]string{true: "dir", false: "file"}[fi.IsDir()]
	r.mu.Lock()
	gate := r.gate
	r.mu.Unlock()
	if gate != nil && kind == "file" {
		r.entered <- struct{}{}
		<-gate
	}
	r.mu.Lock()
	fail := r.fail
	if kind == "file" && len(r.fails) > 0 {
		fail, r.fails = r.fails[0], r.fails[1:]
	}
	r.mu.Unlock()
	if fail && kind == "file" {
		r.log("file failed")
		return errors.New("injected fsync failure")
	}
	err = f.Sync()
	r.log(kind + " synced")
	return err
}

// hold makes the next file fsyncs wait; the returned func lets them go
// (and is run at the end of the test if the test did not).
func (r *recorder) hold() (release func()) {
	gate := make(chan struct{})
	r.mu.Lock()
	r.gate = gate
	r.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			r.mu.Lock()
			r.gate = nil
			r.mu.Unlock()
			close(gate)
		})
	}
	r.t.Cleanup(release) // before the store's Close, which would wait
	return release
}

// waitEntered waits until the store goroutine is inside a held fsync.
func (r *recorder) waitEntered() {
	r.t.Helper()
	select {
	case <-r.entered:
	case <-time.After(5 * time.Second):
		r.t.Fatal("the store goroutine never reached the fsync")
	}
}

func (r *recorder) setFails(v ...bool) {
	r.mu.Lock()
	r.fails = v
	r.mu.Unlock()
}

func (r *recorder) setFail(v bool) {
	r.mu.Lock()
	r.fail = v
	r.mu.Unlock()
}

func (r *recorder) log(e string) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) deliver(rep Reply) {
	d := pkt.DHCP(rep.Msg)
	a := ack{xid: binary.BigEndian.Uint32(rep.Msg[4:8]), ip: d.YIAddr(), rep: rep}
	a.rep.Msg = slices.Clone(rep.Msg)
	it := d.Options()
	for it.Next() {
		switch it.Code() {
		case pkt.OptMessageType:
			a.typ = it.Data()[0]
		case pkt.OptLeaseTime:
			a.lease = binary.BigEndian.Uint32(it.Data())
		}
	}
	clear(rep.Msg) // the buffer is the server's: nothing may keep it
	if r.onAck != nil {
		r.onAck(a)
	}
	r.mu.Lock()
	r.events = append(r.events, a.String())
	r.acks = append(r.acks, a)
	r.mu.Unlock()
}

func (r *recorder) snapshot() ([]string, []ack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events), slices.Clone(r.acks)
}

// waitAcks waits until n ACKs were delivered and returns them.
func (r *recorder) waitAcks(n int) []ack {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, acks := r.snapshot()
		if len(acks) >= n {
			return acks
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%d ACKs delivered, want %d", len(acks), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitDrops waits until the server's counter of reason reaches n.
func waitDrops(t *testing.T, s *Server, reason DropReason, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Drops()[reason] < uint64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("drops %v, want %d of %s", s.Drops(), n, reason)
		}
		time.Sleep(time.Millisecond)
	}
}

// netConfig is network name with its guests at 10.<third>.0.10-250.
func netConfig(name string, third byte) Config {
	return Config{Network: name, Gateway: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, third, 0, 1}), 24),
		RangeStart: netip.AddrFrom4([4]byte{10, third, 0, 10}), RangeEnd: netip.AddrFrom4([4]byte{10, third, 0, 250}),
		Lease: time.Hour, DNS: []netip.Addr{netip.AddrFrom4([4]byte{10, third, 0, 1})}, Router: true}
}

// asyncServer serves cfg on st with r as Deliver, on a fixed clock.
func asyncServer(cfg Config, st *Store, r *recorder) (*Server, *clock) {
	cfg.Deliver = r.deliver
	s := NewServer(cfg, st)
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	s.now = func() time.Time { return c.t }
	return s, c
}

// guest is the address 10.<third>.0.<host>.
func guest(third, host byte) netip.Addr { return netip.AddrFrom4([4]byte{10, third, 0, host}) }

// reboot is an INIT-REBOOT REQUEST: client i of a network asks for the
// address it remembers.
func reboot(i byte, ip netip.Addr, xid uint32) msg {
	return msg{typ: pkt.DHCPRequest, mac: mac(i), reqIP: ip, xid: xid}
}

// handleAsync runs m through s and fails the test if Handle answers now.
func handleAsync(t *testing.T, s *Server, m msg) {
	t.Helper()
	if rep, ok := s.Handle(m.bytes(), make([]byte, 1500)); ok || rep.Msg != nil {
		t.Errorf("Handle answered at once: %+v", rep) // not Fatal: quickly runs it on another goroutine
	}
}

// quickly runs f and fails the test if it does not return within 5 s:
// it must not be waiting for a held fsync.
func quickly(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s waited for the disk", what)
	}
}

// With Deliver, Handle returns while the store's fsync is held, for the
// network writing and for another one, whose DISCOVER is offered at once.
func TestDeliverHandleNeverWaitsForDisk(t *testing.T) {
	r := newRecorder(t)
	st := r.store()
	n, _ := asyncServer(netConfig("n", 9), st, r)
	m, _ := asyncServer(netConfig("m", 8), st, r)
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
		st2, err := OpenStore(r.dir)
		must(t, err)
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
		want, _ = sync.Handle(m.bytes(), make([]byte, 1500))
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
	n, _ := asyncServer(netConfig("n", 9), st, r)
	m, _ := asyncServer(netConfig("m", 8), st, r)
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
	st2, err := OpenStore(r.dir)
	must(t, err)
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
	cfg := netConfig("n", 9)
	cfg.RangeStart = netip.MustParseAddr("10.9.0.2")
	s, _ := asyncServer(cfg, st, r)
	release := r.hold()
	handleAsync(t, s, reboot(0, guest(9, 2), 1000)) // being written
	r.waitEntered()
	for i := 1; i < maxPending; i++ {
		handleAsync(t, s, reboot(byte(i), guest(9, byte(2+i)), uint32(1000+i)))
	}
	busy := reboot(maxPending, guest(9, 2+maxPending), 2000)
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
		if a.xid != uint32(1000+i) || a.ip != guest(9, byte(2+i)) {
			t.Fatalf("ack %d: %v", i, a)
		}
	}
	// The client retries.
	handleAsync(t, s, busy)
	if a := r.waitAcks(maxPending + 1)[maxPending]; a.xid != 2000 || a.ip != busy.reqIP {
		t.Fatalf("retry: %v", a)
	}
	if d := s.Drops(); d != [NumDrops]uint64{DropStoreBusy: 1} {
		t.Fatalf("drops %v", d)
	}
	st.Close()
	st2, err := OpenStore(r.dir)
	must(t, err)
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
	s, _ := asyncServer(netConfig("n", 9), st, r)
	m, _ := asyncServer(netConfig("m", 8), st, r)
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
	st2, err := OpenStore(r.dir)
	must(t, err)
	if got := keys(st2.Load("n")); !slices.Equal(got, keys(s.Leases())) || len(got) != 1 {
		t.Fatalf("stored %+v, server has %+v", got, keys(s.Leases()))
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
				n, _ = asyncServer(netConfig("n", 9), st, r)
				m, _ = asyncServer(netConfig("m", 8), st, r)
			}
			r.setFail(true)
			n.Handle(reboot(1, guest(9, 10), 1).bytes(), make([]byte, 1500))
			waitDrops(t, n, DropStoreFailed, 1)
			r.setFail(false)
			m.Handle(reboot(2, guest(8, 10), 2).bytes(), make([]byte, 1500))
			st.Close()
			st2, err := OpenStore(r.dir)
			must(t, err)
			if ls := st2.Load("n"); len(ls) != 0 {
				t.Fatalf("the lease that failed was stored: %+v", ls)
			}
			if ls := st2.Load("m"); len(ls) != 1 || ls[0].IP != guest(8, 10) {
				t.Fatalf("m: %+v", ls)
			}
		})
	}
}

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
			_, acks := r.snapshot()
			var got []string
			for _, a := range acks {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tc.acks) {
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
			st2, err := OpenStore(r.dir)
			must(t, err)
			if got := keys(st2.Load("n")); !slices.Equal(got, keys(ls)) {
				t.Fatalf("stored %+v, server has %+v", got, keys(ls))
			}
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
	select {
	case <-closed:
		t.Fatal("Close returned with a write under way")
	case <-time.After(20 * time.Millisecond):
	}
	release()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
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
	st2, err := OpenStore(r.dir)
	must(t, err)
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
			_, acks := r.snapshot()
			var got []string
			for _, a := range acks {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tc.acks) {
				t.Fatalf("acks %q, want %q", got, tc.acks)
			}
			st2, err := OpenStore(r.dir)
			must(t, err)
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
	n, _ := asyncServer(netConfig("n", 9), st, r)
	m, _ := asyncServer(netConfig("m", 8), st, r)
	release := r.hold()
	handleAsync(t, n, reboot(1, guest(9, 10), 1))
	r.waitEntered()
	for i := 0; i < maxPending+40; i++ {
		handleAsync(t, n, reboot(byte(i+2), guest(9, byte(11+i)), uint32(100+i)))
		if i%2 == 0 {
			handleAsync(t, m, reboot(byte(i+2), guest(8, byte(11+i)), uint32(1000+i)))
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
	st2, err := OpenStore(r.dir)
	must(t, err)
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
		st2, err := OpenStore(r.dir)
		must(t, err)
		if got := keys(st2.Load("n")); !slices.Equal(got, keys(ls)) {
			t.Fatalf("stored %+v, server has %+v", got, keys(ls))
		}
	})
}
