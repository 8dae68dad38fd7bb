package gateway

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/ring"
	vswitch "github.com/vswitch/vswitch/switch"
)

// gsoTCP is a TCP super-frame of n payload bytes from src to dst with its
// virtio-net header: gso_size mss, the checksum partial (NEEDS_CSUM, the
// pseudo-header sum in the field, as a guest's TSO hands it) or, when
// partial is false, verified already (DATA_VALID, as GRO hands it, the
// field stale).
func gsoTCP(dstMAC, srcMAC pkt.MAC, src, dst netip.AddrPort, ttl, flags uint8, n int, mss uint16, partial bool) *vswitch.Frame {
	tcp := tcpSegment(src, dst, flags, n)
	ip := ip4(src.Addr(), dst.Addr(), ttl, pkt.ProtoTCP, 0x4242, pkt.IPv4FlagDF, tcp)
	h := tcpOffload(ip, 20, pseudo(ip, pkt.ProtoTCP, len(tcp)), pkt.VirtioNetHdrGSOTCPv4, mss, partial)
	f := frameOf(append(ethHdr(dstMAC, srcMAC, pkt.TypeIPv4), ip...))
	f.VNet = h
	return f
}

// tcpOffload is the virtio-net header of a TCP super-frame whose segment
// starts l4 bytes into ip (after a 14-byte Ethernet header), and writes
// its checksum field to match: partial, NEEDS_CSUM with the sum of the
// pseudo-header ph in the field; else DATA_VALID with the field stale.
func tcpOffload(ip []byte, l4 int, ph []byte, gsoType uint8, mss uint16, partial bool) pkt.VirtioNetHdr {
	h := pkt.VirtioNetHdr{GSOType: gsoType, GSOSize: mss}
	if partial {
		binary.BigEndian.PutUint16(ip[l4+16:], ^refSum(ph))
		start := uint16(pkt.EthernetLen + l4)
		h.Flags, h.CsumStart, h.CsumOffset, h.HdrLen = pkt.VirtioNetHdrFNeedsCsum, start, 16, start+20
	} else {
		binary.BigEndian.PutUint16(ip[l4+16:], 0xbeef)
		h.Flags = pkt.VirtioNetHdrFDataValid
	}
	return h
}

// tcpSegment is a TCP header (seq 1000, ack 5000) and n bytes of payload,
// its checksum left for the caller.
func tcpSegment(src, dst netip.AddrPort, flags uint8, n int) []byte {
	tcp := make([]byte, 20+n)
	binary.BigEndian.PutUint16(tcp, src.Port())
	binary.BigEndian.PutUint16(tcp[2:], dst.Port())
	binary.BigEndian.PutUint32(tcp[4:], 1000)
	binary.BigEndian.PutUint32(tcp[8:], 5000)
	tcp[12], tcp[13] = 5<<4, flags
	binary.BigEndian.PutUint16(tcp[14:], 1024)
	for i := range n {
		tcp[20+i] = byte(i * 13)
	}
	return tcp
}

// takeFrames drains q, handing over the frames themselves.
func takeFrames(q *ring.Queue[vswitch.Frame]) []*vswitch.Frame {
	var out []*vswitch.Frame
	var buf [vswitch.BatchSize]*vswitch.Frame
	for n := q.Take(buf[:]); n > 0; n = q.Take(buf[:]) {
		out = append(out, buf[:n]...)
	}
	return out
}

// oneOut writes a guest's frame f to the gateway port p and returns the
// one frame that leaves through u for it (a super-frame stays whole).
func oneOut(t *testing.T, p *Port, u *Uplink, f *vswitch.Frame) *vswitch.Frame {
	t.Helper()
	if n, err := p.WriteBatch([]*vswitch.Frame{f}); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	f.Release()
	out := takeFrames(u.tx.(ringEgress).q)
	if len(out) != 1 {
		t.Fatalf("%d frames out, want the super-frame whole; drops %v %v", len(out), p.Drops(), u.Drops())
	}
	return out[0]
}

