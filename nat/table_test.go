package nat

import (
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

func TestConfigDefaults(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in, want Config
	}{
		{"zero", Config{}, Config{MaxEntries: 65536, MaxPerSource: 4096, MaxFragments: 4096, PortMin: 32768, PortMax: 60999}},
		{"negative", Config{MaxEntries: -1, MaxPerSource: -1, MaxFragments: -1}, Config{MaxEntries: 65536, MaxPerSource: 4096, MaxFragments: 4096, PortMin: 32768, PortMax: 60999}},
		{"size 1", Config{MaxEntries: 1, MaxPerSource: 1, MaxFragments: 1}, Config{MaxEntries: 1, MaxPerSource: 1, MaxFragments: 1, PortMin: 32768, PortMax: 60999}},
		// A per-source limit past the table's size is kept: it never bites.
		{"per source past size", Config{MaxEntries: 16, MaxPerSource: 100}, Config{MaxEntries: 16, MaxPerSource: 100, MaxFragments: 4096, PortMin: 32768, PortMax: 60999}},
		{"no min", Config{PortMax: 2000}, Config{MaxEntries: 65536, MaxPerSource: 4096, MaxFragments: 4096, PortMin: 32768, PortMax: 60999}},
		{"max below min", Config{PortMin: 2000, PortMax: 1999}, Config{MaxEntries: 65536, MaxPerSource: 4096, MaxFragments: 4096, PortMin: 32768, PortMax: 60999}},
		{"one port", Config{PortMin: 2000, PortMax: 2000}, Config{MaxEntries: 65536, MaxPerSource: 4096, MaxFragments: 4096, PortMin: 2000, PortMax: 2000}},
		{"range", Config{PortMin: 1, PortMax: 65535}, Config{MaxEntries: 65536, MaxPerSource: 4096, MaxFragments: 4096, PortMin: 1, PortMax: 65535}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := New(tc.in).cfg; got != tc.want {
				t.Fatalf("%+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestConntrackFull: at the bound, with every flow answered (nothing to
// evict), new flows are dropped and counted, both ways (a guest's new
// flow, a port forward's), while the flows there keep working; a sweep
// makes room again.
func TestConntrackFull(t *testing.T) {
	tb := New(Config{MaxEntries: 2})
	tb.AddForward(protoTCP, 8080, netip.AddrPortFrom(guest2, 80))
	for i := range 2 {
		tb.Outbound(Packet{IP: build(t, protoUDP, guest, remote, uint16(6000+i), 53, "")}, uplink, now)
		if v, _ := tb.Inbound(Packet{IP: build(t, protoUDP, remote, uplink, 53, uint16(6000+i), "")}, now); v != Translated {
			t.Fatalf("answer %d: %v", i, v)
		}
	}
	for i := 2; i < 4; i++ {
		p := build(t, protoUDP, guest, remote, uint16(6000+i), 53, "")
		orig := string(p)
		if v, e := tb.Outbound(Packet{IP: p}, uplink, now); v != TableFull || e != nil {
			t.Fatalf("flow %d: %v", i, v)
		}
		if string(p) != orig {
			t.Fatalf("flow %d: a dropped packet was rewritten", i)
		}
	}
	syn := build(t, protoTCP, remote, uplink, 50000, 8080, "syn")
	if v, e := tb.Inbound(Packet{IP: syn}, now); v != NotTracked || e != nil {
		t.Fatalf("forward when full: %v", v)
	}
	if st := tb.Stats(); st != (Stats{Full: 3, Created: 2}) || tb.Len() != 2 {
		t.Fatalf("%+v, len %d", st, tb.Len())
	}
	// Both flows there keep working, both ways.
	for i := range 2 {
		p := build(t, protoUDP, guest, remote, uint16(6000+i), 53, "")
		if v, _ := tb.Outbound(Packet{IP: p}, uplink, now+1); v != Translated || pkt.IPv4(p).Src() != uplink {
			t.Fatalf("flow %d out when full: %v", i, v)
		}
		r := build(t, protoUDP, remote, uplink, 53, uint16(6000+i), "")
		if v, _ := tb.Inbound(Packet{IP: r}, now+1); v != Translated || pkt.IPv4(r).Dst() != guest {
			t.Fatalf("flow %d in when full: %v", i, v)
		}
	}
	if st := tb.Stats(); st.Full != 3 || st.Created != 2 {
		t.Fatalf("existing flows counted: %+v", st)
	}
	// Room again once one is swept: keep the second alive.
	tb.Outbound(Packet{IP: build(t, protoUDP, guest, remote, 6001, 53, "")}, uplink, now+100)
	if n := tb.Sweep(now + 1 + TimeoutUDPStream); n != 1 || tb.Len() != 1 {
		t.Fatalf("swept %d, %d left", n, tb.Len())
	}
	if v, _ := tb.Outbound(Packet{IP: build(t, protoUDP, guest, remote, 6002, 53, "")}, uplink, now+200); v != Translated {
		t.Fatalf("new flow after the sweep: %v", v)
	}
	if st := tb.Stats(); st.Created != 3 || st.Expired != 1 || tb.Len() != 2 {
		t.Fatalf("%+v, len %d", st, tb.Len())
	}
}

// TestPortWalk: colliding flows get the range's ports in order, every
// one of them including both ends, then are refused as full; a freed
// port is found again by walking round.
func TestPortWalk(t *testing.T) {
	for _, tc := range []struct {
		name     string
		min, max uint16
	}{
		{"low", 1000, 1002},
		{"top of the port space", 65533, 65535},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := New(Config{PortMin: tc.min, PortMax: tc.max})
			src := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 168, 122, byte(10 + i)}) }
			want := []uint16{5000, tc.min, tc.min + 1, tc.max}
			for i, port := range want {
				p := build(t, protoUDP, src(i), remote, 5000, 53, "")
				v, e := tb.Outbound(Packet{IP: p}, uplink, now+int64(i))
				if sp, _ := ports(p); v != Translated || sp != port || e.Outside.Src != netip.AddrPortFrom(uplink, port) {
					t.Fatalf("flow %d: %v from port %d, want %d", i, v, sp, port)
				}
				valid(t, p)
			}
			p := build(t, protoUDP, src(4), remote, 5000, 53, "")
			if v, _ := tb.Outbound(Packet{IP: p}, uplink, now); v != TableFull {
				t.Fatalf("range exhausted: %v", v)
			}
			if st := tb.Stats(); st.Full != 1 || st.Created != 4 || st.EarlyDrops != 0 {
				t.Fatalf("%+v", st)
			}
			// Free the first two remapped ports (flows 1 and 2; 0 and 3
			// are refreshed). The failed walk went once round the range,
			// so the next one starts where it did, at the bottom.
			tb.Outbound(Packet{IP: build(t, protoUDP, src(0), remote, 5000, 53, "")}, uplink, now+10)
			tb.Outbound(Packet{IP: build(t, protoUDP, src(3), remote, 5000, 53, "")}, uplink, now+10)
			if n := tb.Sweep(now + 2 + TimeoutUDP); n != 2 {
				t.Fatalf("swept %d", n)
			}
			for i, port := range []uint16{tc.min, tc.min + 1} {
				p = build(t, protoUDP, src(4+i), remote, 5000, 53, "")
				if v, _ := tb.Outbound(Packet{IP: p}, uplink, now+20); v != Translated {
					t.Fatalf("after ports were freed: %v", v)
				}
				if sp, _ := ports(p); sp != port {
					t.Fatalf("freed port %d not reused in order: got %d", port, sp)
				}
			}
		})
	}
}

