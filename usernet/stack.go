package usernet

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/vswitch/vswitch/internal/label"
	"github.com/vswitch/vswitch/internal/pkt"
)

// Config is one user-mode uplink.
type Config struct {
	MaxFlows     int // TCP and UDP flows open at once; 0: 4096
	MaxPerSource int // flows of one guest address; 0: 256
	MaxHalfOpen  int // TCP connections still dialing or in their handshake; 0: 128
	// MaxHalfOpenPerSource is how many of those one guest address may
	// hold, so that a guest that never completes its handshakes leaves
	// the other half to the rest; 0: MaxHalfOpen/2 (64), at least 1.
	MaxHalfOpenPerSource int
	// HandshakeTimeout bounds how long a guest may leave the stack's
	// SYN-ACK unanswered (gVisor retransmits it for about two minutes);
	// 0: 10 s.
	HandshakeTimeout time.Duration
	// TCPBuffer bounds each TCP connection's buffer in the stack, each
	// way (the window the guest is offered, and what waits for it); 0:
	// 256 KiB, gVisor's own default being 1 MiB growing to 4 MiB.
	TCPBuffer   int
	UDPIdle     time.Duration // a UDP flow with no packet either way this long is closed; 0: 60 s
	DialTimeout time.Duration // 0: 10 s
	MTU         int           // 0: 1500
	// HostLoopback, when valid, is the address through which guests
	// reach the host's 127.0.0.1 (slirp's 10.0.2.2, passt's
	// --map-host-loopback): their flows to it are dialed at loopback,
	// and a forward's loopback client appears from it. Off (invalid) by
	// default: with it, every guest reaches every service that listens
	// on the host's loopback only, trusting it to be local.
	HostLoopback netip.Addr
	// Out takes a packet the stack sends to a guest (a whole IPv4 packet)
	// and its virtio-net header (offload.go: a TCP super-frame, or a
	// partial checksum; zero for a complete packet). It is called on the
	// stack's goroutines and must not keep ip.
	Out func(ip []byte, h pkt.VirtioNetHdr)
	// Dial connects a host socket; nil: a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	Log  *slog.Logger
}

// Stack is a userspace TCP/IP stack with one NIC that accepts every
// guest flow and connects the same destination from this process.
type Stack struct {
	cfg   Config
	st    *stack.Stack
	ep    link
	flows flows
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup
	once  sync.Once
	drops [NumDrops]atomic.Uint64
	// pingTo is where an echo for dst goes: its dialTarget (tests send
	// theirs to loopback).
	pingTo func(dst netip.Addr) netip.Addr
	tcpN   atomic.Uint64 // TCP flows accepted
	udpN   atomic.Uint64 // UDP flows accepted
}

const nicID = 1

// Default flow limits: each flow is a socket of the process, and one
// guest may hold a sixteenth of them.
const (
	DefaultMaxFlows     = 4096
	DefaultMaxPerSource = 256
)