// oneIn hands u a frame f from the outside at t0 and returns the one
// frame it delivers to the network of p.
func oneIn(t *testing.T, u *Uplink, p *Port, f *vswitch.Frame) *vswitch.Frame {
	t.Helper()
	if !u.handle(f, t0) {
		t.Fatal("not delivered")
	}
	back := takeFrames(p.q)
	if len(back) != 1 {
		t.Fatalf("%d frames back", len(back))
	}
	return back[0]
}

// segmentsChecked cuts f in software and checks every segment's
// checksums by full recomputation; it returns the segments.
func segmentsChecked(t *testing.T, f *vswitch.Frame) [][]byte {
	t.Helper()
	var segs [][]byte
	if !vswitch.Complete(f, func(s *vswitch.Frame) { segs = append(segs, bytes.Clone(s.Bytes())) }) {
		t.Fatalf("does not segment: %+v", f.VNet)
	}
	for _, s := range segs {
		checkIPv4(t, s)
	}
	return segs
}

// TestRouteGSO: a guest's TCP super-frame leaves through the uplink whole,
// translated once with its virtio-net header kept; the outside's GRO'd
// answer comes back whole to the guest; both cut into the segments of the
// same frame translated per segment. Super-frames for the gateway itself
// are answered per segment, a malformed one is dropped as bad_offload, and
// one whose TTL runs out gets one time exceeded.
func TestRouteGSO(t *testing.T) {
	p, u := routeSetup("nat")
	p.neigh.learn(guestIP, guestMAC, t0)
	g, rem := netip.AddrPortFrom(guestIP, 40000), netip.AddrPortFrom(remoteIP, 80)
	f := gsoTCP(p.MAC(), guestMAC, g, rem, 64, pkt.TCPFlagACK|pkt.TCPFlagPSH, 10000, 1448, true)
	want := f.VNet
	o := oneOut(t, p, u, f)
	ip := pkt.IPv4(o.Bytes()[pkt.EthernetLen:])
	if o.VNet != want || o.Len() != 14+20+20+10000 || ip.Src() != upIP || ip.TTL() != 63 || pkt.Ethernet(o.Bytes()).Dst() != routerMAC {
		t.Fatalf("out: %+v, %d bytes, from %v, TTL %d", o.VNet, o.Len(), ip.Src(), ip.TTL())
	}
	sport := pkt.TCP(ip.Payload()).SrcPort()
	// The field holds the pseudo-header sum of the new source, for the
	// kernel to finish as it segments.
	if c, w := pkt.TCP(ip.Payload()).Checksum(), ^refSum(pseudo(ip, pkt.ProtoTCP, len(ip.Payload()))); c != w {
		t.Fatalf("partial sum %#04x, want %#04x", c, w)
	}
	if segs := segmentsChecked(t, o); len(segs) != 7 {
		t.Fatalf("%d segments, want 7", len(segs))
	}
	o.Release()
	if gso, _ := u.GSOTranslations(); gso != 1 {
		t.Fatalf("%d GSO translations out", gso)
	}

	// The answer: GRO'd on the outside link (DATA_VALID, no offsets).
	in := gsoTCP(upMAC, routerMAC, rem, netip.AddrPortFrom(upIP, sport), 50, pkt.TCPFlagACK, 8000, 1448, false)
	want = in.VNet
	b := oneIn(t, u, p, in)
	ip = pkt.IPv4(b.Bytes()[pkt.EthernetLen:])
	if b.VNet != want || ip.Dst() != guestIP || ip.TTL() != 49 || pkt.TCP(ip.Payload()).DstPort() != 40000 {
		t.Fatalf("back: %+v to %v TTL %d", b.VNet, ip.Dst(), ip.TTL())
	}
	if segs := segmentsChecked(t, b); len(segs) != 6 {
		t.Fatalf("%d segments back, want 6", len(segs))
	}
	b.Release()
	if out, in := u.GSOTranslations(); out != 1 || in != 1 {
		t.Fatalf("GSO translations %d out, %d in", out, in)
	}
	if out, in := u.Translations(); out != 1 || in != 1 {
		t.Fatalf("translations %d out, %d in", out, in)
	}
	if d := u.Drops(); d != [NumUplinkDrops]uint64{} {
		t.Fatalf("uplink drops %v", d)
	}

	// For the gateway itself: each segment is answered (a RST each).
	toGW := gsoTCP(p.MAC(), guestMAC, g, netip.AddrPortFrom(gwAddr.Addr(), 9), 64, pkt.TCPFlagACK, 3000, 1000, true)
	p.WriteBatch([]*vswitch.Frame{toGW})
	toGW.Release()
	rsts := takeAll(p.q)
	if len(rsts) != 3 {
		t.Fatalf("%d answers to a 3-segment super-frame", len(rsts))
	}
	for i, r := range rsts {
		tcp := pkt.TCP(checkIPv4(t, r).Payload())
		if tcp.Flags() != pkt.TCPFlagRST || tcp.Seq() != 5000 {
			t.Fatalf("answer %d: flags %#x seq %d", i, tcp.Flags(), tcp.Seq())
		}
	}
	// A GSO type its packet is not: bad_offload, nothing else.
	bad := gsoTCP(p.MAC(), guestMAC, g, netip.AddrPortFrom(gwAddr.Addr(), 9), 64, pkt.TCPFlagACK, 3000, 1000, true)
	bad.VNet.GSOType = pkt.VirtioNetHdrGSOUDPL4
	p.WriteBatch([]*vswitch.Frame{bad})
	bad.Release()
	if got := takeAll(p.q); len(got) != 0 || p.Drops()[DropBadOffload] != 1 {
		t.Fatalf("malformed super-frame: %d answers, %d bad_offload", len(got), p.Drops()[DropBadOffload])
	}
	// Routed out whole, but past the segment bound (a gso_size of 1):
	// bad_offload, nothing out; then an honest one leaves.
	crafted := gsoTCP(p.MAC(), guestMAC, g, rem, 64, pkt.TCPFlagACK, 3000, 1, true)
	honest := gsoTCP(p.MAC(), guestMAC, g, rem, 64, pkt.TCPFlagACK, 3000, 1000, true)
	p.WriteBatch([]*vswitch.Frame{crafted, honest})
	crafted.Release()
	honest.Release()
	if up := sent(u); len(up) != 1 || len(up[0]) != 14+40+3000 || p.Drops()[DropBadOffload] != 2 {
		t.Fatalf("crafted gso_size: %d frames out, %d bad_offload", len(up), p.Drops()[DropBadOffload])
	}
	// TTL 1: one time exceeded for the whole super-frame, nothing out.
	ttl := gsoTCP(p.MAC(), guestMAC, g, rem, 1, pkt.TCPFlagACK, 3000, 1000, true)
	p.WriteBatch([]*vswitch.Frame{ttl})
	ttl.Release()
	if got := takeAll(p.q); len(got) != 1 || pkt.ICMP(checkIPv4(t, got[0]).Payload()).Type() != pkt.ICMPTimeExceeded || p.Drops()[DropTTLExceeded] != 1 || len(sent(u)) != 0 {
		t.Fatalf("TTL 1: %d answers, %d ttl_exceeded", len(got), p.Drops()[DropTTLExceeded])
	}
}

