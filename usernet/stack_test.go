package usernet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
	vswitch "github.com/vswitch/vswitch/switch"
)

// guest is a second gVisor stack playing the guest: its packets go into
// the Stack under test, whose packets come back into it.
type guest struct {
	st *stack.Stack
	ep link
	// Packets each way that carried a virtio-net header, and TCP
	// super-frames among them.
	partialIn, superIn, partialOut, superOut atomic.Int64
	segsOut, segsIn                          atomic.Int64 // TCP packets with a payload
}

var (
	guestAddr = tcpip.AddrFrom4([4]byte{10, 0, 0, 2})
	remote    = tcpip.AddrFrom4([4]byte{192, 0, 2, 1}) // TEST-NET-1: the test's Dial takes it to loopback
)

// newPair starts a Stack whose host sockets all go to hostAddr (a
// loopback listener of the test), and a guest wired to it that sends
// MTU-sized segments with complete checksums.
func newPair(t testing.TB, cfg Config, hostAddr string) (*Stack, *guest) {
	return newPairGSO(t, cfg, hostAddr, false)
}

// newPairGSO is newPair with a guest that sends TSO super-frames with
// partial checksums when gso is set, as a Linux guest on a TAP does.
// Either way the guest checks every checksum it gets: what the Stack
// sends with a virtio-net header is completed first, super-frames cut
// into segments, by the switch's own vswitch.Complete, as for a guest
// port that takes no header.
func newPairGSO(t testing.TB, cfg Config, hostAddr string, gso bool) (*Stack, *guest) {
	t.Helper()
	g := &guest{ep: newLink(1024, 1500)}
	g.ep.LinkEPCapabilities = 0 // the guest checks what it gets
	if !gso {
		g.ep.SupportedGSOKind = stack.GSONotSupported
	}
	g.st = stack.New(stack.Options{NetworkProtocols: []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol}})
	if e := g.st.CreateNIC(1, g.ep); e != nil {
		t.Fatal(e)
	}
	g.st.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: guestAddr.WithPrefix()}, stack.AddressProperties{})
	g.st.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}})
	deliver := func(ip []byte) {
		pb := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(ip)})
		g.ep.InjectInbound(ipv4.ProtocolNumber, pb)
		pb.DecRef()
	}
	cfg.Out = func(ip []byte, h pkt.VirtioNetHdr) {
		g.count(ip, h, &g.partialIn, &g.superIn, &g.segsIn)
		if h == (pkt.VirtioNetHdr{}) {
			deliver(ip)
			return
		}
		f := vswitch.NewBigFrame()
		b := f.RxBuf()
		pkt.Ethernet(b).Encode(&pkt.EthernetFields{Type: pkt.TypeIPv4})
		f.SetLen(pkt.EthernetLen + copy(b[pkt.EthernetLen:], ip))
		h.Shift(pkt.EthernetLen)
		f.VNet = h
		if !vswitch.Complete(f, func(s *vswitch.Frame) { deliver(s.Bytes()[pkt.EthernetLen:]) }) {
			t.Errorf("the stack sent a packet its header does not describe: %+v", h)
		}
		f.Release()
	}
	if cfg.Dial == nil {
		cfg.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, hostAddr)
		}
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { // the guest's packets into the stack under test
		defer close(done)
		buf := make([]byte, gsoMaxSize)
		for {
			p := g.ep.ReadContext(ctx)
			if p == nil {
				return
			}
			h, ip := outHeader(p), buf[:gather(buf, p)]
			g.count(ip, h, &g.partialOut, &g.superOut, &g.segsOut)
			s.Inject(ip, h)
			p.DecRef()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		s.Close()
		g.st.Close()
	})
	return s, g
}

// count counts a packet with header h on the guest's counters.
func (g *guest) count(ip []byte, h pkt.VirtioNetHdr, partial, super, segs *atomic.Int64) {
	if h.Flags&pkt.VirtioNetHdrFNeedsCsum != 0 {
		partial.Add(1)
	}
	if h.IsGSO() {
		super.Add(1)
	}
	v := pkt.IPv4(ip)
	if v.Protocol() == pkt.ProtoTCP && len(v.Payload()) > pkt.TCP(v.Payload()).DataOffset() {
		segs.Add(1)
	}
}

