package usernet

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// udp opens a flow for a guest's first datagram of a 4-tuple: a connected
// host socket to the same destination. It runs on the stack's inbound
// path, so it only sets up; the copying runs on the flow's goroutines.
func (s *Stack) udp(r *udp.ForwarderRequest) bool {
	id := r.ID()
	src := addr(id.RemoteAddress)
	if !s.acquire(src) {
		return true // dropped and counted; no ICMP to a guest over its limit
	}
	dst := netip.AddrPortFrom(addr(id.LocalAddress), id.LocalPort)
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.DialTimeout)
	hc, err := s.cfg.Dial(ctx, "udp", s.dialTarget(dst).String()) // a UDP dial sends nothing
	cancel()
	if err != nil {
		s.flows.release(src)
		s.drops[DropDialFailed].Add(1)
		return true
	}
	var wq waiter.Queue
	ep, terr := r.CreateEndpoint(&wq) // delivers this first datagram too
	if terr != nil {
		s.flows.release(src)
		hc.Close()
		return true
	}
	s.udpN.Add(1)
	go func() {
		defer s.flows.release(src)
		s.udpFlow(gonet.NewUDPConn(&wq, ep), hc)
	}()
	return true
}

// maxDatagram is the largest datagram a flow carries either way: each
// flow's two buffers are its bound (4096 flows: 128 MiB at most), and
// larger datagrams (rarer than rare with a 1500-byte MTU) are dropped
// whole, counted, rather than truncated.
const maxDatagram = 16 << 10

// udpFlow copies datagrams both ways until neither way has carried one
// for UDPIdle, or the stack stops.
func (s *Stack) udpFlow(g, h net.Conn) {
	var last atomic.Int64 // unix nanoseconds of the last datagram either way
	last.Store(time.Now().UnixNano())
	ctx, cancel := context.WithCancel(s.ctx)
	stop := context.AfterFunc(ctx, func() { g.Close(); h.Close() })
	defer stop()
	done := make(chan struct{}, 2)
	one := func(dst, src net.Conn) {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, maxDatagram+1) // one byte more tells a datagram that did not fit
		for {
			n, err := src.Read(buf)
			if err != nil {
				cancel()
				return
			}
			last.Store(time.Now().UnixNano())
			if n > maxDatagram {
				s.drops[DropDatagramTooBig].Add(1)
				continue
			}
			if _, err := dst.Write(buf[:n]); err != nil && ctx.Err() != nil {
				return
			}
		}
	}
	go one(h, g)
	go one(g, h)
	t := time.NewTicker(max(s.cfg.UDPIdle/4, 10*time.Millisecond))
	defer t.Stop()
	for waiting := 2; waiting > 0; {
		select {
		case <-done:
			waiting--
		case now := <-t.C:
			if now.UnixNano()-last.Load() >= int64(s.cfg.UDPIdle) {
				cancel()
			}
		}
	}
	cancel()
}
