package nat

import (
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// size is the number of fragment records held.
func (f *fragTable) size() int {
	n := 0
	for i := range f.slots {
		if f.slots[i].Load() != nil {
			n++
		}
	}
	return n
}

// srcPorts and remotePorts list the guest-side or remote ports of the
// table's flows, sorted.
func srcPorts(tb *Table) string {
	return flowPorts(tb, func(e *Entry) uint16 { return e.Inside.Src.Port() })
}
func remotePorts(tb *Table) string {
	return flowPorts(tb, func(e *Entry) uint16 { return e.Inside.Dst.Port() })
}

func flowPorts(tb *Table, port func(*Entry) uint16) string {
	var p []int
	for _, e := range tb.Entries() {
		p = append(p, int(port(e)))
	}
	slices.Sort(p)
	return fmt.Sprint(p)
}

// checkTable checks the table's invariants against a recount of its
// flows: the bound, the per-source counts and limit, the two indexes, and
// the early-drop queue (live flows only, each once, both links agreeing).
func checkTable(t testing.TB, tb *Table) {
	t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	live := tb.Entries()
	if n := tb.Len(); n != len(live) || n > tb.cfg.MaxEntries || tb.byInside.Size() != n || tb.byOutside.Size() != n {
		t.Fatalf("len %d, %d listed, indexes %d/%d, max %d", n, len(live), tb.byInside.Size(), tb.byOutside.Size(), tb.cfg.MaxEntries)
	}
	per := map[netip.Addr]int{}
	for _, e := range live {
		per[e.origin()]++
		if o, ok := tb.byOutside.Load(e.Outside.reverse()); !ok || o != e {
			t.Fatalf("%v not indexed by its reply tuple", e.Inside)
		}
	}
	if len(per) != len(tb.perSource) {
		t.Fatalf("per source %v, recount %v", tb.perSource, per)
	}
	for a, n := range per {
		if tb.perSource[a] != n || n > tb.cfg.MaxPerSource {
			t.Fatalf("per source %v, recount %v, limit %d", tb.perSource, per, tb.cfg.MaxPerSource)
		}
	}
	seen := map[*Entry]bool{}
	var prev *Entry
	for e := tb.oldest; e != nil; prev, e = e, e.newer {
		if seen[e] || !e.queued || e.dead.Load() || e.older != prev {
			t.Fatalf("early-drop queue broken at %v", e.Inside)
		}
		seen[e] = true
	}
	if tb.newest != prev {
		t.Fatal("early-drop queue: newest is not its last")
	}
	for _, e := range live {
		if !e.assured.Load() && !seen[e] {
			t.Fatalf("unanswered %v is not queued for early drop", e.Inside)
		}
	}
	if len(tb.frags.slots) != tb.cfg.MaxFragments {
		t.Fatalf("%d fragment slots, want %d", len(tb.frags.slots), tb.cfg.MaxFragments)
	}
	for i := range tb.frags.slots {
		if r := tb.frags.slots[i].Load(); r != nil && tb.frags.slot(r.key) != &tb.frags.slots[i] {
			t.Fatalf("fragment record %+v in slot %d, not its own", r.key, i)
		}
	}
}

// FuzzTableLimits drives a small table with a stream of operations from
// a few guests and remotes (new flows, answers, port forwards, fragments,
// time passing) and checks every verdict against a model: a new flow is
// refused as SourceLimit exactly when its source holds the limit, as
// TableFull exactly when the table is full of answered flows, and
// otherwise evicts exactly the oldest unanswered flow when full; a later
// fragment is followed exactly when the last first fragment in its slot
// was its own, within fragTimeout, of a live flow, and an eviction from
// the fragment table is counted exactly when it cut a datagram in flight.
// The table's invariants (checkTable) hold after every step.
func FuzzTableLimits(f *testing.F) {
	f.Add([]byte{0, 1, 8, 2, 16, 3, 24, 4, 0, 5, 2, 0, 0, 6, 0, 7})
	f.Add([]byte{1, 1, 1, 2, 1, 3, 1, 4, 1, 5, 1, 6, 1, 7, 1, 8, 1, 9, 4, 31, 1, 10})
	f.Add([]byte{3, 1, 3, 2, 3, 3, 3, 4, 11, 5, 2, 0, 2, 1, 3, 9, 0, 1})
	f.Add([]byte{5, 1, 5, 2, 5, 3, 5, 4, 5, 5, 6, 1, 6, 5, 4, 29, 4, 1, 5, 6})
	f.Fuzz(func(t *testing.T, ops []byte) {
		const maxEntries, perSource, maxFrags = 8, 3, 4
		tb := New(Config{MaxEntries: maxEntries, MaxPerSource: perSource, MaxFragments: maxFrags, PortMin: 1000, PortMax: 1015})
		tb.AddForward(protoTCP, 8080, netip.AddrPortFrom(guest, 80))
		tb.frags.seed = 0  // a failing input replays
		var order []*Entry // every flow created, oldest first
		type slotModel struct {
			k    fragKey
			e    *Entry
			seen int64
			done bool
		}
		owners := map[*atomic.Pointer[fragRecord]]*slotModel{}
		clock := now
		guests := []netip.Addr{guest, guest2, netip.MustParseAddr("192.168.122.12"), netip.MustParseAddr("192.168.122.13")}
		remotes := []netip.Addr{remote, netip.MustParseAddr("10.0.0.98")}
		for len(ops) >= 2 {
			op, arg := ops[0], ops[1]
			ops = ops[2:]
			src, port := guests[op>>3&3], uint16(arg%24)
			var p []byte
			var origin netip.Addr
			inbound := false
			switch op & 7 {
			case 0:
				p, origin = rawPacket(protoUDP, src, remote, port, 53, false), src
			case 1:
				p, origin = rawPacket(protoTCP, src, remote, port, 80, false), src
				pkt.TCP(pkt.IPv4(p).Payload())[13] = pkt.TCPFlagSYN
			case 2: // an answer to one of the flows
				live := tb.Entries()
				if len(live) == 0 {
					continue
				}
				slices.SortFunc(live, func(a, b *Entry) int {
					if c := a.Outside.Src.Compare(b.Outside.Src); c != 0 {
						return c
					}
					return a.Outside.Dst.Compare(b.Outside.Dst)
				})
				e := live[int(arg)%len(live)]
				// A TCP flow whose SYN was answered gets its initiator's
				// ACK; any other flow an answer.
				ack := e.Inside.Proto == protoTCP && e.state.Load() == StateSynRecv
				if e.fromOutside != ack {
					p = rawPacket(e.Inside.Proto, e.Inside.Src.Addr(), e.Inside.Dst.Addr(), e.Inside.Src.Port(), e.Inside.Dst.Port(), false)
				} else {
					p, inbound = rawPacket(e.Inside.Proto, e.Outside.Dst.Addr(), e.Outside.Src.Addr(), e.Outside.Dst.Port(), e.Outside.Src.Port(), false), true
					if e.Inside.Proto == protoICMP {
						pkt.IPv4(p).Payload()[0] = pkt.ICMPEchoReply
					}
				}
				if e.Inside.Proto == protoTCP && !ack {
					pkt.TCP(pkt.IPv4(p).Payload())[13] = pkt.TCPFlagSYN | pkt.TCPFlagACK
				}
			case 3: // a connection to the port forward
				r := remotes[op>>3&1]
				p, origin, inbound = rawPacket(protoTCP, r, uplink, 50000+port, 8080, false), r, true
			case 4:
				clock += int64(arg % 40)
				tb.Sweep(clock)
				for s, o := range owners {
					if clock-o.seen >= fragTimeout {
						delete(owners, s)
					}
				}
				checkTable(t, tb)
				continue
			case 5, 6: // the first or a later fragment of datagram arg
				body := rawPacket(protoUDP, src, remote, port, 53, false)[20:]
				p, origin = frag(src, remote, uint16(arg), 0, true, body), src
				if op&7 == 6 {
					p, origin = frag(src, remote, uint16(arg), 2, false, body[:8]), netip.Addr{}
				}
			case 7:
				p, origin = rawPacket(protoICMP, src, remote, port, 0, false), src
			}
			// The model's verdict for a packet that may start a flow.
			want, victim := Translated, (*Entry)(nil)
			ip := pkt.IPv4(p)
			tu := flowTuple(ip.Protocol(), ip.Src(), ip.Dst(), ip.Payload())
			isNew := false
			if origin.IsValid() && !inbound {
				_, exists := tb.byInside.Load(tu)
				isNew = !exists
			} else if origin.IsValid() {
				_, exists := tb.byOutside.Load(tu)
				_, clash := tb.byInside.Load(Tuple{protoTCP, netip.AddrPortFrom(guest, 80), tu.Src})
				isNew = !exists && !clash
				if clash && !exists {
					want = NotTracked
				}
			}
			if isNew {
				per := 0
				for _, e := range tb.Entries() {
					if e.origin() == origin {
						per++
					}
				}
				for _, e := range order {
					if !e.dead.Load() && !e.assured.Load() {
						victim = e
						break
					}
				}
				switch {
				case per >= perSource:
					want = SourceLimit
				case tb.Len() >= maxEntries && victim == nil:
					want = TableFull
				}
				if tb.Len() < maxEntries || want != Translated {
					victim = nil
				}
				if inbound && want != Translated {
					want = NotTracked // a refused forward is unsolicited
				}
			}
			fk := fragKey{ip.Protocol(), ip.Src(), ip.Dst(), ip.ID()}
			slot := tb.frags.slot(fk)
			o := owners[slot]
			live := o != nil && clock-o.seen < fragTimeout && !o.e.dead.Load()
			if op&7 == 6 {
				want = map[bool]Verdict{true: Translated, false: Fragment}[live && o.k == fk]
			}
			before := tb.Stats()
			var v Verdict
			var e *Entry
			if inbound {
				v, e = tb.Inbound(Packet{IP: p}, clock)
			} else {
				v, e = tb.Outbound(Packet{IP: p}, uplink, clock)
			}
			evicted := tb.Stats().FragEvicted - before.FragEvicted
			switch {
			case op&7 == 6:
				if v != want || (v == Translated && e != o.e) {
					t.Fatalf("later fragment: %v, want %v", v, want)
				}
				if v == Translated {
					o.done = true
				}
			case op&7 == 5 && v == Translated:
				// Alive after the op: its own new flow may have evicted o's.
				cut := o != nil && clock-o.seen < fragTimeout && !o.e.dead.Load() && o.k != fk && !o.done
				if evicted != map[bool]uint64{true: 1}[cut] {
					t.Fatalf("first fragment: %d evicted, want a count of %v", evicted, cut)
				}
				if o == nil || o.k != fk || o.e != e || o.seen != clock || o.done {
					owners[slot] = &slotModel{k: fk, e: e, seen: clock}
				}
			}
			if evicted != 0 && op&7 != 5 {
				t.Fatalf("op %d evicted a fragment record", op&7)
			}
			if v != want {
				t.Fatalf("op %d: %v, want %v (new %v, %d flows)", op&7, v, want, isNew, tb.Len())
			}
			drops := tb.Stats().EarlyDrops - before.EarlyDrops
			if (victim != nil) != (drops == 1) || drops > 1 || (victim != nil && !victim.dead.Load()) {
				t.Fatalf("op %d: %d early drops, the oldest unanswered %v dead %v", op&7, drops, victim, victim != nil && victim.dead.Load())
			}
			if isNew {
				var got *Entry
				if inbound {
					got, _ = tb.byOutside.Load(tu)
				} else {
					got, _ = tb.byInside.Load(tu)
				}
				if got != nil && !slices.Contains(order, got) {
					order = append(order, got)
				}
			}
			checkTable(t, tb)
		}
	})
}