func (g *guest) dialTCP(port uint16) (*gonet.TCPConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return gonet.DialContextTCP(ctx, g.st, tcpip.FullAddress{NIC: 1, Addr: remote, Port: port}, ipv4.ProtocolNumber)
}

// echoServer is a loopback TCP server that echoes each connection.
func echoServer(t *testing.T) string {
	t.Helper()
	l := testnet.Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) { io.Copy(c, c); c.Close() })
	return l.Addr().String()
}

// TestTCPThrough: 1 MiB echoed through the stack, whose TCP sends
// super-frames (host GSO) the guest gets cut by vswitch.Complete, with
// checksums its stack checks. With gso, the guest sends TSO super-frames
// with partial checksums too, and they enter the stack whole. Either way
// the data moves in far fewer TCP packets than its 1448-byte segments.
// closeWithin closes s and fails t unless Close returns within d.
func closeWithin(t *testing.T, s *Stack, d time.Duration, what string) {
	t.Helper()
	testnet.Within(t, d, what, func() { s.Close() })
}

func TestTCPThrough(t *testing.T) {
	for _, gso := range []bool{false, true} {
		t.Run(fmt.Sprintf("gso=%v", gso), func(t *testing.T) {
			s, g := newPairGSO(t, Config{}, echoServer(t), gso)
			c, err := g.dialTCP(80)
			if err != nil {
				t.Fatal(err)
			}
			want := bytes.Repeat([]byte("vswitch usernet "), 64<<10) // 1 MiB, many segments both ways
			go func() { c.Write(want); c.CloseWrite() }()
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			if !bytes.Equal(got, want) {
				t.Fatalf("echoed %d bytes, want %d identical", len(got), len(want))
			}
			if tc, uc := s.Accepted(); tc != 1 || uc != 0 {
				t.Fatalf("accepted tcp %d udp %d, want 1 0", tc, uc)
			}
			waitFlows(t, s, 0)
			if d := s.Drops(); d != [NumDrops]uint64{} {
				t.Fatalf("drops %v, want none", d)
			}
			const segments = 1 << 20 / 1448
			t.Logf("guest -> stack: %d data packets, %d with a partial checksum, %d super-frames; stack -> guest: %d, %d, %d (%d segments' worth)",
				g.segsOut.Load(), g.partialOut.Load(), g.superOut.Load(), g.segsIn.Load(), g.partialIn.Load(), g.superIn.Load(), segments)
			if g.superIn.Load() == 0 || g.segsIn.Load() > segments/2 {
				t.Fatalf("the stack sent 1 MiB in %d TCP packets, %d super-frames: no host GSO", g.segsIn.Load(), g.superIn.Load())
			}
			if gso != (g.superOut.Load() > 0) || gso != (g.partialOut.Load() > 0) || gso && g.segsOut.Load() > segments/2 {
				t.Fatalf("the guest (gso %v) sent 1 MiB in %d TCP packets, %d partial, %d super-frames", gso, g.segsOut.Load(), g.partialOut.Load(), g.superOut.Load())
			}
		})
	}
}

func TestDialFailedResets(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close() // nobody listens there: the host refuses
	s, g := newPair(t, Config{}, closed)
	if c, err := g.dialTCP(80); err == nil {
		c.Close()
		t.Fatal("connected to a refused destination")
	}
	if n := s.Drops()[DropDialFailed]; n != 1 {
		t.Fatalf("dial_failed %d, want 1", n)
	}
	waitFlows(t, s, 0)
}

