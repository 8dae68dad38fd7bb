package usernet

import (
	"context"
	"net"
	"net/netip"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
)

// ForwardTCP listens on listen (a host TCP address, IPv4) and connects
// each client to guest through the stack from the client's own address
// and port, so the guest's server sees who really connected (slirp and
// gvisor-tap-vsock show it the gateway instead). The guest's answers
// come back as routed packets to that address. A loopback client
// appears from HostLoopback, or is refused without it (forwardPeer).
func (s *Stack) ForwardTCP(listen string, guest netip.AddrPort) error {
	l, err := net.Listen("tcp4", listen)
	if err != nil {
		return err
	}
	return s.service(l, func() {
		for {
			c, err := l.Accept()
			if err != nil {
				if s.ctx.Err() != nil {
					return
				}
				time.Sleep(10 * time.Millisecond) // out of descriptors: let flows end
				continue
			}
			peer, ok := s.forwardPeer(c.RemoteAddr().(*net.TCPAddr).AddrPort())
			if !ok || !s.acquire(peer.Addr()) {
				c.Close()
			} else {
				go s.forwardOne(c, peer, guest)
			}
		}
	})
}

// forwardOne connects one accepted client to the guest.
func (s *Stack) forwardOne(c net.Conn, client, guest netip.AddrPort) {
	defer s.flows.release(client.Addr())
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.DialTimeout)
	gc, err := gonet.DialTCPWithBind(ctx, s.st,
		tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFrom4(client.Addr().As4()), Port: client.Port()},
		tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFrom4(guest.Addr().As4()), Port: guest.Port()}, ipv4.ProtocolNumber)
	cancel()
	if err != nil {
		s.drops[DropDialFailed].Add(1)
		c.Close()
		return
	}
	s.tcpN.Add(1)
	s.splice(gc, c)
}
