package vswitch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestFDBAgeingBoundary: an entry ages out once it has not been seen for
// more than the ageing time (clocks are whole seconds, so at exactly the
// ageing time it may be only a little over ageing-1 s old), and every frame
// from it restarts the clock.
func TestFDBAgeingBoundary(t *testing.T) {
	tb := newFDB(16, 300)
	p := &swPort{name: "p"}
	tb.learn(p, 1, mac(1), 100)
	if n := tb.age(400); n != 0 || tb.lookup(1, mac(1)) != p {
		t.Fatalf("aged %d entries 300 s after the last frame", n)
	}
	tb.learn(p, 1, mac(1), 350) // seen again
	if n := tb.age(650); n != 0 || tb.lookup(1, mac(1)) != p {
		t.Fatalf("aged %d entries 300 s after a refresh", n)
	}
	if n := tb.age(651); n != 1 || tb.lookup(1, mac(1)) != nil || p.macs.Load() != 0 || tb.count.Load() != 0 {
		t.Fatalf("at 301 s: aged %d, macs %d, count %d", n, p.macs.Load(), tb.count.Load())
	}
	tb.addStatic(p, 1, mac(2), false)
	if n := tb.age(1 << 40); n != 0 || tb.lookup(1, mac(2)) != p {
		t.Fatal("a static entry aged")
	}
}

