package nat

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// udpOut sends a guest's UDP packet from src:sport to remote:53.
func udpOut(t testing.TB, tb *Table, src netip.Addr, sport uint16, at int64) (Verdict, *Entry) {
	return tb.Outbound(Packet{IP: build(t, protoUDP, src, remote, sport, 53, "")}, uplink, at)
}

// udpAnswer sends remote's answer to the flow that left from outside port
// oport, and says whether it reached the guest.
func udpAnswer(t testing.TB, tb *Table, oport uint16, at int64) Verdict {
	v, _ := tb.Inbound(Packet{IP: build(t, protoUDP, remote, uplink, 53, oport, "")}, at)
	return v
}

// TestEarlyDrop: a full table evicts the oldest flow nothing answered to
// make room, answered flows are never evicted, and with none left to
// evict a new flow is refused. Each eviction is counted; the evicted
// flow's replies are unsolicited from then on.
func TestEarlyDrop(t *testing.T) {
	tb := New(Config{MaxEntries: 3})
	udpOut(t, tb, guest, 1, now) // answered below
	udpOut(t, tb, guest, 2, now) // never answered: the oldest such
	udpOut(t, tb, guest, 3, now) // never answered
	if v := udpAnswer(t, tb, 1, now); v != Translated {
		t.Fatalf("answer: %v", v)
	}
	// Flow 2 goes, for flow 4; then flow 3, for flow 5.
	for _, step := range []struct {
		sport, evicted uint16
	}{{4, 2}, {5, 3}} {
		if v, e := udpOut(t, tb, guest2, step.sport, now+1); v != Translated || e == nil {
			t.Fatalf("flow %d: %v", step.sport, v)
		}
		if v := udpAnswer(t, tb, step.evicted, now+1); v != NotTracked {
			t.Fatalf("reply to the evicted flow %d: %v", step.evicted, v)
		}
	}
	if st := tb.Stats(); st != (Stats{Created: 5, EarlyDrops: 2}) || tb.Len() != 3 {
		t.Fatalf("%+v, len %d", st, tb.Len())
	}
	// Flow 1 was answered first of all and is still there, both ways.
	if v, _ := udpOut(t, tb, guest, 1, now+2); v != Translated {
		t.Fatalf("answered flow out: %v", v)
	}
	if v := udpAnswer(t, tb, 1, now+2); v != Translated {
		t.Fatalf("answered flow in: %v", v)
	}
	// Answer 4 and 5: nothing left to evict, so flow 6 is refused.
	udpAnswer(t, tb, 4, now+2)
	udpAnswer(t, tb, 5, now+2)
	if v, e := udpOut(t, tb, guest, 6, now+2); v != TableFull || e != nil {
		t.Fatalf("full of answered flows: %v", v)
	}
	if st := tb.Stats(); st != (Stats{Full: 1, Created: 5, EarlyDrops: 2}) || tb.Len() != 3 {
		t.Fatalf("%+v, len %d", st, tb.Len())
	}
	checkTable(t, tb)
}

