package nat

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// A GSO super-frame translated once must come out of software
// segmentation (vswitch.Complete, what a port without a virtio-net header
// gets) as the same bytes as the super-frame segmented first and each
// segment translated, and leave its flow in the same state with the same
// counters. The tests here hold the two ways side by side.

// gsoSpec is one super-frame: proto, its ends, TCP flags, payload bytes,
// gso_size, and whether its checksum is partial (NEEDS_CSUM, as from a
// guest's TSO) or was verified already (DATA_VALID with no offsets, as
// GRO hands it, the field holding the first segment's stale sum).
type gsoSpec struct {
	proto        uint8
	src, dst     netip.AddrPort
	flags        uint8
	n            int
	mss          uint16
	partial      bool
	tcpOptWords  int // 4-byte words of TCP options (NOPs)
	payloadSeed  byte
	stalePayload bool
}

// superFrame builds s as an Ethernet frame with its virtio-net header.
func superFrame(s gsoSpec) *vswitch.Frame {
	thl := pkt.UDPLen
	if s.proto == protoTCP {
		thl = pkt.TCPMinLen + 4*s.tcpOptWords
	}
	ipb := make([]byte, 20+thl+s.n)
	ipb[0], ipb[8], ipb[9] = 0x45, 64, s.proto
	binary.BigEndian.PutUint16(ipb[2:], uint16(len(ipb)))
	binary.BigEndian.PutUint16(ipb[4:], 0x1234)
	binary.BigEndian.PutUint16(ipb[6:], pkt.IPv4FlagDF)
	sa, da := s.src.Addr().As4(), s.dst.Addr().As4()
	copy(ipb[12:], sa[:])
	copy(ipb[16:], da[:])
	l := ipb[20:]
	binary.BigEndian.PutUint16(l, s.src.Port())
	binary.BigEndian.PutUint16(l[2:], s.dst.Port())
	if s.proto == protoTCP {
		binary.BigEndian.PutUint32(l[4:], 0xfffff000) // the sequence wraps within the frame
		binary.BigEndian.PutUint32(l[8:], 77)
		l[12], l[13] = byte(thl/4)<<4, s.flags
		binary.BigEndian.PutUint16(l[14:], 512)
		for i := pkt.TCPMinLen; i < thl; i++ {
			l[i] = 1 // NOP
		}
	} else {
		binary.BigEndian.PutUint16(l[4:], uint16(len(l)))
	}
	for i := range s.n {
		l[thl+i] = byte(i*7) + s.payloadSeed
	}
	normalize(ipb, s.partial)
	h := pkt.VirtioNetHdr{GSOType: pkt.VirtioNetHdrGSOTCPv4, GSOSize: s.mss}
	if s.proto == protoUDP {
		h.GSOType = pkt.VirtioNetHdrGSOUDPL4
	}
	if s.partial {
		h.Flags = pkt.VirtioNetHdrFNeedsCsum
		h.CsumStart, h.CsumOffset, h.HdrLen = pkt.EthernetLen+20, uint16(csumOff(s.proto)), uint16(pkt.EthernetLen+20+thl)
	} else {
		h.Flags = pkt.VirtioNetHdrFDataValid
		// GRO keeps the first segment's checksum: not the frame's.
		binary.BigEndian.PutUint16(l[csumOff(s.proto):], 0xbeef)
	}
	b := make([]byte, pkt.EthernetLen, pkt.EthernetLen+len(ipb))
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: pkt.MAC{2, 0, 0, 0, 0, 1}, Src: pkt.MAC{2, 0, 0, 0, 0, 2}, Type: pkt.TypeIPv4})
	f := vswitch.NewFrameFor(len(b) + len(ipb))
	f.SetData(append(b, ipb...))
	f.VNet = h
	return f
}

// copyFrame is a copy of f, header and all.
func copyFrame(f *vswitch.Frame) *vswitch.Frame {
	c := vswitch.NewFrameFor(f.Len())
	c.SetData(f.Bytes())
	c.VNet = f.VNet
	return c
}

