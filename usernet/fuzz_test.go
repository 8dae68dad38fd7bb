package usernet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/vswitch/vswitch/internal/pkt"
)

// FuzzInject: whatever a guest sends, with whatever virtio-net header,
// Inject neither panics nor dials anything it should not: a packet that
// is not a whole IPv4 packet is counted malformed, one for a forbidden
// destination is counted as such, a super-frame other than TCP as
// bad_offload, and a TCP or UDP packet whose checksums gVisor's own code
// finds wrong as bad_checksum, unless its header says the checksum is
// partial or validated (then only the IP header's counts); no packet is
// counted twice.
func FuzzInject(f *testing.F) {
	g, r := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("192.0.2.1")
	udp := make([]byte, pkt.IPv4MinLen+pkt.UDPLen+4)
	pkt.EncodeUDP(udp[pkt.IPv4MinLen:], g, r, 1000, 53, 4)
	pkt.IPv4(udp).Encode(&pkt.IPv4Fields{TotalLen: uint16(len(udp)), TTL: 64, Protocol: pkt.ProtoUDP, Src: g, Dst: r})
	f.Add(udp, uint8(0), uint8(0))
	f.Add(echoRequest(g, r, 1, 1, "x"), uint8(0), uint8(0))
	tcp := make([]byte, pkt.IPv4MinLen+pkt.TCPMinLen)
	pkt.TCP(tcp[pkt.IPv4MinLen:]).Encode(&pkt.TCPFields{SrcPort: 1000, DstPort: 80, Seq: 1, Flags: pkt.TCPFlagSYN})
	pkt.IPv4(tcp).Encode(&pkt.IPv4Fields{TotalLen: uint16(len(tcp)), TTL: 64, Protocol: pkt.ProtoTCP, Src: g, Dst: r})
	pkt.TCP(tcp[pkt.IPv4MinLen:]).SetChecksum(pkt.IPv4(tcp).PseudoHeaderChecksum(pkt.ProtoTCP, pkt.TCPMinLen))
	f.Add(tcp, uint8(0), uint8(0))
	f.Add(tcp, uint8(pkt.VirtioNetHdrFNeedsCsum), uint8(pkt.VirtioNetHdrGSOTCPv4))
	f.Add(udp, uint8(pkt.VirtioNetHdrFNeedsCsum), uint8(pkt.VirtioNetHdrGSOUDPL4))
	f.Add([]byte{0x45}, uint8(0), uint8(0))
	s, err := New(Config{Out: func([]byte, pkt.VirtioNetHdr) {}, MaxFlows: 64,
		Dial: func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("fuzz: no dialing") }})
	if err != nil {
		f.Fatal(err)
	}
	s.pingTo = func(netip.Addr) netip.Addr { return netip.MustParseAddr("127.0.0.1") }
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, b []byte, flags, gso uint8) {
		h := pkt.VirtioNetHdr{Flags: flags, GSOType: gso}
		before := s.Drops()
		s.Inject(b, h)
		after := s.Drops()
		// Counted now or later (a flow's refusal comes after its dial); the
		// synchronous checks count at most one reason.
		sync := 0
		for _, r := range []DropReason{DropMalformed, DropForbiddenDst, DropBadChecksum, DropBadOffload} {
			sync += int(after[r] - before[r])
		}
		once := func(r DropReason) {
			if after[r] != before[r]+1 || sync != 1 {
				t.Fatalf("%v not counted once: %v -> %v", r, before, after)
			}
		}
		v := pkt.IPv4(b)
		switch {
		case !v.Valid() || v.TotalLen() > len(b):
			once(DropMalformed)
		case !v.Dst().IsGlobalUnicast():
			once(DropForbiddenDst)
		case v.Protocol() != pkt.ProtoTCP && v.Protocol() != pkt.ProtoUDP:
			if sync != 0 {
				t.Fatalf("neither TCP nor UDP, yet counted: %v -> %v", before, after)
			}
		case h.IsGSO() && (gso&^pkt.VirtioNetHdrGSOECN != pkt.VirtioNetHdrGSOTCPv4 || v.Protocol() != pkt.ProtoTCP):
			once(DropBadOffload)
		case !header.IPv4(b).IsChecksumValid() || flags&(pkt.VirtioNetHdrFNeedsCsum|pkt.VirtioNetHdrFDataValid) == 0 && !v.IsFragment() && !gvisorChecksumOK(v):
			once(DropBadChecksum)
		default:
			if sync != 0 {
				t.Fatalf("a valid packet counted: %v -> %v", before, after)
			}
		}
	})
}

// gvisorChecksumOK is checksumsOK's transport check done by gVisor's code.
func gvisorChecksumOK(v pkt.IPv4) bool {
	l4 := v[v.HeaderLen():v.TotalLen()]
	least := header.TCPMinimumSize
	if v.Protocol() == pkt.ProtoUDP {
		if least = header.UDPMinimumSize; len(l4) >= least && l4[6] == 0 && l4[7] == 0 {
			return true
		}
	}
	if len(l4) < least {
		return false
	}
	src, dst := tcpip.AddrFrom4Slice(v[12:16]), tcpip.AddrFrom4Slice(v[16:20])
	ph := header.PseudoHeaderChecksum(tcpip.TransportProtocolNumber(v.Protocol()), src, dst, uint16(len(l4)))
	return checksum.Checksum(l4, ph) == 0xffff
}
