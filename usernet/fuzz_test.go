package usernet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// FuzzInject: whatever a guest sends, Inject neither panics nor dials
// anything it should not: a packet that is not a whole IPv4 packet is
// counted malformed, one for a forbidden destination is counted as such,
// and no packet is counted twice.
func FuzzInject(f *testing.F) {
	g, r := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("192.0.2.1")
	udp := make([]byte, pkt.IPv4MinLen+pkt.UDPLen+4)
	pkt.EncodeUDP(udp[pkt.IPv4MinLen:], g, r, 1000, 53, 4)
	pkt.IPv4(udp).Encode(&pkt.IPv4Fields{TotalLen: uint16(len(udp)), TTL: 64, Protocol: pkt.ProtoUDP, Src: g, Dst: r})
	f.Add(udp)
	f.Add(echoRequest(g, r, 1, 1, "x"))
	tcp := make([]byte, pkt.IPv4MinLen+pkt.TCPMinLen)
	pkt.TCP(tcp[pkt.IPv4MinLen:]).Encode(&pkt.TCPFields{SrcPort: 1000, DstPort: 80, Seq: 1, Flags: pkt.TCPFlagSYN})
	pkt.IPv4(tcp).Encode(&pkt.IPv4Fields{TotalLen: uint16(len(tcp)), TTL: 64, Protocol: pkt.ProtoTCP, Src: g, Dst: r})
	pkt.TCP(tcp[pkt.IPv4MinLen:]).SetChecksum(pkt.IPv4(tcp).PseudoHeaderChecksum(pkt.ProtoTCP, pkt.TCPMinLen))
	f.Add(tcp)
	f.Add([]byte{0x45})
	s, err := New(Config{Out: func([]byte) {}, MaxFlows: 64,
		Dial: func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("fuzz: no dialing") }})
	if err != nil {
		f.Fatal(err)
	}
	s.pingTo = func(netip.Addr) netip.Addr { return netip.MustParseAddr("127.0.0.1") }
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, b []byte) {
		before := s.Drops()
		s.Inject(b)
		after := s.Drops()
		// Counted now or later (a flow's refusal comes after its dial); the
		// synchronous checks count at most one reason.
		sync := 0
		for _, r := range []DropReason{DropMalformed, DropForbiddenDst} {
			sync += int(after[r] - before[r])
		}
		v := pkt.IPv4(b)
		switch {
		case !v.Valid() || v.TotalLen() > len(b):
			if after[DropMalformed] != before[DropMalformed]+1 || sync != 1 {
				t.Fatalf("malformed not counted once: %v -> %v", before, after)
			}
		case !v.Dst().IsGlobalUnicast():
			if after[DropForbiddenDst] != before[DropForbiddenDst]+1 || sync != 1 {
				t.Fatalf("forbidden destination %s not counted once: %v -> %v", v.Dst(), before, after)
			}
		default:
			if sync != 0 {
				t.Fatalf("a valid packet counted as malformed or forbidden: %v -> %v", before, after)
			}
		}
	})
}