// gsoPacket is what the uplink hands the table for f.
func gsoPacket(f *vswitch.Frame) Packet {
	return Packet{IP: f.Bytes()[pkt.EthernetLen:], Partial: f.VNet.Flags&pkt.VirtioNetHdrFNeedsCsum != 0, GSOSize: f.VNet.GSOSize}
}

// segmentsOf is f cut in software, as byte copies; ok false when f does
// not segment.
func segmentsOf(f *vswitch.Frame) (segs [][]byte, ok bool) {
	ok = vswitch.Complete(f, func(s *vswitch.Frame) { segs = append(segs, bytes.Clone(s.Bytes())) })
	return segs, ok
}

// translateFn is Outbound or Inbound on a table.
type translateFn func(tb *Table, p Packet) (Verdict, *Entry)

func outbound(tb *Table, p Packet) (Verdict, *Entry) { return tb.Outbound(p, uplink, now) }
func inbound(tb *Table, p Packet) (Verdict, *Entry)  { return tb.Inbound(p, now) }

// flowState is what a translation leaves in a flow.
type flowState struct {
	state                 string
	assured               bool
	pktsOut, pktsIn       uint64
	bytesOut, bytesIn     uint64
	outside, insideSource netip.AddrPort
}

func stateOf(e *Entry) flowState {
	if e == nil {
		return flowState{}
	}
	s := flowState{state: e.State(), assured: e.assured.Load(), outside: e.Outside.Src, insideSource: e.Inside.Src}
	s.pktsOut, s.pktsIn, s.bytesOut, s.bytesIn = e.Counters()
	return s
}

// gsoBothWays translates the super-frame of s on tA whole and cuts it,
// and on tB cuts it first and translates each segment. It returns both
// sets of segments and the flows' states.
func gsoBothWays(t *testing.T, s gsoSpec, tA, tB *Table, tr translateFn) (a, b [][]byte, va, vb Verdict, ea, eb *Entry, ok bool) {
	fa, fb := superFrame(s), superFrame(s)
	defer fa.Release()
	defer fb.Release()
	segsB, okB := segmentsOf(fb)
	va, ea = tr(tA, gsoPacket(fa))
	if s.partial && va == Translated {
		// The kernel finishes the partial sum as it segments: the field
		// must hold the pseudo-header sum of the new addresses (software
		// segmentation below recomputes it, so this is the only check).
		checkSums(t, fa.Bytes()[pkt.EthernetLen:], true, false)
	}
	segsA, okA := segmentsOf(fa)
	if okA != okB {
		t.Fatalf("%+v: segments after translating: %v, before: %v", s, okA, okB)
	}
	if !okA {
		return nil, nil, va, vb, ea, eb, false
	}
	vb = Translated
	for _, seg := range segsB {
		v, e := tr(tB, Packet{IP: seg[pkt.EthernetLen:]})
		if v != Translated {
			vb = v
		}
		eb = e
	}
	return segsA, segsB, va, vb, ea, eb, true
}

// checkSame fails unless both ways made the same bytes and flow state,
// and every segment carries complete, correct checksums (recomputed
// here from scratch).
func checkSame(t *testing.T, what string, a, b [][]byte, va, vb Verdict, ea, eb *Entry) {
	t.Helper()
	if va != vb {
		t.Fatalf("%s: whole %v, per segment %v", what, va, vb)
	}
	if len(a) != len(b) {
		t.Fatalf("%s: %d segments, %d when cut first", what, len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("%s: segment %d differs:\nwhole first: % x\ncut first:   % x", what, i, a[i], b[i])
		}
		if va == Translated {
			refChecksums(t, a[i][pkt.EthernetLen:])
		}
	}
	if sa, sb := stateOf(ea), stateOf(eb); sa != sb {
		t.Fatalf("%s: flow after the whole frame %+v, after its segments %+v", what, sa, sb)
	}
}