// TestFDBView checks what the control API shows of the table: sorted by
// VLAN then MAC, ages from the last frame, statics with no age.
func TestFDBView(t *testing.T) {
	s := newTestSwitch(t, Config{}, trunk("t", 0, 5, 7), access("a", 5))
	now := time.Now().Unix()
	tp, ap := s.topo.Load().byName["t"], s.topo.Load().byName["a"]
	s.fdb.learn(tp, 7, mac(1), now-100)
	s.fdb.learn(ap, 5, mac(9), now-10)
	s.fdb.learn(tp, 5, mac(3), now)
	if err := s.AddStatic("t", 7, mac(0)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddStatic("nope", 7, mac(0)); !errors.Is(err, ErrNoSuchPort) {
		t.Fatalf("static on a missing port: %v", err)
	}
	got := s.FDB()
	want := []FDBEntry{
		{VLAN: 5, MAC: mac(3), Port: "t"},
		{VLAN: 5, MAC: mac(9), Port: "a", Age: 10 * time.Second},
		{VLAN: 7, MAC: mac(0), Port: "t", Static: true},
		{VLAN: 7, MAC: mac(1), Port: "t", Age: 100 * time.Second},
	}
	if len(got) != len(want) {
		t.Fatalf("fdb %+v", got)
	}
	for i := range want {
		g := got[i]
		// FDB reads the clock again: allow the second to have turned.
		if g.Age == want[i].Age+time.Second {
			g.Age = want[i].Age
		}
		if g != want[i] {
			t.Fatalf("entry %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if !s.Known(7, mac(1)) || s.Known(5, mac(1)) {
		t.Fatal("Known")
	}
	if st := s.FDBStats(); st.Entries != 4 || st.Learned != 3 || st.Moves != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestConfigDefaults: the zero Config and PortConfig get the documented
// defaults, and a sub-second ageing is one second.
func TestConfigDefaults(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	if s.fdb.ageing != 300 || s.fdb.max != 8192 || s.log != slog.Default() {
		t.Fatalf("ageing %d max %d", s.fdb.ageing, s.fdb.max)
	}
	s2 := New(Config{Ageing: 300 * time.Millisecond, MaxEntries: 5})
	defer s2.Close()
	if s2.fdb.ageing != 1 || s2.fdb.max != 5 {
		t.Fatalf("ageing %d max %d", s2.fdb.ageing, s2.fdb.max)
	}
	if err := s.AddPort(PortConfig{Name: "a"}, newMemPort()); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPort(PortConfig{Name: "b", Queue: 7}, newMemPort()); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPort(PortConfig{Name: "a"}, newMemPort()); !errors.Is(err, ErrPortExists) {
		t.Fatalf("second port a: %v", err)
	}
	if err := s.AddPort(PortConfig{}, newMemPort()); err == nil {
		t.Fatal("a port with no name was added")
	}
	a, _ := s.Port("a")
	b, _ := s.Port("b")
	if a.QueueCap != DefaultQueue || b.QueueCap != 8 || a.VLAN.PVID != 0 {
		t.Fatalf("queue caps %d %d", a.QueueCap, b.QueueCap)
	}
	if _, ok := s.Port("c"); ok {
		t.Fatal("port c exists")
	}
	s.Close()
	if err := s.AddPort(PortConfig{Name: "c"}, newMemPort()); !errors.Is(err, ErrSwitchClose) {
		t.Fatalf("add after close: %v", err)
	}
}

func TestDropReasonNames(t *testing.T) {
	seen := map[string]bool{}
	for r := DropReason(0); r < NumDropReasons; r++ {
		n := r.String()
		if n == "" || n == "unknown" || seen[n] {
			t.Fatalf("reason %d is named %q", r, n)
		}
		seen[n] = true
	}
	if DropRunt.String() != "runt" || DropBadOffload.String() != "bad_offload" || NumDropReasons.String() != "unknown" {
		t.Fatal("names")
	}
}

// TestTxCountersAndErrors: tx counters count what the device took, byte
// for byte; frames it refused are tx_error drops, or port_down when the
// port is closing.
func TestTxCountersAndErrors(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("a", 1))
	b := s.addPort(t, PortConfig{Name: "b", VLAN: VLANConfig{PVID: 1}, Queue: 64}, FeatVNetHdr)
	a := s.ports["a"]
	big := pattern(1000)
	copy(big, frame(pkt.Broadcast, mac(1))[:14])
	a.in <- frame(pkt.Broadcast, mac(1))
	a.in <- big
	b.expect(t)
	b.expect(t)
	waitFor(t, func() bool { st, _ := s.Port("b"); return st.TxPackets == 2 })
	if st, _ := s.Port("b"); st.TxBytes != 60+1000 || st.Drops != ([NumDropReasons]uint64{}) {
		t.Fatalf("b: tx %d bytes, drops %v", st.TxBytes, st.Drops)
	}
	// The reader counts its batch after forwarding it: b may have it first.
	waitFor(t, func() bool { st, _ := s.Port("a"); return st.RxPackets == 2 })
	if st, _ := s.Port("a"); st.RxPackets != 2 || st.RxBytes != 1060 {
		t.Fatalf("a: rx %d packets %d bytes", st.RxPackets, st.RxBytes)
	}

	// The device refuses the last frame of every batch: the ones it took
	// are counted in tx, byte for byte, the others as tx_error.
	b.short = func(n int) (int, error) { return n - 1, errors.New("device busy") }
	for range 3 {
		a.in <- big
	}
	waitFor(t, func() bool { st, _ := s.Port("b"); return st.TxPackets+st.Drops[DropTxError] == 5 })
	st, _ := s.Port("b")
	if st.TxBytes != 1060+1000*(st.TxPackets-2) || st.Drops[DropTxError] == 0 {
		t.Fatalf("after short writes: tx %d packets %d bytes, tx_error %d", st.TxPackets, st.TxBytes, st.Drops[DropTxError])
	}
	// A device that reports itself closed: port_down, and the writer stops.
	txErr := st.Drops[DropTxError]
	b.short = func(n int) (int, error) { return 0, fmt.Errorf("write: %w", ErrClosed) }
	a.in <- big
	s.waitDrop(t, "b", DropPortDown, 1)
	if st, _ := s.Port("b"); st.Drops[DropTxError] != txErr || st.Drops[DropPortDown] != 1 {
		t.Fatalf("drops %v", st.Drops)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestReadErrorIsNotFatal: a device error (link down) on read is logged
// and the port carries on; it is not taken for a closed port.
func TestReadErrorIsNotFatal(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("a", 1), access("b", 1))
	s.ports["a"].readErr <- errors.New("network is down")
	s.ports["a"].in <- frame(pkt.Broadcast, mac(1))
	if got := s.ports["b"].expect(t); !bytes.Equal(got, frame(pkt.Broadcast, mac(1))) {
		t.Fatalf("b got % x", got)
	}
}

// TestVLAN4094AndMinimalFrames covers the edges of the VLAN and length
// checks: VLAN 4094 is a VLAN like any other, a bare 14-byte header and a
// bare 18-byte tagged header are frames.
func TestVLAN4094AndMinimalFrames(t *testing.T) {
	s := newTestSwitch(t, Config{}, trunk("t", 0, 4094), access("a", 4094))
	s.ports["t"].in <- withTCI(frame(pkt.Broadcast, mac(1)), 4094)[:18]
	if got := s.ports["a"].expect(t); !bytes.Equal(got, frame(pkt.Broadcast, mac(1))[:14]) {
		t.Fatalf("a got % x", got)
	}
	s.ports["a"].in <- frame(pkt.Broadcast, mac(2))[:14]
	if got := s.ports["t"].expect(t); !bytes.Equal(got, withTCI(frame(pkt.Broadcast, mac(2)), 4094)[:18]) {
		t.Fatalf("t got % x", got)
	}
}

// TestCaptureDetach: closing one of two captures leaves the other
// working; closing the last leaves the port with none.
func TestCaptureDetach(t *testing.T) {
	s := newTestSwitch(t, Config{}, access("a", 1), access("b", 1))
	c1, _ := s.StartCapture("a")
	c2, _ := s.StartCapture("a")
	c3, _ := s.StartCapture("a")
	c2.Close()
	c2.Close() // twice is fine
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.ports["a"].in <- frame(pkt.Broadcast, mac(1))
	s.ports["b"].expect(t)
	for _, c := range []*Capture{c1, c3} {
		if _, got, err := c.Next(ctx); err != nil || !bytes.Equal(got, frame(pkt.Broadcast, mac(1))) {
			t.Fatalf("%v % x", err, got)
		}
	}
	if _, _, err := c2.Next(ctx); !errors.Is(err, ErrCaptureClosed) {
		t.Fatalf("closed capture: %v", err)
	}
	p := s.topo.Load().byName["a"]
	if list := p.caps.Load(); list == nil || len(*list) != 2 {
		t.Fatal("wrong captures left")
	}
	c1.Close()
	c3.Close()
	if p.caps.Load() != nil {
		t.Fatal("captures left after closing all")
	}
	// A jumbo frame with an out-of-band tag is captured whole, tag and all.
	c4, _ := s.StartCapture("a")
	defer c4.Close()
	big := pattern(9000)
	copy(big, frame(pkt.Broadcast, mac(1))[:14])
	s.ports["a"].inMeta <- memFrame{b: big, tci: 1, hasTCI: true}
	if _, got, err := c4.Next(ctx); err != nil || !bytes.Equal(got, withTCI(big, 1)) {
		t.Fatalf("jumbo capture: %v %d bytes", err, len(got))
	}
	// Just over the small class: the copy must be a big frame.
	s.ports["a"].inMeta <- memFrame{b: big[:SmallDataLen+2], tci: 1, hasTCI: true}
	if _, got, err := c4.Next(ctx); err != nil || !bytes.Equal(got, withTCI(big[:SmallDataLen+2], 1)) {
		t.Fatalf("capture of %d bytes: %v %d bytes", SmallDataLen+2, err, len(got))
	}
	// The smallest frame that can take the tag back.
	s.ports["a"].inMeta <- memFrame{b: big[:14], tci: 1, hasTCI: true}
	if _, got, err := c4.Next(ctx); err != nil || !bytes.Equal(got, withTCI(big[:14], 1)) {
		t.Fatalf("header-only capture: %v % x", err, got)
	}
}

// logCount is a slog handler that counts records by message.
type logCount struct {
	mu sync.Mutex
	n  map[string]int
}

func (l *logCount) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCount) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n[r.Message]++
	return nil
}
func (l *logCount) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCount) WithGroup(string) slog.Handler      { return l }
func (l *logCount) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[msg]
}