// TestHairpinGSO: a guest's super-frame to a port forward on the outside
// address comes back in whole to the forward's guest, translated both
// ways once.
func TestHairpinGSO(t *testing.T) {
	p, u := routeSetup("nat")
	u.cfg.NAT.AddForward(pkt.ProtoTCP, 8080, netip.AddrPortFrom(guest2IP, 80))
	p.handle(arpFrame(p.MAC(), guest2MAC, 2, guest2MAC, guest2IP, p.MAC(), gwAddr.Addr()), t0)
	takeAll(p.q)
	f := gsoTCP(p.MAC(), guestMAC, netip.AddrPortFrom(guestIP, 40000), netip.AddrPortFrom(upIP, 8080), 64, pkt.TCPFlagACK, 5000, 1448, true)
	want := f.VNet
	p.WriteBatch([]*vswitch.Frame{f})
	f.Release()
	if up := sent(u); len(up) != 0 {
		t.Fatalf("hairpin went out: %d frames", len(up))
	}
	got := takeFrames(p.q)
	if len(got) != 1 {
		t.Fatalf("%d frames delivered", len(got))
	}
	ip := pkt.IPv4(got[0].Bytes()[pkt.EthernetLen:])
	if got[0].VNet != want || ip.Src() != upIP || ip.Dst() != guest2IP || pkt.TCP(ip.Payload()).DstPort() != 80 || pkt.Ethernet(got[0].Bytes()).Dst() != guest2MAC {
		t.Fatalf("hairpin: %+v %v -> %v", got[0].VNet, ip.Src(), ip.Dst())
	}
	if segs := segmentsChecked(t, got[0]); len(segs) != 4 {
		t.Fatalf("%d segments", len(segs))
	}
	got[0].Release()
	if out, in := u.GSOTranslations(); out != 1 || in != 1 {
		t.Fatalf("GSO translations %d out, %d in", out, in)
	}
}

