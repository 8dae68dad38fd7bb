package vswitch

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// A port that filled the table does not lock out the others: a port under
// its fair share learns by evicting the oldest entry of the port holding
// the most, until it holds its share; the filler, over its share, learns
// nothing more.
func TestFDBFairShare(t *testing.T) {
	limited := access("l", 1)
	limited.MaxMACs = 1
	r := newGuardRig(t, access("a", 1), access("b", 1), access("c", 1), limited)
	r.s.fdb.max = 12 // a share of 3 for each of the 4 ports
	t0 := time.Now().Unix()
	flood := func(i int) pkt.MAC { return pkt.MACFromUint64(0x020000000000 + uint64(i)) }
	for i := range 12 {
		r.send("a", frame(pkt.Broadcast, flood(i)), t0+int64(i))
	}
	r.send("a", frame(pkt.Broadcast, flood(0)), t0+20) // refresh: flood(1) is now the oldest
	macsOn := func(port string) []pkt.MAC {
		var out []pkt.MAC
		for _, e := range r.s.FDB() {
			if e.Port == port {
				out = append(out, e.MAC)
			}
		}
		return out
	}
	steps := []struct {
		port    string
		mac     pkt.MAC
		limit   bool      // counted fdb_limit
		evicted []pkt.MAC // gone from a
	}{
		{"a", flood(12), true, nil},               // a holds 12, over its share
		{"b", mac(1), false, []pkt.MAC{flood(1)}}, // the oldest of a
		{"b", mac(2), false, []pkt.MAC{flood(2)}},
		{"c", mac(3), false, []pkt.MAC{flood(3)}},
		{"b", mac(4), false, []pkt.MAC{flood(4)}},
		{"b", mac(5), true, nil}, // b holds its share: 3
		{"l", mac(6), false, []pkt.MAC{flood(5)}},
		{"l", mac(7), true, nil}, // l's own max_macs
	}
	gone := []pkt.MAC{}
	for i, st := range steps {
		before := r.ports[st.port].status().Drops[DropFDBLimit]
		r.send(st.port, frame(pkt.Broadcast, st.mac), t0+30)
		if limit := r.ports[st.port].status().Drops[DropFDBLimit] > before; limit != st.limit {
			t.Fatalf("step %d (%s from %s): fdb_limit %v, want %v", i, st.mac, st.port, limit, st.limit)
		}
		gone = append(gone, st.evicted...)
		if got := r.s.Known(1, st.mac); got == st.limit {
			t.Fatalf("step %d: %s learned %v", i, st.mac, got)
		}
		for _, m := range gone {
			if slices.Contains(macsOn("a"), m) {
				t.Fatalf("step %d: %s still on a", i, m)
			}
		}
		if n := len(macsOn("a")); n != 12-len(gone) {
			t.Fatalf("step %d: a holds %d, want %d", i, n, 12-len(gone))
		}
	}
	if st := r.s.FDBStats(); st.Entries != 12 || st.Evicted != 5 {
		t.Fatalf("fdb %+v, want 12 entries and 5 evictions", st)
	}
}