// TestEarlyDropAnswers: which flows early drop spares: the assured ones
// (the kernel's word), a TCP flow whose handshake completed, a UDP or
// ICMP flow that got a reply. Flow 7 gets the steps, flow 8 nothing; a
// new flow then evicts flow 7 unless it is assured, else flow 8.
func TestEarlyDropAnswers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proto   uint8
		steps   []step // after the first packet out
		assured bool
	}{
		{"tcp handshake", protoTCP, []step{{true, "synack"}, {false, "ack"}}, true},
		// Answered, but the handshake is not complete: a spoofed SYN
		// flood at a port forward gets this far.
		{"tcp syn-ack only", protoTCP, []step{{true, "synack"}}, false},
		{"tcp rst", protoTCP, []step{{true, "rst"}}, false},
		{"tcp handshake then rst", protoTCP, []step{{true, "synack"}, {false, "ack"}, {true, "rst"}}, true},
		{"tcp fin before the handshake", protoTCP, []step{{false, "fin"}, {true, "ack"}}, false},
		{"udp reply", protoUDP, []step{{true, ""}}, true},
		{"udp one way", protoUDP, []step{{false, ""}}, false},
		{"icmp echo reply", protoICMP, []step{{true, "reply"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := New(Config{MaxEntries: 2})
			rs, dp := uint16(80), uint16(80)
			if tc.proto == protoICMP {
				rs, dp = 7, 0 // the echo identifier
			}
			if v, _ := tb.Outbound(Packet{IP: build(t, tc.proto, guest, remote, 7, dp, "syn")}, uplink, now); v != Translated {
				t.Fatalf("first: %v", v)
			}
			for i, s := range tc.steps {
				var v Verdict
				if s.in {
					v, _ = tb.Inbound(Packet{IP: build(t, tc.proto, remote, uplink, rs, 7, s.flags)}, now)
				} else {
					v, _ = tb.Outbound(Packet{IP: build(t, tc.proto, guest, remote, 7, dp, s.flags)}, uplink, now)
				}
				if v != Translated {
					t.Fatalf("step %d: %v", i, v)
				}
			}
			tb.Outbound(Packet{IP: build(t, tc.proto, guest, remote, 8, dp, "syn")}, uplink, now) // unanswered
			if v, _ := tb.Outbound(Packet{IP: build(t, tc.proto, guest, remote, 9, dp, "syn")}, uplink, now); v != Translated {
				t.Fatalf("new flow: %v", v)
			}
			want := map[bool]string{true: "[7 9]", false: "[8 9]"}[tc.assured]
			if got := srcPorts(tb); got != want || tb.Stats().EarlyDrops != 1 {
				t.Fatalf("flows from guest ports %s, want %s; %+v", got, want, tb.Stats())
			}
			checkTable(t, tb)
		})
	}
}

// TestEarlyDropForward: a port forward's flow is answered by the guest
// and assured by the remote's ACK of that answer. A SYN the guest answered
// but whose remote never completed the handshake (a spoofed SYN flood) is
// evicted like any unassured flow, though it is the newer one.
func TestEarlyDropForward(t *testing.T) {
	tb := New(Config{MaxEntries: 2})
	tb.AddForward(protoTCP, 8080, netip.AddrPortFrom(guest, 80))
	to := netip.AddrPortFrom(guest, 80)
	forwarded(t, tb, build(t, protoTCP, remote, uplink, 50000, 8080, "syn"), to)
	forwarded(t, tb, build(t, protoTCP, remote, uplink, 50001, 8080, "syn"), to)
	for _, p := range []int{50000, 50001} {
		if v, _ := tb.Outbound(Packet{IP: build(t, protoTCP, guest, remote, 80, uint16(p), "synack")}, uplink, now); v != Translated {
			t.Fatalf("guest's answer to %d: %v", p, v)
		}
	}
	forwarded(t, tb, build(t, protoTCP, remote, uplink, 50000, 8080, "ack"), to) // the handshake's last ACK
	forwarded(t, tb, build(t, protoTCP, remote, uplink, 50002, 8080, "syn"), to)
	if got := remotePorts(tb); got != "[50000 50002]" {
		t.Fatalf("flows to remote ports %s, want 50000 and 50002", got)
	}
	if st := tb.Stats(); st != (Stats{Created: 3, EarlyDrops: 1}) {
		t.Fatalf("%+v", st)
	}
	checkTable(t, tb)
}

