package usernet

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// echoRequest is a guest's ping: id, seq and data.
func echoRequest(src, dst netip.Addr, id, seq uint16, data string) []byte {
	b := make([]byte, pkt.IPv4MinLen+pkt.ICMPLen+len(data))
	c := pkt.ICMP(b[pkt.IPv4MinLen:])
	c[0] = pkt.ICMPEchoRequest
	binary.BigEndian.PutUint16(c[4:], id)
	binary.BigEndian.PutUint16(c[6:], seq)
	copy(c[pkt.ICMPLen:], data)
	c.SetChecksum()
	pkt.IPv4(b).Encode(&pkt.IPv4Fields{TotalLen: uint16(len(b)), TTL: 64, Protocol: pkt.ProtoICMP, Src: src, Dst: dst})
	return b
}

// TestPing: an echo goes out through an unprivileged ICMP socket (to
// loopback here) and its reply comes back with the guest's identifier;
// where ping_group_range allows no such socket, the guest is told
// "administratively prohibited" at once, quoting its request.
func TestPing(t *testing.T) {
	out := make(chan []byte, 4)
	s, err := New(Config{Out: func(ip []byte, _ pkt.VirtioNetHdr) { out <- append([]byte(nil), ip...) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.pingTo = func(netip.Addr) netip.Addr { return netip.MustParseAddr("127.0.0.1") }
	g, r := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("192.0.2.1")
	req := echoRequest(g, r, 0x1234, 7, "vswitch-ping")
	s.Inject(req, pkt.VirtioNetHdr{})
	got := testnet.Recv(t, out, pingTimeout+time.Second, "an answer to the echo")
	ip := pkt.IPv4(got)
	if !ip.Valid() || !ip.HeaderChecksumOK() || ip.Src() != r || ip.Dst() != g || ip.Protocol() != pkt.ProtoICMP {
		t.Fatalf("answer % x", got)
	}
	c := pkt.ICMP(ip.Payload())
	if c.ComputeChecksum() != c.Checksum() {
		t.Fatalf("ICMP checksum % x", c)
	}
	if pingSocketDenied() {
		quote := req[:pkt.IPv4MinLen+8]
		if c.Type() != pkt.ICMPUnreachable || c.Code() != codeAdminProhibited || !bytes.Equal(c.Payload(), quote) {
			t.Fatalf("denied: answer % x, want unreachable 13 quoting % x", c, quote)
		}
		if d := s.Drops(); d != [NumDrops]uint64{DropPingDenied: 1} {
			t.Fatalf("drops %v", d)
		}
	} else if c.Type() != pkt.ICMPEchoReply || c.Ident() != 0x1234 || c.Seq() != 7 || string(c.Payload()) != "vswitch-ping" {
		t.Fatalf("reply % x", c)
	}
	waitFlows(t, s, 0)
}

func pingSocketDenied() bool {
	c, err := pingSocket()
	if err != nil {
		return true
	}
	c.Close()
	return false
}
