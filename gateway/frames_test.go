package gateway

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/ring"
	vswitch "github.com/vswitch/vswitch/switch"
)

// Frame builders and checks for the tests, written from the RFCs rather
// than with the package's own encoders where the result is asserted.

// refSum is the RFC 1071 Internet checksum of b, computed the slow way:
// the oracle for every checksum the tests check.
func refSum(parts ...[]byte) uint16 {
	var all []byte
	for _, p := range parts {
		all = append(all, p...)
	}
	if len(all)%2 == 1 {
		all = append(all, 0)
	}
	var s uint32
	for i := 0; i < len(all); i += 2 {
		s += uint32(all[i])<<8 | uint32(all[i+1])
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// pseudo is the IPv4 pseudo-header of a TCP/UDP segment in ip.
func pseudo(ip []byte, proto uint8, l4len int) []byte {
	b := make([]byte, 12)
	copy(b[0:8], ip[12:20])
	b[9] = proto
	binary.BigEndian.PutUint16(b[10:], uint16(l4len))
	return b
}

// ethHdr is a 14-byte Ethernet header.
func ethHdr(dst, src pkt.MAC, typ uint16) []byte {
	b := make([]byte, 14)
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:], typ)
	return b
}

// arpFrame is an ARP packet for Ethernet/IPv4, padded to 60 bytes.
func arpFrame(dst, src pkt.MAC, op uint16, sha pkt.MAC, spa netip.Addr, tha pkt.MAC, tpa netip.Addr) []byte {
	b := append(ethHdr(dst, src, pkt.TypeARP), 0, 1, 8, 0, 6, 4, 0, byte(op))
	s, t := spa.As4(), tpa.As4()
	b = append(b, sha[:]...)
	b = append(b, s[:]...)
	b = append(b, tha[:]...)
	b = append(b, t[:]...)
	return append(b, make([]byte, 60-len(b))...)
}

// ip4 is an IPv4 packet (20-byte header, checksum by refSum).
func ip4(src, dst netip.Addr, ttl, proto uint8, id uint16, flags uint16, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], flags)
	b[8], b[9] = ttl, proto
	s, d := src.As4(), dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	binary.BigEndian.PutUint16(b[10:], refSum(b))
	return append(b, payload...)
}

// udp4 is a UDP datagram with its checksum for src -> dst.
func udp4(src, dst netip.Addr, sport, dport uint16, data []byte) []byte {
	b := make([]byte, 8, 8+len(data))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(data)))
	b = append(b, data...)
	binary.BigEndian.PutUint16(b[6:], sum4(src, dst, pkt.ProtoUDP, b))
	return b
}

// sum4 is the checksum of b, a transport segment of proto from src to
// dst whose checksum field is zero, with its IPv4 pseudo-header.
func sum4(src, dst netip.Addr, proto uint8, b []byte) uint16 {
	s, d := src.As4(), dst.As4()
	ph := append(append(append([]byte(nil), s[:]...), d[:]...), 0, proto, 0, 0)
	binary.BigEndian.PutUint16(ph[10:], uint16(len(b)))
	return refSum(ph, b)
}

// bootp is a DHCP message: the fixed part (op, xid, flags, the addresses
// a, chaddr and the magic cookie), then option 53 of type typ, opts
// (code, length, data...) as given and the end option.
func bootp(op uint8, xid uint32, flags uint16, a bootpAddrs, chaddr pkt.MAC, typ uint8, opts []byte) []byte {
	m := make([]byte, 240)
	m[0], m[1], m[2] = op, 1, 6
	binary.BigEndian.PutUint32(m[4:], xid)
	binary.BigEndian.PutUint16(m[10:], flags)
	put := func(off int, addr netip.Addr) {
		if addr.IsValid() {
			copy(m[off:], addr.AsSlice())
		}
	}
	put(12, a.ci)
	put(16, a.yi)
	put(24, a.gi)
	copy(m[28:], chaddr[:])
	binary.BigEndian.PutUint32(m[236:], 0x63825363)
	return append(append(append(m, 53, 1, typ), opts...), 255)
}

// bootpAddrs are ciaddr, yiaddr and giaddr of a DHCP message; an unset
// one is 0.0.0.0.
type bootpAddrs struct{ ci, yi, gi netip.Addr }

// udpFrame is an Ethernet frame with a UDP datagram, TTL ttl.
func udpFrame(dstMAC, srcMAC pkt.MAC, src, dst netip.Addr, ttl uint8, sport, dport uint16, data []byte) []byte {
	return append(ethHdr(dstMAC, srcMAC, pkt.TypeIPv4), ip4(src, dst, ttl, pkt.ProtoUDP, 0x1234, 0, udp4(src, dst, sport, dport, data))...)
}

// checkIPv4 checks an IPv4 frame's header and L4 checksums by full
// recomputation and returns the IP packet.
func checkIPv4(t *testing.T, frame []byte) pkt.IPv4 {
	t.Helper()
	if len(frame) < 34 || binary.BigEndian.Uint16(frame[12:]) != pkt.TypeIPv4 {
		t.Fatalf("not an IPv4 frame: % x", frame)
	}
	ip := pkt.IPv4(frame[14:])
	if !ip.Valid() || ip.HeaderLen() != 20 {
		t.Fatalf("bad IPv4 header: % x", frame)
	}
	if refSum(ip[:20]) != 0 {
		t.Fatalf("IPv4 header checksum wrong: % x", ip[:20])
	}
	l4 := ip[20:ip.TotalLen()]
	switch ip.Protocol() {
	case pkt.ProtoICMP:
		if refSum(l4) != 0 {
			t.Fatalf("ICMP checksum wrong: % x", l4)
		}
	case pkt.ProtoUDP, pkt.ProtoTCP:
		if ip.Protocol() == pkt.ProtoUDP && l4[6] == 0 && l4[7] == 0 {
			break
		}
		if refSum(pseudo(ip, ip.Protocol(), len(l4)), l4) != 0 {
			t.Fatalf("L4 checksum wrong: % x", l4)
		}
	}
	return ip
}

// takeAll drains q.
func takeAll(q *ring.Queue[vswitch.Frame]) [][]byte {
	var out [][]byte
	var buf [vswitch.BatchSize]*vswitch.Frame
	for n := q.Take(buf[:]); n > 0; n = q.Take(buf[:]) {
		for _, r := range buf[:n] {
			out = append(out, append([]byte(nil), r.Bytes()...))
			r.Release()
		}
	}
	return out
}

// frameOf puts b into a pooled frame.
func frameOf(b []byte) *vswitch.Frame {
	var f *vswitch.Frame
	if len(b) > vswitch.SmallDataLen {
		f = vswitch.NewBigFrame()
	} else {
		f = vswitch.NewFrame()
	}
	f.SetData(b)
	return f
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