// New starts a stack; Close stops it and every flow.
func New(cfg Config) (*Stack, error) {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.MaxFlows, DefaultMaxFlows)
	def(&cfg.MaxPerSource, DefaultMaxPerSource)
	def(&cfg.MaxHalfOpen, 128)
	def(&cfg.MaxHalfOpenPerSource, max(1, cfg.MaxHalfOpen/2))
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	def(&cfg.MTU, 1500)
	def(&cfg.TCPBuffer, 256<<10)
	cfg.TCPBuffer = max(cfg.TCPBuffer, tcp.MinBufferSize)
	if cfg.UDPIdle <= 0 {
		cfg.UDPIdle = 60 * time.Second
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = d.DialContext
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Out == nil {
		return nil, errors.New("usernet: no Out")
	}
	st := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
	})
	ep := newLink(1024, uint32(cfg.MTU))
	fail := func(what string, e tcpip.Error) (*Stack, error) {
		st.Close()
		return nil, errors.New("usernet: " + what + ": " + e.String())
	}
	// Fixed buffers, no auto-tuning: a guest that stops reading, or that
	// writes to a host peer that stopped, holds TCPBuffer each way per
	// connection at most.
	moderate := tcpip.TCPModerateReceiveBufferOption(false)
	for _, opt := range []tcpip.SettableTransportProtocolOption{
		&tcpip.TCPReceiveBufferSizeRangeOption{Min: tcp.MinBufferSize, Default: cfg.TCPBuffer, Max: cfg.TCPBuffer},
		&tcpip.TCPSendBufferSizeRangeOption{Min: tcp.MinBufferSize, Default: cfg.TCPBuffer, Max: cfg.TCPBuffer},
		&moderate,
	} {
		if e := st.SetTransportProtocolOption(tcp.ProtocolNumber, opt); e != nil {
			return fail("tcp buffers", e)
		}
	}
	if e := st.CreateNIC(nicID, ep); e != nil {
		return fail("nic", e)
	}
	// Promiscuous: the NIC takes packets for every destination, as a
	// router would; spoofing: it answers from those destinations.
	if e := st.SetPromiscuousMode(nicID, true); e != nil {
		return fail("promiscuous", e)
	}
	if e := st.SetSpoofing(nicID, true); e != nil {
		return fail("spoofing", e)
	}
	st.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: nicID}})
	s := &Stack{cfg: cfg, st: st, ep: ep, flows: flows{max: cfg.MaxFlows, perSource: cfg.MaxPerSource, bySource: map[netip.Addr]int{},
		halfPerSource: cfg.MaxHalfOpenPerSource, halfOpen: map[netip.Addr]int{}}}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.pingTo = func(dst netip.Addr) netip.Addr { return s.dialTarget(netip.AddrPortFrom(dst, 0)).Addr() }
	tf := tcp.NewForwarder(st, cfg.TCPBuffer, cfg.MaxHalfOpen, s.tcp) // its rcvWnd is the receive buffer of the endpoints it makes
	st.SetTransportProtocolHandler(tcp.ProtocolNumber, tf.HandlePacket)
	uf := udp.NewForwarder(st, s.udp)
	st.SetTransportProtocolHandler(udp.ProtocolNumber, uf.HandlePacket)
	s.wg.Add(1)
	go s.output()
	return s, nil
}

// Inject hands the stack a guest's IPv4 packet with its virtio-net
// header (offsets from the IP header; zero for a complete packet); ip is
// not kept.
func (s *Stack) Inject(ip []byte, h pkt.VirtioNetHdr) {
	v := pkt.IPv4(ip)
	if !v.Valid() || v.TotalLen() > len(ip) {
		s.drops[DropMalformed].Add(1)
		return
	}
	if !v.Dst().IsGlobalUnicast() { // also refuses link-local and the limited broadcast
		s.drops[DropForbiddenDst].Add(1)
		return
	}
	switch v.Protocol() {
	case pkt.ProtoTCP, pkt.ProtoUDP:
	case pkt.ProtoICMP:
		s.echo(v[:v.TotalLen()])
		return
	default:
		s.drops[DropProtocol].Add(1)
		return
	}
	if r := refuse(v, h); r != NumDrops {
		s.drops[r].Add(1)
		return
	}
	pb := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(ip[:v.TotalLen()])})
	s.ep.InjectInbound(ipv4.ProtocolNumber, pb)
	pb.DecRef()
}

// output hands the guests what the stack sends, each packet gathered
// into one buffer of its own (a super-frame is up to gsoMaxSize long).
func (s *Stack) output() {
	defer s.wg.Done()
	buf := make([]byte, gsoMaxSize)
	for {
		p := s.ep.ReadContext(s.ctx)
		if p == nil {
			return
		}
		if n := gather(buf, p); n > 0 {
			s.cfg.Out(buf[:n], outHeader(p))
		}
		p.DecRef()
	}
}

// gather copies p's bytes (headers and payload) into buf and returns
// their length, or 0 when they do not fit (never for what the stack
// makes: its MTU and gsoMaxSize bound every packet).
func gather(buf []byte, p *stack.PacketBuffer) int {
	vl, off := p.AsViewList()
	n := 0
	for v := vl.Front(); v != nil; v = v.Next() {
		b := v.AsSlice()
		skip := min(off, len(b))
		off -= skip
		if n+len(b)-skip > len(buf) {
			return 0
		}
		n += copy(buf[n:], b[skip:])
	}
	return n
}

