package usernet

import (
	"context"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vswitch/vswitch/internal/pkt"
)

// pingTimeout is how long an echo waits for its reply, as ping's -W.
const pingTimeout = 5 * time.Second

// echo answers a guest's ICMP echo request through an unprivileged ICMP
// socket of the process (ping_group_range decides whether there is
// one); without one, the guest hears "communication administratively
// prohibited" rather than silence. Each echo in flight is a flow.
func (s *Stack) echo(ip pkt.IPv4) {
	c := pkt.ICMP(ip.Payload())
	if ip.IsFragment() || !c.Valid() || c.Type() != pkt.ICMPEchoRequest || c.Code() != 0 {
		s.drops[DropProtocol].Add(1)
		return
	}
	src, dst := ip.Src(), ip.Dst()
	if !s.acquire(src) {
		return
	}
	// Copies: ip is not kept. The quote is what an ICMP error carries.
	req := append([]byte(nil), c...)
	quote := append([]byte(nil), ip[:min(len(ip), ip.HeaderLen()+8)]...)
	go func() {
		defer s.flows.release(src)
		s.ping(src, dst, req, quote)
	}()
}

func (s *Stack) ping(src, dst netip.Addr, req, quote []byte) {
	conn, err := pingSocket()
	if err != nil {
		s.drops[DropPingDenied].Add(1)
		s.icmpOut(dst, src, pkt.ICMPUnreachable, codeAdminProhibited, quote)
		return
	}
	defer conn.Close()
	stop := context.AfterFunc(s.ctx, func() { conn.Close() })
	defer stop()
	to := s.pingTo(dst)
	if _, err := conn.WriteTo(req, &net.UDPAddr{IP: to.AsSlice()}); err != nil {
		return // as a lost ping: the guest times out
	}
	conn.SetReadDeadline(time.Now().Add(pingTimeout))
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return
		}
		r := pkt.ICMP(buf[:n])
		if a, ok := from.(*net.UDPAddr); !ok || a.AddrPort().Addr().Unmap() != to || !r.Valid() ||
			r.Type() != pkt.ICMPEchoReply || r.Seq() != pkt.ICMP(req).Seq() {
			continue
		}
		// The kernel chose the socket's identifier; the guest gets its own.
		r.SetIdent(pkt.ICMP(req).Ident())
		s.icmpOut(dst, src, pkt.ICMPEchoReply, 0, r)
		return
	}
}

// codeAdminProhibited is ICMP unreachable's "communication
// administratively prohibited" (RFC 1812).
const codeAdminProhibited = 13

// icmpOut sends the guest an ICMP message from src: an echo reply (msg
// is the whole reply) or an error of typ/code quoting msg.
func (s *Stack) icmpOut(src, dst netip.Addr, typ, code uint8, msg []byte) {
	body := msg
	if typ != pkt.ICMPEchoReply {
		body = make([]byte, pkt.ICMPLen+len(msg))
		body[0], body[1] = typ, code
		copy(body[pkt.ICMPLen:], msg)
		pkt.ICMP(body).SetChecksum()
	}
	b := make([]byte, pkt.IPv4MinLen+len(body))
	copy(b[pkt.IPv4MinLen:], body)
	pkt.IPv4(b).Encode(&pkt.IPv4Fields{TotalLen: uint16(len(b)), TTL: 64, Protocol: pkt.ProtoICMP, Src: src, Dst: dst})
	s.cfg.Out(b, pkt.VirtioNetHdr{})
}

// pingSocket opens an unprivileged ICMP socket (SOCK_DGRAM, IPPROTO_ICMP)
// under the netpoller.
func pingSocket() (net.PacketConn, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "ping")
	defer f.Close() // FilePacketConn dups it
	return net.FilePacketConn(f)
}