func TestSourceLimit(t *testing.T) {
	s, g := newPair(t, Config{MaxPerSource: 2}, echoServer(t))
	var open []*gonet.TCPConn
	for range 2 { // positive control: up to the limit, connections work
		c, err := g.dialTCP(80)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	if _, err := g.dialTCP(80); err == nil {
		t.Fatal("a third connection from one source was accepted")
	}
	if d := s.Drops(); d[DropSourceLimit] != 1 || d[DropFlowsFull] != 0 {
		t.Fatalf("drops %v, want source_limit 1", d)
	}
	for _, c := range open { // the honest ones still echo
		c.Write([]byte("ok"))
		b := make([]byte, 2)
		if _, err := io.ReadFull(c, b); err != nil || string(b) != "ok" {
			t.Fatalf("echo %q %v", b, err)
		}
		c.Close()
	}
	waitFlows(t, s, 0)
	c, err := g.dialTCP(80) // a closed flow gives its slot back
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestUDPThroughAndIdle(t *testing.T) {
	pc := hostUDP(t, func(_ net.Addr, b []byte) []byte { return append([]byte("echo:"), b...) })
	s, g := newPair(t, Config{UDPIdle: 200 * time.Millisecond}, pc.LocalAddr().String())
	c, err := gonet.DialUDP(g.st, nil, &tcpip.FullAddress{NIC: 1, Addr: remote, Port: 53}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		msg := []byte{'m', byte('0' + i)}
		c.Write(msg)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 64)
		n, err := c.Read(b)
		if err != nil || string(b[:n]) != "echo:"+string(msg) {
			t.Fatalf("reply %q %v", b[:n], err)
		}
	}
	// The largest datagram each way passes (its echo is exactly
	// maxDatagram); one byte more is dropped whole and counted.
	big := bytes.Repeat([]byte{'b'}, maxDatagram-len("echo:"))
	c.Write(big)
	rb := make([]byte, 65536)
	if n, err := c.Read(rb); err != nil || n != maxDatagram || !bytes.Equal(rb[len("echo:"):n], big) {
		t.Fatalf("largest datagram: %d bytes back, %v", n, err)
	}
	c.Write(make([]byte, maxDatagram+1))
	c.Write([]byte("sentinel"))
	if n, err := c.Read(rb); err != nil || string(rb[:n]) != "echo:sentinel" {
		t.Fatalf("after the oversized datagram: %q %v", rb[:n], err)
	}
	if d := s.Drops(); d != [NumDrops]uint64{DropDatagramTooBig: 1} {
		t.Fatalf("drops %v, want datagram_too_big 1", d)
	}
	if tc, uc := s.Accepted(); tc != 0 || uc != 1 {
		t.Fatalf("accepted tcp %d udp %d, want 0 1 (one flow for one 4-tuple)", tc, uc)
	}
	if n := s.Flows(); n != 1 {
		t.Fatalf("%d flows open, want 1", n)
	}
	waitFlows(t, s, 0) // idle: closed
}

func TestRefused(t *testing.T) {
	s, _ := newPair(t, Config{}, "127.0.0.1:1")
	b := make([]byte, 40)
	ip := pkt.IPv4(b)
	mk := func(proto uint8, dst [4]byte) []byte {
		ip.Encode(&pkt.IPv4Fields{TotalLen: 40, TTL: 64, Protocol: proto, Src: netipAddr(10, 0, 0, 2), Dst: netipAddr(dst[0], dst[1], dst[2], dst[3])})
		return b
	}
	s.Inject(mk(pkt.ProtoTCP, [4]byte{127, 0, 0, 1}), pkt.VirtioNetHdr{})
	s.Inject(mk(pkt.ProtoUDP, [4]byte{255, 255, 255, 255}), pkt.VirtioNetHdr{})
	s.Inject(mk(pkt.ProtoUDP, [4]byte{224, 0, 0, 1}), pkt.VirtioNetHdr{})
	s.Inject(mk(pkt.ProtoICMP, [4]byte{192, 0, 2, 1}), pkt.VirtioNetHdr{})
	s.Inject(b[:19], pkt.VirtioNetHdr{})
	want := [NumDrops]uint64{DropForbiddenDst: 3, DropProtocol: 1, DropMalformed: 1}
	if d := s.Drops(); d != want {
		t.Fatalf("drops %v, want %v", d, want)
	}
}

func waitFlows(t *testing.T, s *Stack, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); s.Flows() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d flows open, want %d", s.Flows(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func netipAddr(a, b, c, d byte) netip.Addr { return netip.AddrFrom4([4]byte{a, b, c, d}) }

// TestNoLeaks: a guest that opens and closes many connections (some
// closed by the guest first, some after the echo) leaves no flow,
// goroutine or file descriptor behind.
func TestNoLeaks(t *testing.T) {
	s, g := newPair(t, Config{}, echoServer(t))
	once := func(i int) {
		c, err := g.dialTCP(80)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			c.Write([]byte("x"))
			b := make([]byte, 1)
			if _, err := io.ReadFull(c, b); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
	}
	// No GC: a socket left open would otherwise be closed by its finalizer.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	once(0) // the stack's lazily started goroutines are in the baseline
	waitFlows(t, s, 0)
	time.Sleep(100 * time.Millisecond)
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)
	for i := range 300 {
		once(i)
	}
	waitFlows(t, s, 0)
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > goroutines || openFDs(t) > fds; {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines %d (baseline %d), sockets %d (baseline %d)", runtime.NumGoroutine(), goroutines, openFDs(t), fds)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if tc, _ := s.Accepted(); tc != 301 {
		t.Fatalf("accepted %d, want 301", tc)
	}
}

