package vswitch

import (
	"sync"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// TestFDBConcurrentCounts runs learning, moves, ageing, flushes and static
// entries against one table at once, as port readers, the ager and the
// control API do, and then checks the counts exactly: the table's entry
// count, each port's MAC count, and what is left in the table.
func TestFDBConcurrentCounts(t *testing.T) {
	const (
		n      = 300 // addresses per learner
		shared = 8   // addresses that move between three ports, all the time
		rounds = 20
		now    = 1000
	)
	tb := newFDB(1<<20, 300)
	port := func(name string) *swPort { return &swPort{name: name} }
	learners := []*swPort{port("l0"), port("l1"), port("l2"), port("l3")}
	movers := []*swPort{port("m0"), port("m1"), port("m2")}
	stale, flushed, static, dynamic := port("stale"), port("flushed"), port("static"), port("dynamic")
	addr := func(group, i int) pkt.MAC { return pkt.MACFromUint64(0x020000000000 | uint64(group)<<16 | uint64(i)) }

	// Entries last seen at time 0: stale by now, aged while the rest runs;
	// and dynamic entries that static ones will replace.
	for i := range n {
		tb.learn(stale, 100, addr(100, i), 0)
		tb.learn(dynamic, 400, addr(400, i), now)
	}

	var wg sync.WaitGroup
	start, done := make(chan struct{}), make(chan struct{})
	run := func(fn func()) {
		wg.Add(1)
		go func() { defer wg.Done(); <-start; fn() }()
	}
	// learning has p learn the first count addresses of group on vlan,
	// times times over.
	learning := func(p *swPort, vlan uint16, group, count, times int) {
		run(func() {
			for range times {
				for i := range count {
					tb.learn(p, vlan, addr(group, i), now)
				}
			}
		})
	}
	for k, p := range learners {
		learning(p, uint16(k+1), k, n, rounds)
	}
	for _, p := range movers {
		learning(p, 200, 200, shared, 100*rounds)
	}
	learning(flushed, 300, 300, n, rounds)
	run(func() { // the port goes away while its reader still learns
		for range rounds {
			tb.flushPort(flushed)
		}
	})
	run(func() { // flushes race with moves, and with the ager over stale entries
		for range 10 * rounds {
			tb.flushPort(movers[0])
			tb.flushPort(stale)
		}
	})
	run(func() { // static entries take over addresses being learned
		for i := range n {
			tb.addStatic(static, 400, addr(400, i), false)
		}
	})
	learning(dynamic, 400, 400, n, rounds)
	var agers sync.WaitGroup
	agers.Add(1)
	go func() {
		defer agers.Done()
		for {
			select {
			case <-done:
				return
			default:
				tb.age(now)
			}
		}
	}()
	close(start)
	wg.Wait()
	close(done)
	agers.Wait()
	tb.age(now)
	tb.flushPort(flushed)
	for i := range shared { // whatever the flushes took, every moving address is back
		tb.learn(movers[1], 200, addr(200, i), now)
	}

	want := map[*swPort]int{movers[0]: -1, movers[1]: -1, movers[2]: -1, static: n}
	for _, p := range learners {
		want[p] = n
	}
	// What is in the table, entry by entry.
	got := map[*swPort]int{}
	tb.m.Range(func(k uint64, e *fdbEntry) bool {
		p := e.port.Load()
		if p == nil {
			t.Errorf("entry %#x with no port left in the table", k)
			return true
		}
		if e.static != (p == static) {
			t.Errorf("entry %#x on %s: static %v", k, p.name, e.static)
		}
		got[p]++
		return true
	})
	for _, p := range append(append(learners, movers...), stale, flushed, static, dynamic) {
		w, ok := want[p]
		if !ok {
			w = 0
		}
		if w >= 0 && got[p] != w {
			t.Errorf("port %s has %d entries in the table, want %d", p.name, got[p], w)
		}
		if p == static {
			if p.macs.Load() != 0 {
				t.Errorf("static entries counted as %d learned MACs", p.macs.Load())
			}
		} else if int(p.macs.Load()) != got[p] {
			t.Errorf("port %s counts %d MACs, the table holds %d", p.name, p.macs.Load(), got[p])
		}
	}
	if m := got[movers[0]] + got[movers[1]] + got[movers[2]]; m != shared {
		t.Errorf("moving addresses: %d in the table, want %d", m, shared)
	}
	if c := tb.count.Load(); c != 4*n+shared {
		t.Errorf("dynamic entry count %d, want %d", c, 4*n+shared)
	}
	if s := tb.m.Size(); s != 5*n+shared {
		t.Errorf("table size %d, want %d", s, 5*n+shared)
	}
}