// TestSourceLimit: one source holds at most MaxPerSource flows; over it a
// new flow is refused as SourceLimit (unchanged, counted) while its own
// flows and other sources' new ones work. A flow that goes, by timeout or
// early drop, gives its slot back. A port forward's flows count against
// the remote that started them.
func TestSourceLimit(t *testing.T) {
	tb := New(Config{MaxEntries: 4, MaxPerSource: 2})
	for sport := uint16(1); sport <= 2; sport++ {
		if v, _ := udpOut(t, tb, guest, sport, now); v != Translated {
			t.Fatalf("flow %d: %v", sport, v)
		}
	}
	p := build(t, protoUDP, guest, remote, 3, 53, "")
	orig := string(p)
	if v, e := tb.Outbound(Packet{IP: p}, uplink, now); v != SourceLimit || e != nil || string(p) != orig {
		t.Fatalf("third flow: %v", v)
	}
	if v, _ := udpOut(t, tb, guest, 1, now+1); v != Translated { // its own flows work
		t.Fatalf("existing flow: %v", v)
	}
	if v, _ := udpOut(t, tb, guest2, 1, now); v != Translated {
		t.Fatalf("another source: %v", v)
	}
	if st := tb.Stats(); st != (Stats{SourceLimit: 1, Created: 3}) || tb.Len() != 3 {
		t.Fatalf("%+v, len %d", st, tb.Len())
	}
	// Flow 2 times out (flow 1 was refreshed): guest may start one more.
	if n := tb.Sweep(now + TimeoutUDP); n != 2 { // flow 2 and guest2's
		t.Fatalf("swept %d", n)
	}
	if v, _ := udpOut(t, tb, guest, 3, now+TimeoutUDP); v != Translated {
		t.Fatalf("after a sweep: %v", v)
	}
	if v, _ := udpOut(t, tb, guest, 4, now+TimeoutUDP); v != SourceLimit {
		t.Fatalf("at the limit again: %v", v)
	}
	// A remote starts two forwarded flows, its limit; a third is refused.
	tb.AddForward(protoTCP, 8080, netip.AddrPortFrom(guest2, 80))
	for i, want := range []Verdict{Translated, Translated, NotTracked} {
		if v, _ := tb.Inbound(Packet{IP: build(t, protoTCP, remote, uplink, uint16(50000+i), 8080, "syn")}, now+TimeoutUDP); v != want {
			t.Fatalf("forwarded %d: %v", i, v)
		}
	}
	// The table is full (4); guest2's new flow evicts the oldest
	// unanswered one, guest's flow 1, which gives guest a slot back; its
	// new flow then evicts the next oldest, its own flow 3.
	if v, _ := udpOut(t, tb, guest2, 2, now+TimeoutUDP); v != Translated {
		t.Fatalf("guest2 when full: %v", v)
	}
	if v, _ := udpOut(t, tb, guest, 5, now+TimeoutUDP); v != Translated {
		t.Fatalf("guest after its flow was evicted: %v", v)
	}
	if got := srcPorts(tb); got != "[2 5 80 80]" {
		t.Fatalf("flows from ports %s", got)
	}
	if st := tb.Stats(); st != (Stats{SourceLimit: 3, Created: 8, Expired: 2, EarlyDrops: 2}) || tb.Len() != 4 {
		t.Fatalf("%+v, len %d", st, tb.Len())
	}
	if got := fmt.Sprint(tb.perSource); got != "map[10.0.0.99:2 192.168.122.10:1 192.168.122.11:1]" {
		t.Fatalf("per source %s", got)
	}
	checkTable(t, tb)
}

// TestUnansweredTimeouts: a flow nothing answered goes after 30 s of
// silence (a lone SYN, one-way UDP), while an answered one is kept its
// full timeout; all on the table's clock, the now each call is given.
func TestUnansweredTimeouts(t *testing.T) {
	tb := New(Config{})
	tb.Outbound(Packet{IP: build(t, protoTCP, guest, remote, 1, 80, "syn")}, uplink, now)
	tb.Outbound(Packet{IP: build(t, protoUDP, guest, remote, 2, 53, "")}, uplink, now)
	tb.Outbound(Packet{IP: build(t, protoTCP, guest, remote, 3, 80, "syn")}, uplink, now)
	tb.Inbound(Packet{IP: build(t, protoTCP, remote, uplink, 80, 3, "synack")}, now)
	tb.Outbound(Packet{IP: build(t, protoTCP, guest, remote, 3, 80, "ack")}, uplink, now)
	if n := tb.Sweep(now + 29); n != 0 {
		t.Fatalf("swept %d at 29 s", n)
	}
	if n := tb.Sweep(now + 30); n != 2 || tb.Len() != 1 {
		t.Fatalf("swept %d at 30 s, %d left", n, tb.Len())
	}
	checkTable(t, tb) // the swept flows left the early-drop queue too
	if n := tb.Sweep(now + 7199); n != 0 {
		t.Fatalf("the answered flow went at %d", n)
	}
	if n := tb.Sweep(now + 7200); n != 1 {
		t.Fatalf("the answered flow stayed past 7200 s")
	}
	if len(tb.perSource) != 0 || tb.oldest != nil || tb.newest != nil {
		t.Fatalf("an empty table holds per-source counts %v or a queue", tb.perSource)
	}
}

