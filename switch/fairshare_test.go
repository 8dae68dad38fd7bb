package vswitch

import (
	"slices"
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
