package usernet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
)

// udpForward is one UDP port forward: a host socket whose clients each
// get a flow, a stack endpoint bound to the client's own address and
// port (forwardPeer) and connected to the guest.
type udpForward struct {
	s     *Stack
	pc    *net.UDPConn
	guest netip.AddrPort
	mu    sync.Mutex
	flows map[netip.AddrPort]*udpFwdFlow // by the client's host address; bounded by acquire
}

type udpFwdFlow struct {
	g    *gonet.UDPConn
	last atomic.Int64 // unix nanoseconds of the last datagram either way
	dead bool         // ended idle: out of flows, g closed; under udpForward.mu
}

// ForwardUDP listens on listen (a host UDP address, IPv4) and passes each
// client's datagrams to guest from the client's own address and port; the
// guest's answers go back to the client from listen. A client's flow is
// one of the stack's flows (bounded in total and per source, refusals
// counted) and ends after UDPIdle with no datagram either way.
func (s *Stack) ForwardUDP(listen string, guest netip.AddrPort) error {
	la, err := net.ResolveUDPAddr("udp4", listen)
	if err != nil {
		return err
	}
	pc, err := net.ListenUDP("udp4", la)
	if err != nil {
		return err
	}
	f := &udpForward{s: s, pc: pc, guest: guest, flows: map[netip.AddrPort]*udpFwdFlow{}}
	return s.service(pc, f.serve)
}

// serve reads the clients' datagrams until the stack stops.
func (f *udpForward) serve() {
	buf := make([]byte, maxDatagram+1) // one byte more tells a datagram that did not fit
	for {
		n, client, err := f.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if f.s.ctx.Err() != nil {
				return
			}
			time.Sleep(10 * time.Millisecond) // a transient error: do not spin
			continue
		}
		if n > maxDatagram {
			f.s.drops[DropDatagramTooBig].Add(1)
			continue
		}
		// A flow may end idle between finding it and writing: then send
		// says so and a new flow takes the datagram.
		for range 2 {
			fl := f.flow(client)
			if fl == nil || f.send(fl, buf[:n]) {
				break // sent, or refused and counted
			}
		}
	}
}

// send writes b to the guest on fl unless fl has ended. It holds the lock
// endIdle checks idleness under, so a flow never ends between a
// datagram's write and its answer: endIdle either sees the datagram's
// time, or ends the flow first and send refuses it.
func (f *udpForward) send(fl *udpFwdFlow, b []byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl.dead {
		return false
	}
	fl.last.Store(time.Now().UnixNano())
	_, err := fl.g.Write(b)
	return err == nil
}

// flow finds or opens the client's flow; nil when refused.
func (f *udpForward) flow(client netip.AddrPort) *udpFwdFlow {
	f.mu.Lock()
	fl := f.flows[client]
	f.mu.Unlock()
	if fl != nil { // a flow in the table is live: endLocked takes it out as it ends
		return fl
	}
	s := f.s
	peer, ok := s.forwardPeer(client)
	if !ok || !s.acquire(peer.Addr()) {
		return nil
	}
	g, err := gonet.DialUDP(s.st,
		&tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFrom4(peer.Addr().As4()), Port: peer.Port()},
		&tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFrom4(f.guest.Addr().As4()), Port: f.guest.Port()}, ipv4.ProtocolNumber)
	if err != nil { // the peer's address and port are taken in the stack
		s.flows.release(peer.Addr())
		s.drops[DropDialFailed].Add(1)
		return nil
	}
	s.udpN.Add(1)
	fl = &udpFwdFlow{g: g}
	fl.last.Store(time.Now().UnixNano())
	f.mu.Lock()
	f.flows[client] = fl
	f.mu.Unlock()
	go f.back(client, peer, fl)
	return fl
}

// back sends the guest's answers to the client until the flow is idle
// for UDPIdle or the stack stops, then ends the flow.
func (f *udpForward) back(client, peer netip.AddrPort, fl *udpFwdFlow) {
	s := f.s
	defer s.flows.release(peer.Addr())
	stop := context.AfterFunc(s.ctx, func() { fl.g.Close() })
	defer stop()
	buf := make([]byte, maxDatagram+1)
	for {
		fl.g.SetReadDeadline(time.Unix(0, fl.last.Load()).Add(s.cfg.UDPIdle))
		n, err := fl.g.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !f.endIdle(client, fl) {
				continue // the client sent since the deadline was set
			}
			break
		}
		fl.last.Store(time.Now().UnixNano())
		if n > maxDatagram {
			s.drops[DropDatagramTooBig].Add(1)
			continue
		}
		f.pc.WriteToUDPAddrPort(buf[:n], client)
	}
	f.end(client, fl)
}

// endIdle ends fl if it is idle still, under the lock, so that no
// datagram is written to it after the check; false: it is not idle.
func (f *udpForward) endIdle(client netip.AddrPort, fl *udpFwdFlow) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if time.Since(time.Unix(0, fl.last.Load())) < f.s.cfg.UDPIdle {
		return false
	}
	f.endLocked(client, fl)
	return true
}

func (f *udpForward) end(client netip.AddrPort, fl *udpFwdFlow) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.endLocked(client, fl)
}

// endLocked takes fl out of the table and closes its endpoint (so its
// address and port are free for a new flow of the same client).
func (f *udpForward) endLocked(client netip.AddrPort, fl *udpFwdFlow) {
	if fl.dead {
		return
	}
	fl.dead = true
	fl.g.Close()
	if f.flows[client] == fl {
		delete(f.flows, client)
	}
}