// refChecksums checks a complete packet's IP and TCP/UDP checksums by
// summing it all again.
func refChecksums(t *testing.T, ip []byte) {
	t.Helper()
	r := parseRef(ip)
	if !r.ok || r.short {
		t.Fatalf("segment does not parse: % x", ip)
	}
	if fold(refSum(0, ip[:r.hl])) != 0xffff {
		t.Fatalf("IP header checksum wrong: % x", ip[:r.hl])
	}
	if r.proto == protoUDP && binary.BigEndian.Uint16(r.l4[6:]) == 0 {
		t.Fatalf("UDP segment without a checksum: % x", ip)
	}
	if fold(refSum(refPseudo(ip, r.proto, len(r.l4)), r.l4)) != 0xffff {
		t.Fatalf("L4 checksum wrong: % x", ip)
	}
}

func TestGSOTranslatedOnceAsSegments(t *testing.T) {
	g, rem := netip.AddrPortFrom(guest, 40000), netip.AddrPortFrom(remote, 80)
	for _, tc := range []struct {
		name string
		// first opens the flow (outbound, one packet, on both tables);
		// then spec is translated going tr.
		first gsoSpec
		spec  func(outside netip.AddrPort) gsoSpec
		tr    translateFn
		state string
	}{
		{"tcp out partial", gsoSpec{}, func(netip.AddrPort) gsoSpec {
			return gsoSpec{proto: protoTCP, src: g, dst: rem, flags: 0x18, n: 60000, mss: 1448, partial: true, tcpOptWords: 3}
		}, outbound, "new"},
		{"tcp out fin on the last", gsoSpec{}, func(netip.AddrPort) gsoSpec {
			return gsoSpec{proto: protoTCP, src: g, dst: rem, flags: 0x19, n: 5000, mss: 1000, partial: true}
		}, outbound, "closing"},
		{"tcp out one segment", gsoSpec{}, func(netip.AddrPort) gsoSpec {
			return gsoSpec{proto: protoTCP, src: g, dst: rem, flags: 0x10, n: 1000, mss: 1448, partial: true}
		}, outbound, "new"},
		{"udp out (USO)", gsoSpec{}, func(netip.AddrPort) gsoSpec {
			return gsoSpec{proto: protoUDP, src: g, dst: rem, n: 9001, mss: 1472, partial: true}
		}, outbound, "new"},
		// A flow picked up mid-stream: the reply's ACK segments establish
		// (and assure) it before the last one's FIN closes it.
		{"tcp in GRO'd, ack then fin", gsoSpec{proto: protoTCP, src: g, dst: rem, flags: 0x10}, func(o netip.AddrPort) gsoSpec {
			return gsoSpec{proto: protoTCP, src: rem, dst: o, flags: 0x11, n: 20000, mss: 1448}
		}, inbound, "closing"},
		{"tcp in partial", gsoSpec{proto: protoTCP, src: g, dst: rem, flags: 0x10}, func(o netip.AddrPort) gsoSpec {
			return gsoSpec{proto: protoTCP, src: rem, dst: o, flags: 0x18, n: 65000 - 40, mss: 1448, partial: true, tcpOptWords: 3}
		}, inbound, "established"},
		{"udp in GRO'd", gsoSpec{proto: protoUDP, src: g, dst: rem}, func(o netip.AddrPort) gsoSpec {
			return gsoSpec{proto: protoUDP, src: rem, dst: o, n: 3000, mss: 1200}
		}, inbound, "established"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tA, tB := New(Config{}), New(Config{})
			var outside netip.AddrPort
			if tc.first.proto != 0 {
				for _, tb := range []*Table{tA, tB} {
					f := superFrame(tc.first)
					f.VNet = pkt.VirtioNetHdr{}
					normalize(f.Bytes()[pkt.EthernetLen:], false)
					v, e := tb.Outbound(Packet{IP: f.Bytes()[pkt.EthernetLen:]}, uplink, now)
					if v != Translated {
						t.Fatalf("opening the flow: %v", v)
					}
					outside = e.Outside.Src
					f.Release()
				}
			}
			a, b, va, vb, ea, eb, ok := gsoBothWays(t, tc.spec(outside), tA, tB, tc.tr)
			if !ok || va != Translated {
				t.Fatalf("segmented %v, verdict %v", ok, va)
			}
			checkSame(t, tc.name, a, b, va, vb, ea, eb)
			if ea.State() != tc.state {
				t.Fatalf("state %s, want %s", ea.State(), tc.state)
			}
			s := tc.spec(outside)
			if want := (s.n + int(s.mss) - 1) / int(s.mss); len(a) != want {
				t.Fatalf("%d segments, want %d", len(a), want)
			}
		})
	}
}

