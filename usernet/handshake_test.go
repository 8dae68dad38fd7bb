package usernet

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/vswitch/vswitch/internal/pkt"
)

// synPacket is a guest's SYN from src:sport to dst:80, with its MSS.
func synPacket(src, dst netip.Addr, sport uint16) []byte {
	b := make([]byte, header.IPv4MinimumSize+header.TCPMinimumSize+4)
	tcp := header.TCP(b[header.IPv4MinimumSize:])
	tcp.Encode(&header.TCPFields{SrcPort: sport, DstPort: 80, SeqNum: 1000, DataOffset: header.TCPMinimumSize + 4,
		Flags: header.TCPFlagSyn, WindowSize: 65535})
	copy(tcp[header.TCPMinimumSize:], []byte{header.TCPOptionMSS, 4, 0x05, 0xb4})
	v := pkt.IPv4(b)
	v.Encode(&pkt.IPv4Fields{TotalLen: uint16(len(b)), TTL: 64, Protocol: pkt.ProtoTCP, Src: src, Dst: dst})
	pkt.TCP(tcp).SetChecksum(v.PseudoHeaderChecksum(pkt.ProtoTCP, uint16(len(tcp))))
	return b
}

// synAcks counts the SYN-ACKs a stack sends to ports of its guests.
type synAcks struct{ n [65536]atomic.Int32 }

func (c *synAcks) out(ip []byte, _ pkt.VirtioNetHdr) {
	v := pkt.IPv4(ip)
	if v.Protocol() != pkt.ProtoTCP {
		return
	}
	t := header.TCP(v.Payload())
	if t.Flags() == header.TCPFlagSyn|header.TCPFlagAck {
		c.n[t.DestinationPort()].Add(1)
	}
}

// TestCloseAbortsHandshake: a guest that sends a SYN and never answers
// the SYN-ACK leaves the stack retransmitting it for about two minutes;
// Close ends that handshake rather than waiting it out (a daemon's stop
// or reload used to hang that long).
func TestCloseAbortsHandshake(t *testing.T) {
	addr := echoServer(t)
	var sa synAcks
	s, err := New(Config{Out: sa.out, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}})
	if err != nil {
		t.Fatal(err)
	}
	src, dst := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("192.0.2.1")
	s.Inject(synPacket(src, dst, 40000), pkt.VirtioNetHdr{})
	waitFor(t, "the SYN-ACK", func() bool { return sa.n[40000].Load() >= 1 })
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close still waits for a handshake after 10 s")
	}
}
