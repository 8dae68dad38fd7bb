package usernet

import (
	"context"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// tcp runs one guest connection (on its own goroutine, started by the
// forwarder, which bounds how many are still dialing or in their
// handshake: MaxHalfOpen, of which one guest address holds at most
// MaxHalfOpenPerSource): the host socket is dialed first, so the guest's
// SYN is answered by a SYN-ACK only when the destination accepted, and by
// a RST when it did not.
func (s *Stack) tcp(r *tcp.ForwarderRequest) {
	id := r.ID()
	src := addr(id.RemoteAddress)
	if !s.flows.startHandshake(src) {
		// Ignored like a SYN over MaxHalfOpen: the guest retries.
		s.drops[DropHalfOpenSource].Add(1)
		r.Complete(false)
		return
	}
	var wq waiter.Queue
	ep, hc, ok := s.connect(r, src, &wq)
	s.flows.endHandshake(src)
	if !ok {
		return
	}
	defer s.flows.release(src)
	s.tcpN.Add(1)
	// A guest's RST must end the flow even while both copies are blocked
	// on the host side (a peer that neither reads nor writes), else its
	// socket and goroutines live as long as that peer: closing the host
	// socket unblocks them. A clean close is no error and ends by itself.
	reset := waiter.NewFunctionEntry(waiter.EventErr, func(waiter.EventMask) { hc.Close() })
	wq.EventRegister(&reset)
	defer wq.EventUnregister(&reset)
	s.splice(gonet.NewTCPConn(&wq, ep), hc)
}

// connect takes a flow for src, dials the host side of r and completes
// the guest's handshake, the endpoint's events going to wq. When ok, the
// caller owns ep, hc and the flow.
func (s *Stack) connect(r *tcp.ForwarderRequest, src netip.Addr, wq *waiter.Queue) (ep tcpip.Endpoint, hc net.Conn, ok bool) {
	id := r.ID()
	if !s.acquire(src) {
		r.Complete(true)
		return nil, nil, false
	}
	dst := netip.AddrPortFrom(addr(id.LocalAddress), id.LocalPort)
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.DialTimeout)
	hc, err := s.cfg.Dial(ctx, "tcp", s.dialTarget(dst).String())
	cancel()
	if err != nil {
		s.drops[DropDialFailed].Add(1)
		r.Complete(true)
		s.flows.release(src)
		return nil, nil, false
	}
	// gVisor retransmits an unanswered SYN-ACK for about two minutes,
	// holding this half-open slot: a guest gets HandshakeTimeout.
	timer := time.AfterFunc(s.cfg.HandshakeTimeout, func() {
		if s.abortHandshake(id) {
			s.drops[DropHandshakeTimeout].Add(1)
		}
	})
	ep, terr := r.CreateEndpoint(wq)
	timer.Stop()
	r.Complete(false)
	if terr != nil { // the guest gave up during the dial, or never answered
		hc.Close()
		s.flows.release(src)
		return nil, nil, false
	}
	return ep, hc, true
}

// abortHandshake aborts the endpoint of id if it is still in its
// handshake, and says whether it was.
func (s *Stack) abortHandshake(id stack.TransportEndpointID) bool {
	for _, e := range s.st.RegisteredEndpoints() {
		te, ok := e.(*tcp.Endpoint)
		if !ok || te.Info().(*stack.TransportEndpointInfo).ID != id || tcp.EndpointState(te.State()) != tcp.StateSynRecv {
			continue
		}
		te.Abort()
		return true
	}
	return false
}

// halfCloser is a connection that can end its sending side alone.
type halfCloser interface {
	net.Conn
	CloseWrite() error
}

// splice copies both ways until both sides are done or the stack stops;
// an end of stream one way is passed on as a half close.
func (s *Stack) splice(a, b net.Conn) {
	stop := context.AfterFunc(s.ctx, func() { a.Close(); b.Close() })
	defer stop()
	var wg sync.WaitGroup
	one := func(dst, src net.Conn) {
		defer wg.Done()
		_, err := io.Copy(dst, src)
		if h, ok := dst.(halfCloser); ok && err == nil {
			h.CloseWrite()
			return
		}
		a.Close() // an error either way ends the connection
		b.Close()
	}
	wg.Add(2)
	go one(a, b)
	go one(b, a)
	wg.Wait()
	a.Close()
	b.Close()
}