// FuzzTranslateGSO: any super-frame the segmenter takes, translated whole
// either way on a tracked flow (or starting one), cuts into the same
// segments as when it is cut first, each with correct checksums, and
// leaves its flow as its segments would.
func FuzzTranslateGSO(f *testing.F) {
	f.Add(true, true, byte(0x18), uint16(60000), uint16(1448), true, byte(3), byte(0))
	f.Add(true, false, byte(0x11), uint16(20000), uint16(1448), false, byte(0), byte(5))
	f.Add(false, true, byte(0), uint16(9001), uint16(1472), true, byte(0), byte(1))
	f.Add(false, false, byte(0), uint16(3000), uint16(1200), false, byte(0), byte(2))
	f.Add(true, false, byte(0x04), uint16(100), uint16(48), true, byte(10), byte(9))
	f.Fuzz(func(t *testing.T, tcp, out bool, flags byte, n, mss uint16, partial bool, opts, seed byte) {
		s := gsoSpec{proto: protoUDP, flags: flags, n: int(n), mss: mss, partial: partial, tcpOptWords: int(opts % 11), payloadSeed: seed}
		if tcp {
			s.proto = protoTCP
		}
		if 20+pkt.TCPMinLen+4*s.tcpOptWords+s.n > 0xffff {
			return // no IPv4 packet is that long
		}
		g, rem := netip.AddrPortFrom(guest, 40000+uint16(seed)), netip.AddrPortFrom(remote, 443)
		tA, tB := New(Config{}), New(Config{})
		tr := outbound
		s.src, s.dst = g, rem
		if !out {
			for _, tb := range []*Table{tA, tB} {
				p := rawPacket(s.proto, guest, remote, g.Port(), rem.Port(), false)
				if v, e := tb.Outbound(Packet{IP: p}, uplink, now); v != Translated {
					t.Fatalf("opening the flow: %v", v)
				} else {
					s.dst = e.Outside.Src
				}
			}
			s.src, tr = rem, inbound
		}
		a, b, va, vb, ea, eb, ok := gsoBothWays(t, s, tA, tB, tr)
		if !ok {
			return
		}
		checkSame(t, fmt.Sprintf("%+v", s), a, b, va, vb, ea, eb)
	})
}

// BenchmarkTranslateGSO: a 60000-byte TCP super-frame of an established flow,
// out (partial checksum) and in (GRO'd), translated once each.
func BenchmarkTranslateGSO(b *testing.B) {
	tb, out, in, o, i := gsoEstablished()
	var vo, vi Verdict
	b.ReportAllocs()
	b.SetBytes(int64(out.Len() + in.Len()))
	for b.Loop() {
		o.SetData(out.Bytes())
		vo, _ = tb.Outbound(gsoPacket(o), uplink, now)
		i.SetData(in.Bytes())
		vi, _ = tb.Inbound(gsoPacket(i), now)
	}
	if vo != Translated || vi != Translated {
		b.Fatalf("verdicts %v %v", vo, vi)
	}
}

// gsoEstablished is a table and the templates of a 60000-byte TCP
// super-frame out (partial checksum) and of the answer in (GRO'd), with
// frames to copy them into: translation rewrites in place.
func gsoEstablished() (tb *Table, out, in, o, i *vswitch.Frame) {
	tb = New(Config{})
	g, rem := netip.AddrPortFrom(guest, 40000), netip.AddrPortFrom(remote, 80)
	out = superFrame(gsoSpec{proto: protoTCP, src: g, dst: rem, flags: 0x10, n: 60000, mss: 1448, partial: true})
	in = superFrame(gsoSpec{proto: protoTCP, src: rem, dst: netip.AddrPortFrom(uplink, 40000), flags: 0x10, n: 60000, mss: 1448})
	return tb, out, in, copyFrame(out), copyFrame(in)
}
