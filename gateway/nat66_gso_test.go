package gateway

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// pseudo6 is the IPv6 pseudo-header of an upper layer of l4len bytes.
func pseudo6(ip []byte, proto uint8, l4len int) []byte {
	b := make([]byte, 40)
	copy(b, ip[8:40])
	binary.BigEndian.PutUint32(b[32:], uint32(l4len))
	b[39] = proto
	return b
}

// gsoTCP6 is gsoTCP over IPv6: a TCPv6 super-frame of n payload bytes,
// partial (NEEDS_CSUM, as a guest's TSO6) or verified (DATA_VALID, as
// GRO hands it).
func gsoTCP6(dstMAC, srcMAC pkt.MAC, src, dst netip.AddrPort, hop uint8, n int, mss uint16, partial bool) *vswitch.Frame {
	tcp := tcpSegment(src, dst, pkt.TCPFlagACK, n)
	b := frame6(dstMAC, srcMAC, src.Addr(), dst.Addr(), hop, pkt.ProtoTCP, tcp)
	ip := b[pkt.EthernetLen:]
	h := tcpOffload(ip, 40, pseudo6(ip, pkt.ProtoTCP, len(tcp)), pkt.VirtioNetHdrGSOTCPv6, mss, partial)
	f := frameOf(b)
	f.VNet = h
	return f
}

// segments6Checked cuts f in software and checks every segment's TCP
// checksum by full recomputation; it returns how many there were.
func segments6Checked(t *testing.T, f *vswitch.Frame) int {
	t.Helper()
	n := 0
	if !vswitch.Complete(f, func(s *vswitch.Frame) {
		n++
		ip := pkt.IPv6(s.Bytes()[pkt.EthernetLen:])
		l4 := ip[pkt.IPv6Len:ip.Len()]
		if refSum(pseudo6(ip, pkt.ProtoTCP, len(l4)), l4) != 0 {
			t.Fatalf("segment %d: bad TCP checksum", n)
		}
	}) {
		t.Fatalf("does not segment: %+v", f.VNet)
	}
	return n
}

// TestRouteGSO6: a guest's TCPv6 super-frame crosses NAT66 whole, its
// virtio-net header kept and its partial sum moved to the uplink's
// address; the outside's GRO'd answer comes back whole; both cut into
// segments whose checksums verify. A super-frame whose segments would
// pass the uplink's MTU gets Packet Too Big, as a packet that size would;
// one whose segments fit goes.
func TestRouteGSO6(t *testing.T) {
	p, _, u := route6Setup(t, router6, 1400)
	g, rem := netip.AddrPortFrom(guest6, 40000), netip.AddrPortFrom(remote6, 80)
	f := gsoTCP6(p.MAC(), guestMAC, g, rem, 64, 10000, 1340, true)
	want := f.VNet
	o := oneOut(t, p, u, f)
	ip := pkt.IPv6(o.Bytes()[pkt.EthernetLen:])
	if o.VNet != want || o.Len() != 14+40+20+10000 || ip.Src() != up6 || ip.HopLimit() != 63 || pkt.Ethernet(o.Bytes()).Dst() != routerMAC {
		t.Fatalf("out: %+v, %d bytes, from %v, hop %d", o.VNet, o.Len(), ip.Src(), ip.HopLimit())
	}
	l4 := ip[pkt.IPv6Len:ip.Len()]
	if c, w := pkt.TCP(l4).Checksum(), ^refSum(pseudo6(ip, pkt.ProtoTCP, len(l4))); c != w {
		t.Fatalf("partial sum %#04x, want %#04x", c, w)
	}
	if n := segments6Checked(t, o); n != 8 {
		t.Fatalf("%d segments, want 8", n)
	}
	o.Release()

	in := gsoTCP6(upMAC, routerMAC, rem, netip.AddrPortFrom(up6, 40000), 50, 8000, 1400, false)
	want = in.VNet
	b := oneIn(t, u, p, in)
	ip = pkt.IPv6(b.Bytes()[pkt.EthernetLen:])
	if b.VNet != want || ip.Dst() != guest6 || ip.HopLimit() != 49 || pkt.TCP(ip[pkt.IPv6Len:]).DstPort() != 40000 {
		t.Fatalf("back: %+v to %v hop %d", b.VNet, ip.Dst(), ip.HopLimit())
	}
	if n := segments6Checked(t, b); n != 6 {
		t.Fatalf("%d segments back, want 6", n)
	}
	b.Release()
	if o, i := u.GSOTranslations(); o != 1 || i != 1 {
		t.Fatalf("GSO translations %d out, %d in", o, i)
	}
	if o, i := u.Translations6(); o != 1 || i != 1 {
		t.Fatalf("NAT66 translations %d out, %d in", o, i)
	}

	// Segments of 40+20+1341 bytes: one Packet Too Big naming 1400.
	big := gsoTCP6(p.MAC(), guestMAC, g, rem, 64, 10000, 1341, true)
	p.WriteBatch([]*vswitch.Frame{big})
	big.Release()
	ans := takeAll(p.q)
	if len(ans) != 1 || len(takeFrames(u.tx.(ringEgress).q)) != 0 {
		t.Fatalf("%d answers to an oversize super-frame", len(ans))
	}
	if c := checkICMPv6Frame(t, ans[0], guestMAC, gw6.Addr(), guest6, 64); c.Type() != pkt.ICMPv6PacketTooBig || c.Word() != 1400 {
		t.Fatalf("answer type %d mtu %d", c.Type(), c.Word())
	}
	if d := p.Drops(); d[DropTooBig] != 1 || d[DropBadOffload] != 0 {
		t.Fatalf("drops %v", d)
	}
}