// gsoFlow is a nat network with a known guest, its TCP flow to the
// outside tracked by one super-frame, a 60000-byte super-frame of that
// flow to send again (partial checksum), and the outside's GRO'd answer.
func gsoFlow() (p *Port, u *Uplink, out, in *vswitch.Frame) {
	p, u = routeSetup("nat")
	p.neigh.learn(guestIP, guestMAC, t0)
	g, rem := netip.AddrPortFrom(guestIP, 40000), netip.AddrPortFrom(remoteIP, 80)
	out = gsoTCP(p.MAC(), guestMAC, g, rem, 64, pkt.TCPFlagACK, 60000, 1448, true)
	p.WriteBatch([]*vswitch.Frame{out})
	drain(u.tx.(ringEgress).q)
	in = gsoTCP(upMAC, routerMAC, rem, netip.AddrPortFrom(upIP, 40000), 50, pkt.TCPFlagACK, 60000, 1448, false)
	return p, u, out, in
}

// FuzzGatewayOffload: whatever virtio-net header and frame a guest hands
// the gateway, nothing panics, and a super-frame that leaves through the
// uplink whole cuts into segments whose checksums are right (recomputed
// here from scratch). Answers and drops are the gateway's business.
func FuzzGatewayOffload(f *testing.F) {
	g, rem := netip.AddrPortFrom(guestIP, 40000), netip.AddrPortFrom(remoteIP, 80)
	for _, s := range []*vswitch.Frame{
		gsoTCP(StableMAC("t"), guestMAC, g, rem, 64, pkt.TCPFlagACK, 5000, 1448, true),
		gsoTCP(StableMAC("t"), guestMAC, g, rem, 64, pkt.TCPFlagFIN|pkt.TCPFlagACK, 3000, 1000, false),
		gsoTCP(StableMAC("t"), guestMAC, g, netip.AddrPortFrom(gwAddr.Addr(), 53), 64, pkt.TCPFlagACK, 3000, 1000, true),
	} {
		var h [pkt.VirtioNetHdrLen]byte
		s.VNet.Encode(h[:])
		f.Add(h[:], s.Bytes()[pkt.EthernetLen:])
		s.Release()
	}
	f.Fuzz(func(t *testing.T, hdr, ip []byte) {
		if len(hdr) < pkt.VirtioNetHdrLen || len(ip) > 65000 {
			return
		}
		p, u := routeSetup("nat")
		p.neigh.learn(guestIP, guestMAC, t0)
		fr := frameOf(append(ethHdr(p.MAC(), guestMAC, pkt.TypeIPv4), ip...))
		fr.VNet.Decode(hdr[:pkt.VirtioNetHdrLen])
		if fr.VNet == (pkt.VirtioNetHdr{}) {
			fr.VNet.Flags = pkt.VirtioNetHdrFDataValid
		}
		p.WriteBatch([]*vswitch.Frame{fr})
		fr.Release()
		takeAll(p.q)
		for _, o := range takeFrames(u.tx.(ringEgress).q) {
			if o.VNet.IsGSO() {
				segmentsChecked(t, o)
			}
			o.Release()
		}
	})
}