// TestFragmentSlots: the fragment table is a fixed array of slots, here
// one: a new datagram takes the slot, and a datagram still in flight
// that loses it is counted, its later fragments orphans; a finished one
// (its last fragment passed) is replaced without a count. Records are
// followed for fragTimeout seconds and swept then.
func TestFragmentSlots(t *testing.T) {
	tb := New(Config{MaxFragments: 1})
	body := pkt.IPv4(build(t, protoUDP, guest, remote, 5000, 9, "")).Payload()
	first := func(id uint16) []byte { return frag(guest, remote, id, 0, true, body[:16]) }
	last := func(id uint16) []byte { return frag(guest, remote, id, 2, false, body[16:]) }
	send := func(p []byte, at int64) Verdict {
		v, _ := tb.Outbound(Packet{IP: p}, uplink, at)
		return v
	}
	for i, step := range []struct {
		p       []byte
		want    Verdict
		evicted uint64
	}{
		{first(0), Translated, 0},
		{first(1), Translated, 1}, // datagram 0 was in flight
		{last(0), Fragment, 1},
		{last(1), Translated, 1},
		{last(1), Translated, 1},  // a duplicate last fragment
		{first(2), Translated, 1}, // datagram 1 was done
		{first(2), Translated, 1}, // sent again: the same datagram
	} {
		if v := send(step.p, now); v != step.want || tb.Stats().FragEvicted != step.evicted {
			t.Fatalf("step %d: %v, %d evicted; want %v, %d", i, v, tb.Stats().FragEvicted, step.want, step.evicted)
		}
	}
	r := tb.frags.slots[0].Load()
	send(first(2), now) // the same second: not written again
	if tb.frags.slots[0].Load() != r {
		t.Fatal("a repeated first fragment rewrote its record")
	}
	if v := send(last(2), now+fragTimeout); v != Fragment {
		t.Fatalf("past fragTimeout, before a sweep: %v", v)
	}
	tb.Sweep(now + fragTimeout - 1)
	if tb.frags.size() != 1 {
		t.Fatal("swept a second early")
	}
	tb.Sweep(now + fragTimeout)
	if tb.frags.size() != 0 {
		t.Fatal("not swept at fragTimeout")
	}
	// A stale record, though never finished, is replaced without a count.
	send(first(3), now+100)
	send(first(4), now+100+fragTimeout)
	if tb.Stats().FragEvicted != 1 {
		t.Fatalf("a stale record counted: %+v", tb.Stats())
	}
	checkTable(t, tb)
}

// TestFragmentStream: a busy fragmented stream is not capped by the
// bound: 100000 datagrams, each a first and a last fragment, through the
// default 4096 slots, all followed, nothing counted as evicted.
func TestFragmentStream(t *testing.T) {
	tb := New(Config{})
	body := pkt.IPv4(build(t, protoUDP, guest, remote, 5000, 9, "")).Payload()
	for i := range 100000 {
		at := now + int64(i/10000) // ten seconds of it
		if v, _ := tb.Outbound(Packet{IP: frag(guest, remote, uint16(i), 0, true, body[:16])}, uplink, at); v != Translated {
			t.Fatalf("datagram %d, first fragment: %v", i, v)
		}
		if v, _ := tb.Outbound(Packet{IP: frag(guest, remote, uint16(i), 2, false, body[16:])}, uplink, at); v != Translated {
			t.Fatalf("datagram %d, last fragment: %v", i, v)
		}
	}
	if st := tb.Stats(); st.FragEvicted != 0 {
		t.Fatalf("%+v", st)
	}
}

// TestFragmentSlotSpread: keys that differ in the id alone, or in one
// address alone, spread over the slots (a random throw fills 1-1/e of
// them, 63%).
func TestFragmentSlotSpread(t *testing.T) {
	for name, key := range map[string]func(i int) fragKey{
		"id": func(i int) fragKey { return fragKey{protoUDP, guest, remote, uint16(i)} },
		"src": func(i int) fragKey {
			return fragKey{protoUDP, netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), remote, 1}
		},
		"dst": func(i int) fragKey {
			return fragKey{protoUDP, guest, netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 1}
		},
	} {
		f := newFragTable(4096)
		used := map[*atomic.Pointer[fragRecord]]bool{}
		for i := range 4096 {
			used[f.slot(key(i))] = true
		}
		if len(used) < 2400 {
			t.Errorf("%s: 4096 keys in %d slots", name, len(used))
		}
	}
}