// TestRemapPerRemote: an outside port is unique per remote, not overall:
// the same guest port to two remotes keeps its number both times.
func TestRemapPerRemote(t *testing.T) {
	tb := New(Config{})
	remote2 := netip.MustParseAddr("10.0.0.98")
	for _, dst := range []netip.Addr{remote, remote2} {
		p := build(t, protoTCP, guest, dst, 40000, 80, "syn")
		if v, _ := tb.Outbound(Packet{IP: p}, uplink, now); v != Translated {
			t.Fatal(v)
		}
		if sp, _ := ports(p); sp != 40000 {
			t.Fatalf("to %v from port %d", dst, sp)
		}
	}
	// A second guest to the first remote collides; ICMP echo ids too.
	p := build(t, protoTCP, guest2, remote, 40000, 80, "syn")
	tb.Outbound(Packet{IP: p}, uplink, now)
	if sp, _ := ports(p); sp != 32768 {
		t.Fatalf("collision remapped to %d", sp)
	}
	tb.Outbound(Packet{IP: build(t, protoICMP, guest, remote, 7, 0, "")}, uplink, now)
	q := build(t, protoICMP, guest2, remote, 7, 0, "")
	_, e := tb.Outbound(Packet{IP: q}, uplink, now)
	if e.Outside.Src.Port() != 32769 || e.Outside.Dst.Port() != 32769 {
		t.Fatalf("echo id remapped to %v -> %v", e.Outside.Src, e.Outside.Dst)
	}
	valid(t, q)
	// The echo id is the L4 bytes 4-5.
	if l := pkt.IPv4(q).Payload(); uint16(l[4])<<8|uint16(l[5]) != 32769 {
		t.Fatalf("echo id on the wire % x", l[4:6])
	}
	r := build(t, protoICMP, remote, uplink, 32769, 0, "reply")
	if v, _ := tb.Inbound(Packet{IP: r}, now); v != Translated || pkt.IPv4(r).Dst() != guest2 {
		t.Fatalf("echo reply: %v", v)
	}
	if l := pkt.IPv4(r).Payload(); uint16(l[4])<<8|uint16(l[5]) != 7 {
		t.Fatalf("echo id back % x", l[4:6])
	}
	valid(t, r)
}