// openFDs counts the process's sockets (the runtime opens other files,
// such as cgroup limits, on its own schedule).
func openFDs(t *testing.T) int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

// TestCloseWithFlows: Close ends open flows (their host sockets too) and
// returns; no flow opens afterwards.
func TestCloseWithFlows(t *testing.T) {
	s, g := newPair(t, Config{}, echoServer(t))
	for range 3 {
		if _, err := g.dialTCP(80); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Flows(); n != 3 {
		t.Fatalf("%d flows, want 3", n)
	}
	closeWithin(t, s, 10*time.Second, "Close with flows open")
	if n := s.Flows(); n != 0 {
		t.Fatalf("%d flows after Close", n)
	}
	if s.acquire(netipAddr(10, 0, 0, 2)) {
		t.Fatal("a flow opened after Close")
	}
}

// TestForwardLoopbackClient: a forward's client on loopback cannot be a
// guest's peer (the guest could never answer 127.0.0.1): refused and
// counted, once per connection, and nothing is dialed to the guest.
func TestForwardLoopbackClient(t *testing.T) {
	s, _ := newPair(t, Config{}, "127.0.0.1:1")
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := l.Addr().String()
	l.Close()
	if err := s.ForwardTCP(listen, netip.MustParseAddrPort("10.0.0.2:80")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c, err := net.Dial("tcp4", listen)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("read %d %v, want EOF (closed)", n, err)
		}
		c.Close()
	}
	if d := s.Drops(); d != [NumDrops]uint64{DropForwardSource: 2} {
		t.Fatalf("drops %v, want forward_source 2", d)
	}
	if tc, _ := s.Accepted(); tc != 0 || s.Flows() != 0 {
		t.Fatalf("accepted %d, flows %d", tc, s.Flows())
	}
}

// TestUDPFlowsFull: outbound UDP flows are bounded: a guest's datagram
// that would open a flow past MaxFlows is dropped and counted, the open
// flows still carry datagrams, and a flow that ends idle frees its slot.
func TestUDPFlowsFull(t *testing.T) {
	pc := hostUDP(t, func(_ net.Addr, b []byte) []byte { return b })
	s, g := newPair(t, Config{MaxFlows: 2, UDPIdle: time.Second}, pc.LocalAddr().String())
	var cs []*gonet.UDPConn
	for port := range uint16(3) {
		c, err := gonet.DialUDP(g.st, nil, &tcpip.FullAddress{NIC: 1, Addr: remote, Port: 1000 + port}, ipv4.ProtocolNumber)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cs = append(cs, c)
	}
	echo := func(c *gonet.UDPConn, msg string, wait time.Duration) string {
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(wait))
		b := make([]byte, 64)
		n, _ := c.Read(b)
		return string(b[:n])
	}
	for i, c := range cs[:2] {
		if got := echo(c, fmt.Sprint("m", i), 5*time.Second); got != fmt.Sprint("m", i) {
			t.Fatalf("flow %d: %q", i, got)
		}
	}
	if got := echo(cs[2], "third", 200*time.Millisecond); got != "" {
		t.Fatalf("a third flow past MaxFlows 2 answered %q", got)
	}
	if got := echo(cs[0], "sentinel", 5*time.Second); got != "sentinel" {
		t.Fatalf("sentinel %q", got)
	}
	if d := s.Drops(); d != [NumDrops]uint64{DropFlowsFull: 1} {
		t.Fatalf("drops %v, want flows_full 1", d)
	}
	waitFlows(t, s, 0)
	if got := echo(cs[2], "now", 5*time.Second); got != "now" {
		t.Fatalf("after the idle flows ended: %q", got)
	}
	if _, uc := s.Accepted(); uc != 3 {
		t.Fatalf("%d UDP flows accepted, want 3", uc)
	}
}