// TestFDBFairShareRandom runs random learning from ports with and without
// MAC limits through a small table and compares every step with a slow
// model of the rules: limits, moves, fair share eviction of the oldest
// entry of the port holding the most (the first such port in port order).
func TestFDBFairShareRandom(t *testing.T) {
	pcs := []PortConfig{access("a", 1), access("b", 1), access("c", 1), access("d", 1)}
	pcs[2].MaxMACs, pcs[3].MaxMACs = 3, 1
	for seed := range uint64(20) {
		r := newGuardRig(t, pcs...)
		const max = 10
		r.s.fdb.max = max
		type entry struct {
			port int
			seen int64
		}
		model := map[pkt.MAC]*entry{}
		held := func(p int) int {
			n := 0
			for _, e := range model {
				if e.port == p {
					n++
				}
			}
			return n
		}
		room := func(p int) bool { return pcs[p].MaxMACs == 0 || held(p) < pcs[p].MaxMACs }
		rng := rand.New(rand.NewPCG(seed, 7))
		t0 := time.Now().Unix()
		for step := range 400 {
			p, m, now := rng.IntN(len(pcs)), pkt.MACFromUint64(0x020000000000+uint64(rng.IntN(30))), t0+int64(step)
			limited := false
			if e, ok := model[m]; ok {
				if e.port != p && !room(p) {
					limited = true // a refused move does not refresh the entry
				} else {
					e.port, e.seen = p, now
				}
			} else if room(p) && len(model) < max {
				model[m] = &entry{p, now}
			} else if room(p) && held(p) < max/len(pcs) {
				victim := -1
				for q := range pcs {
					if q != p && (victim < 0 || held(q) > held(victim)) {
						victim = q
					}
				}
				if held(victim) > max/len(pcs) {
					var oldest pkt.MAC
					var seen int64 = 1 << 62
					for k, e := range model {
						if e.port == victim && e.seen < seen {
							oldest, seen = k, e.seen
						}
					}
					delete(model, oldest)
					model[m] = &entry{p, now}
				} else {
					limited = true
				}
			} else {
				limited = true
			}
			name := pcs[p].Name
			before := r.ports[name].status().Drops[DropFDBLimit]
			r.send(name, frame(pkt.Broadcast, m), now)
			if got := r.ports[name].status().Drops[DropFDBLimit] > before; got != limited {
				t.Fatalf("seed %d step %d: %s from %s: fdb_limit %v, model %v", seed, step, m, name, got, limited)
			}
			if n := r.s.fdb.count.Load(); n != int64(len(model)) || r.s.fdb.m.Size() != len(model) {
				t.Fatalf("seed %d step %d: %d entries (%d counted), model %d", seed, step, r.s.fdb.m.Size(), n, len(model))
			}
			for k, e := range model {
				if q := r.s.fdb.lookup(1, k); q == nil || q.name != pcs[e.port].Name {
					t.Fatalf("seed %d step %d: %s on %v, model %s", seed, step, k, q, pcs[e.port].Name)
				}
			}
			for i, pc := range pcs {
				if got := r.ports[pc.Name].macs.Load(); got != int64(held(i)) {
					t.Fatalf("seed %d step %d: %s counts %d MACs, model %d", seed, step, pc.Name, got, held(i))
				}
			}
		}
	}
}

// Ports learning at once, as their readers do, with fair share evictions
// racing each other: afterwards the table, its count and every port's
// count agree, and no limit is exceeded.
func TestFDBFairShareConcurrent(t *testing.T) {
	pcs := []PortConfig{access("a", 1), access("b", 1), access("c", 1), access("d", 1)}
	pcs[3].MaxMACs = 5
	s, ports := benchSwitch(t, pcs...)
	s.fdb.max = 64
	var wg sync.WaitGroup
	for i, p := range ports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			frames := make([]*Frame, 8)
			out := make([]*Frame, BatchSize)
			for round := range 300 {
				for j := range frames {
					frames[j] = NewFrame()
					// Each port its own MACs, and some everyone's (moves).
					m := pkt.MACFromUint64(0x020000000000 + uint64(i)<<16 + uint64(rng.IntN(200)))
					if rng.IntN(4) == 0 {
						m = pkt.MACFromUint64(0x020000ff0000 + uint64(rng.IntN(20)))
					}
					frames[j].SetData(frame(mac(1), m))
				}
				s.ingress(p, frames, int64(round))
				for _, f := range frames {
					f.Release()
				}
				for k := p.q.Take(out); k > 0; k = p.q.Take(out) { // what others sent here
					for _, f := range out[:k] {
						f.Release()
					}
				}
			}
		}()
	}
	wg.Wait()
	size, count, sum := s.fdb.m.Size(), s.fdb.count.Load(), int64(0)
	for _, p := range ports {
		sum += p.macs.Load()
		if p.maxMACs > 0 && p.macs.Load() > p.maxMACs {
			t.Errorf("%s holds %d MACs over its limit %d", p.name, p.macs.Load(), p.maxMACs)
		}
	}
	held := map[string]int64{}
	for _, e := range s.FDB() {
		held[e.Port]++
	}
	for _, p := range ports {
		if held[p.name] != p.macs.Load() {
			t.Errorf("%s: %d entries in the table, counted %d", p.name, held[p.name], p.macs.Load())
		}
	}
	// Learners that passed the size check together may overshoot the
	// table by at most one entry each.
	if int64(size) != count || count != sum || count > s.fdb.max+int64(len(ports)) {
		t.Fatalf("table %d entries, counted %d, ports hold %d, max %d", size, count, sum, s.fdb.max)
	}
	if s.FDBStats().Evicted == 0 {
		t.Fatal("no fair share eviction happened: the test did not test it")
	}
}