func TestCountersAndNames(t *testing.T) {
	tb := New(Config{})
	out := build(t, protoUDP, guest, remote, 5000, 53, "")
	n := uint64(len(out))
	_, e := tb.Outbound(Packet{IP: out}, uplink, now)
	tb.Outbound(Packet{IP: build(t, protoUDP, guest, remote, 5000, 53, "")}, uplink, now)
	in := append(build(t, protoUDP, remote, uplink, 53, 5000, ""), 0, 0, 0) // with trailing bytes
	tb.Inbound(Packet{IP: in}, now)
	if po, pi, bo, bi := e.Counters(); po != 2 || pi != 1 || bo != 2*n || bi != n+3 {
		t.Fatalf("counters %d %d %d %d", po, pi, bo, bi)
	}
	for v, s := range map[Verdict]string{Translated: "translated", NotTracked: "not_tracked", TableFull: "conntrack_full",
		Malformed: "malformed", Fragment: "fragment", SourceLimit: "conntrack_source_limit", NumVerdicts: "unknown", 255: "unknown"} {
		if v.String() != s {
			t.Fatalf("%d is %q", v, v.String())
		}
	}
	for s, name := range map[uint32]string{StateNew: "new", StateEstablished: "established", StateClosing: "closing",
		StateClosed: "closed", StateSynRecv: "syn_recv", StateSynRecv + 1: "unknown", 1 << 31: "unknown"} {
		e.state.Store(s)
		if e.State() != name {
			t.Fatalf("state %d is %q", s, e.State())
		}
	}
}

// TestForwards: a port forward admits new connections to its port only,
// for its protocol only, keeps them as one flow, and never takes over a
// flow the guest already has.
func TestForwards(t *testing.T) {
	tb := New(Config{})
	tb.AddForward(protoTCP, 8080, netip.AddrPortFrom(guest, 80))
	tb.AddForward(protoUDP, 5353, netip.AddrPortFrom(guest2, 53))
	// The first forward survives adding the second.
	e := forwarded(t, tb, build(t, protoTCP, remote, uplink, 50000, 8080, "syn"), netip.AddrPortFrom(guest, 80))
	wantIn := Tuple{protoTCP, netip.AddrPortFrom(guest, 80), netip.AddrPortFrom(remote, 50000)}
	wantOut := Tuple{protoTCP, netip.AddrPortFrom(uplink, 8080), netip.AddrPortFrom(remote, 50000)}
	if e.Inside != wantIn || e.Outside != wantOut || e.State() != "new" {
		t.Fatalf("flow %v / %v %s", e.Inside, e.Outside, e.State())
	}
	// A retransmitted SYN is the same flow.
	if v, e2 := tb.Inbound(Packet{IP: build(t, protoTCP, remote, uplink, 50000, 8080, "syn")}, now); v != Translated || e2 != e || tb.Len() != 1 {
		t.Fatalf("retransmission: %v, %d flows", v, tb.Len())
	}
	forwarded(t, tb, build(t, protoUDP, remote, uplink, 1234, 5353, ""), netip.AddrPortFrom(guest2, 53))
	// The TCP forward does not take UDP, nor the UDP one TCP.
	for _, p := range [][]byte{
		build(t, protoUDP, remote, uplink, 1234, 8080, ""),
		build(t, protoTCP, remote, uplink, 1234, 5353, "syn"),
	} {
		orig := string(p)
		if v, _ := tb.Inbound(Packet{IP: p}, now); v != NotTracked || string(p) != orig {
			t.Fatalf("wrong protocol: %v", v)
		}
	}
	// The guest already has guest:80 -> remote:50001 out (from uplink:80):
	// a forwarded connection with the same inside tuple is refused.
	tb.Outbound(Packet{IP: build(t, protoTCP, guest, remote, 80, 50001, "syn")}, uplink, now)
	clash := build(t, protoTCP, remote, uplink, 50001, 8080, "syn")
	if v, _ := tb.Inbound(Packet{IP: clash}, now); v != NotTracked {
		t.Fatalf("forward over an existing flow: %v", v)
	}
	if st := tb.Stats(); st.Created != 3 || tb.Len() != 3 {
		t.Fatalf("%+v, len %d", st, tb.Len())
	}
}

// TestPortWalkLongRange: the walk tries every port of the range, however
// long, before giving up: here the first free one is 501 steps away in
// a range that spans most of the port space.
func TestPortWalkLongRange(t *testing.T) {
	tb := New(Config{PortMin: 1000, PortMax: 65000})
	guest3 := netip.MustParseAddr("192.168.122.12")
	for p := uint16(1000); p < 1500; p++ {
		if v, e := tb.Outbound(Packet{IP: build(t, protoUDP, guest3, remote, p, 53, "")}, uplink, now); v != Translated || e.Outside.Src.Port() != p {
			t.Fatalf("port %d: %v", p, v)
		}
	}
	tb.Outbound(Packet{IP: build(t, protoUDP, guest, remote, 5000, 53, "")}, uplink, now)
	p := build(t, protoUDP, guest2, remote, 5000, 53, "")
	if v, _ := tb.Outbound(Packet{IP: p}, uplink, now); v != Translated {
		t.Fatalf("remap: %v", v)
	}
	if sp, _ := ports(p); sp != 1500 {
		t.Fatalf("remapped to %d, want 1500", sp)
	}
}