// TestReadErrorsLoggedOncePerSecond: a device that keeps failing is
// reported once a second, not once per failed read.
func TestReadErrorsLoggedOncePerSecond(t *testing.T) {
	logs := &logCount{n: map[string]int{}}
	s := newTestSwitch(t, Config{Log: slog.New(logs)}, access("a", 1), access("b", 1))
	a := s.ports["a"]
	a.readErr <- errors.New("network is down")
	waitFor(t, func() bool { return logs.count("port read failed") == 1 }) // the first is reported
	a.readErr <- errors.New("network is down")                             // 100 ms later
	waitFor(t, func() bool { return len(a.readErr) == 0 })
	a.in <- frame(pkt.Broadcast, mac(1)) // read after the second failure
	s.ports["b"].expect(t)
	if n := logs.count("port read failed"); n != 1 {
		t.Fatalf("%d warnings for 2 failures within a second, want 1", n)
	}
}

// TestWriteLoopShortBatch drives the writer over a batch of three frames
// that the device only partly takes: what it took is tx, byte for byte,
// the rest tx_error, or port_down if the device says it is closed.
func TestWriteLoopShortBatch(t *testing.T) {
	for _, tc := range []struct {
		err    error
		reason DropReason
	}{{errors.New("device busy"), DropTxError}, {fmt.Errorf("write: %w", ErrClosed), DropPortDown}} {
		s := New(Config{})
		m := newMemPort()
		m.short = func(n int) (int, error) { return n - 1, tc.err }
		p := newSwPort(PortConfig{Name: "p", Queue: 8}, m)
		for i := range 3 {
			f := NewFrame()
			f.SetData(pattern(60 + 10*i))
			p.q.Put(f)
		}
		s.wg.Add(1)
		go s.writeLoop(p) // one batch: all three are queued already
		waitFor(t, func() bool { return p.stats.drops[tc.reason].Load() != 0 })
		if tx, bytes, d := p.stats.txPackets.Load(), p.stats.txBytes.Load(), p.stats.drops[tc.reason].Load(); tx != 2 || bytes != 60+70 || d != 1 {
			t.Fatalf("%v: tx %d packets %d bytes, %s %d", tc.err, tx, bytes, tc.reason, d)
		}
		close(p.done)
		s.Close()
	}
}

// TestFDBLearnDuringRemoval: a frame whose learn finds an entry the ager is
// removing (its port already cleared) still leaves the MAC learned.
func TestFDBLearnDuringRemoval(t *testing.T) {
	tb := newFDB(16, 300)
	p1, p2 := &swPort{name: "p1"}, &swPort{name: "p2"}
	tb.learn(p1, 1, mac(1), 100)
	e, _ := tb.m.Load(fdbKey(1, mac(1)))
	// What removeIf does first, under the bucket lock, before deleting.
	e.port.Store(nil)
	p1.macs.Add(-1)
	tb.count.Add(-1)
	if r := tb.learn(p2, 1, mac(1), 101); r != learnOK {
		t.Fatalf("learn = %v", r)
	}
	if got := tb.lookup(1, mac(1)); got != p2 {
		t.Fatalf("lookup after learning over a dying entry = %v, want p2", got)
	}
	if tb.count.Load() != 1 || p2.macs.Load() != 1 || p1.macs.Load() != 0 || tb.moves.Load() != 0 {
		t.Fatalf("count %d, p2 macs %d, p1 macs %d, moves %d", tb.count.Load(), p2.macs.Load(), p1.macs.Load(), tb.moves.Load())
	}
}