// TestFloodKeepsRoom: one source sends 10000 new flows into a table of
// 100; with no per-source limit, early drop keeps the answered flow and
// every flood flow past the first 99 evicts exactly one.
func TestFloodKeepsRoom(t *testing.T) {
	tb := New(Config{MaxEntries: 100, MaxPerSource: 100})
	udpOut(t, tb, guest2, 7, now)
	udpAnswer(t, tb, 7, now)
	for i := range 10000 {
		if v, _ := tb.Outbound(Packet{IP: rawPacket(protoUDP, guest, remote, uint16(i), uint16(i>>16), false)}, uplink, now); v != Translated {
			t.Fatalf("flood packet %d: %v", i, v)
		}
	}
	if st := tb.Stats(); st != (Stats{Created: 10001, EarlyDrops: 9901}) || tb.Len() != 100 {
		t.Fatalf("%+v, len %d", st, tb.Len())
	}
	if v := udpAnswer(t, tb, 7, now); v != Translated {
		t.Fatalf("the answered flow: %v", v)
	}
	checkTable(t, tb)
}

// TestConcurrentLimits: floods from four goroutines, one answering its
// flows, with a sweeper running, leave the bounds and the table's
// indexes consistent (run with -race).
func TestConcurrentLimits(t *testing.T) {
	tb := New(Config{MaxEntries: 64, MaxPerSource: 32, MaxFragments: 8})
	var wg sync.WaitGroup
	for g := range 4 {
		src := netip.AddrFrom4([4]byte{192, 168, 122, byte(20 + g)})
		wg.Go(func() {
			for i := range 3000 {
				p := rawPacket(protoUDP, src, remote, uint16(i), 53, false)
				if i%50 == 0 {
					p = frag(src, remote, uint16(i), 0, true, p[20:])
				}
				v, e := tb.Outbound(Packet{IP: p}, uplink, now+int64(i/100))
				if g == 0 && v == Translated {
					tb.Inbound(Packet{IP: rawPacket(protoUDP, remote, uplink, 53, e.Outside.Src.Port(), false)}, now+int64(i/100))
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 30 {
			tb.Sweep(now + int64(i))
		}
	})
	wg.Wait()
	checkTable(t, tb)
	if st := tb.Stats(); st.EarlyDrops == 0 || st.SourceLimit == 0 {
		t.Fatalf("the flood did not reach the limits: %+v", st)
	}
}

// BenchmarkFloodFull: a new flow into a full table of unanswered flows,
// each evicting the oldest (the cost a flood pays, and a new guest's
// first packet during one).
func BenchmarkFloodFull(b *testing.B) {
	tb := New(Config{MaxEntries: 1024, MaxPerSource: 1 << 20})
	pkts := make([][]byte, 1<<16)
	for i := range pkts {
		pkts[i] = rawPacket(protoUDP, guest, remote, uint16(i), 53, false)
	}
	p := make([]byte, len(pkts[0]))
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		copy(p, pkts[i&0xffff])
		tb.Outbound(Packet{IP: p}, uplink, now+int64(i>>16)) // a new second: a new tuple again
		i++
	}
	if st := tb.Stats(); st.EarlyDrops == 0 || tb.Len() != 1024 {
		b.Fatalf("%+v, len %d", st, tb.Len())
	}
}

// BenchmarkFragments: a two-fragment datagram of a known flow, both
// fragments; the first refreshes the datagram's record.
func BenchmarkFragments(b *testing.B) {
	tb := New(Config{})
	body := rawPacket(protoUDP, guest, remote, 5000, 53, false)[20:]
	f1 := frag(guest, remote, 9, 0, true, body)
	f2 := frag(guest, remote, 9, 2, false, body[:8])
	benchPair(b, tb, f1, f2, false)
}
