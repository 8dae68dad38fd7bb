package gateway

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/dns"
	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// FuzzDeliverDNSTCP frames arbitrary segments of the DNS server to an
// IPv4 or an IPv6 client and checks each frame against a slow reading:
// the family's headers from the gateway's address to the client, every
// field and the MSS option as given, the payload whole, a checksum that
// verifies by refSum over the family's pseudo-header, zero padding; and
// no frame at all for a segment no frame holds.
func FuzzDeliverDNSTCP(f *testing.F) {
	f.Add(true, uint16(40000), uint32(1), uint32(101), uint8(pkt.TCPFlagSYN|pkt.TCPFlagACK), uint16(4096), uint16(1440), []byte(nil))
	f.Add(false, uint16(40000), uint32(2), uint32(150), uint8(pkt.TCPFlagACK|pkt.TCPFlagPSH|pkt.TCPFlagFIN), uint16(4096), uint16(0), []byte("\x00\x03abc"))
	f.Add(true, uint16(1), uint32(0), uint32(0), uint8(pkt.TCPFlagRST), uint16(0), uint16(0), make([]byte, 1440))
	p := newPort6("t", gw6, nil)
	f.Fuzz(func(t *testing.T, six bool, dport uint16, seq, ack uint32, flags uint8, window, mss uint16, data []byte) {
		dst, src, ipLen, typ := guestIP, gwIP, pkt.IPv4MinLen, uint16(pkt.TypeIPv4)
		if six {
			dst, src, ipLen, typ = guest6, gw6.Addr(), pkt.IPv6Len, pkt.TypeIPv6
		}
		p.DeliverDNSTCP(dns.TCPSegment{DstMAC: guestMAC, Dst: netip.AddrPortFrom(dst, dport), Seq: seq, Ack: ack,
			Flags: flags, Window: window, MSS: mss, Payload: data})
		out := takeAll(p.q)
		thl := 20
		if mss != 0 {
			thl = 24
		}
		n := 14 + ipLen + thl + len(data)
		if n > vswitch.SmallDataLen {
			if len(out) != 0 {
				t.Fatalf("a frame of %d bytes", n)
			}
			return
		}
		if len(out) != 1 || len(out[0]) != max(n, 60) || !bytes.Equal(out[0][n:], make([]byte, len(out[0])-n)) {
			t.Fatalf("%d frames, want one of %d bytes, zero padded", len(out), max(n, 60))
		}
		r := out[0]
		eth := pkt.Ethernet(r)
		var seg []byte
		if six {
			ip := pkt.IPv6(r[14:])
			if !ip.Valid() || ip.Src() != src || ip.Dst() != dst || ip.NextHeader() != pkt.ProtoTCP || int(ip.PayloadLen()) != thl+len(data) {
				t.Fatalf("IPv6 header % x", r[14:54])
			}
			seg = r[54:n]
			if refSum(pseudo6(ip, pkt.ProtoTCP, len(seg)), seg) != 0 {
				t.Fatal("TCP checksum")
			}
		} else {
			ip := pkt.IPv4(r[14:])
			if refSum(r[14:34]) != 0 || ip.Src() != src || ip.Dst() != dst || ip.Protocol() != pkt.ProtoTCP || int(ip.TotalLen()) != n-14 {
				t.Fatalf("IPv4 header % x", r[14:34])
			}
			seg = r[34:n]
			if refSum(pseudo(ip, pkt.ProtoTCP, len(seg)), seg) != 0 {
				t.Fatal("TCP checksum")
			}
		}
		tc := pkt.TCP(seg)
		opt := ""
		if mss != 0 {
			opt = string([]byte{2, 4, byte(mss >> 8), byte(mss)})
		}
		if eth.Dst() != guestMAC || eth.Src() != p.MAC() || eth.Type() != typ || !tc.Valid() || tc.SrcPort() != 53 || tc.DstPort() != dport ||
			tc.Seq() != seq || tc.Ack() != ack || tc.Flags() != flags || tc.Window() != window || tc.DataOffset() != thl ||
			string(tc.Options()) != opt || !bytes.Equal(tc.Payload(), data) {
			t.Fatalf("segment % x", seg[:thl])
		}
	})
}