// Drops returns the drop counters.
func (s *Stack) Drops() [NumDrops]uint64 {
	var d [NumDrops]uint64
	label.Load(d[:], s.drops[:])
	d[DropHalfOpenFull] = s.st.Stats().TCP.ForwardMaxInFlightDrop.Value() // gVisor's forwarder counts these
	return d
}

// Flows is the number of flows open now.
func (s *Stack) Flows() int { return s.flows.open() }

// Accepted is the number of TCP and UDP flows accepted so far.
func (s *Stack) Accepted() (tcp, udp uint64) { return s.tcpN.Load(), s.udpN.Load() }

// Close stops the stack, closes every flow and waits for their goroutines.
func (s *Stack) Close() error {
	s.once.Do(func() {
		s.stop() // flows close their sockets
		// A flow still in its handshake (a guest that sent a SYN and does
		// not answer the SYN-ACK) waits in gVisor for about two minutes of
		// SYN-ACK retransmissions, which no socket of ours ends. Aborting
		// the stack's endpoints ends it; they are aborted again until the
		// flows are done, for a handshake that began after a pass.
		flowsDone := make(chan struct{})
		go func() { s.flows.close(); close(flowsDone) }()
		tick := time.NewTicker(50 * time.Millisecond)
		for aborting := true; aborting; {
			for _, e := range s.st.RegisteredEndpoints() {
				e.Abort()
			}
			select {
			case <-flowsDone:
				aborting = false
			case <-tick.C:
			}
		}
		tick.Stop()
		s.wg.Wait()
		s.st.Close()
		s.st.Wait()
	})
	return nil
}

// flows counts open flows, in total and per guest address. Each open
// flow is also one on wg, so Close waits for them all; once closed, no
// flow opens (wg.Add never races Wait).
type flows struct {
	mu        sync.Mutex
	wg        sync.WaitGroup
	closed    bool
	max       int
	perSource int
	total     int
	bySource  map[netip.Addr]int
	// TCP connections of each guest address still dialing or in their
	// handshake, at most halfPerSource each.
	halfPerSource int
	halfOpen      map[netip.Addr]int
}

// acquire takes a flow for src; a refusal over a limit is counted.
func (s *Stack) acquire(src netip.Addr) bool {
	f := &s.flows
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.closed:
		return false
	case f.total >= f.max:
		s.drops[DropFlowsFull].Add(1)
		return false
	case f.bySource[src] >= f.perSource:
		s.drops[DropSourceLimit].Add(1)
		return false
	}
	f.total++
	f.bySource[src]++
	f.wg.Add(1)
	return true
}

// service runs serve, a listener of the stack (not a flow), on a
// goroutine of its own that Close waits for; Close also closes l, which
// ends serve. A closed stack refuses, closing l.
func (s *Stack) service(l io.Closer, serve func()) error {
	if !s.acquireService() {
		l.Close()
		return errors.New("usernet: closed")
	}
	stop := context.AfterFunc(s.ctx, func() { l.Close() })
	go func() {
		defer s.flows.wg.Done()
		defer stop()
		serve()
	}()
	return nil
}

// acquireService holds Close for a service.
func (s *Stack) acquireService() bool {
	f := &s.flows
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.wg.Add(1)
	return true
}

func (f *flows) release(src netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.total--
	if f.bySource[src]--; f.bySource[src] <= 0 {
		delete(f.bySource, src)
	}
	f.wg.Done()
}

// close refuses new flows and waits for the open ones to end.
func (f *flows) close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.wg.Wait()
}

// startHandshake takes one of src's half-open slots; false when it
// holds them all.
func (f *flows) startHandshake(src netip.Addr) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.halfOpen[src] >= f.halfPerSource {
		return false
	}
	f.halfOpen[src]++
	return true
}

// endHandshake gives back a slot startHandshake took.
func (f *flows) endHandshake(src netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.halfOpen[src]--; f.halfOpen[src] <= 0 {
		delete(f.halfOpen, src)
	}
}

func (f *flows) open() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total
}

// addr converts a stack address to a netip one.
func addr(a tcpip.Address) netip.Addr {
	return netip.AddrFrom4(a.As4())
}
