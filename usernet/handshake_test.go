package usernet

import (
	"context"
	"io"
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

// TestSynFloodOneGuest: a guest that sends MaxHalfOpen SYNs and answers
// none of the SYN-ACKs used to hold every half-open slot for the two
// minutes of SYN-ACK retries, so no other guest's SYN got through. Now
// it holds MaxHalfOpen/2 of them (its other SYNs are ignored and
// counted), each for HandshakeTimeout at most, and an honest guest
// connects at once.
func TestSynFloodOneGuest(t *testing.T) {
	addr := echoServer(t)
	s, g := newPair(t, Config{HandshakeTimeout: 2 * time.Second}, addr)
	hostile, dst := netip.MustParseAddr("10.0.0.66"), netip.MustParseAddr("192.0.2.1")
	for p := range uint16(128) { // MaxHalfOpen, its default
		s.Inject(synPacket(hostile, dst, 1000+p), pkt.VirtioNetHdr{})
	}
	waitFor(t, "the flood's SYNs over its share ignored", func() bool { return s.Drops()[DropHalfOpenSource] == 128-64 })
	c, err := g.dialTCP(80) // the sentinel: an honest guest's connection
	if err != nil {
		t.Fatalf("an honest guest could not connect beside the flood: %v", err)
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo %q, %v", got, err)
	}
	c.Close()
	waitFor(t, "the flood's handshakes given up", func() bool { return s.Drops()[DropHandshakeTimeout] == 64 })
	if d := s.Drops(); d != [NumDrops]uint64{DropHalfOpenSource: 128 - 64, DropHandshakeTimeout: 64} {
		t.Fatalf("drops %v", d)
	}
}
