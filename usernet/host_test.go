package usernet

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
)

var hostLoop = netip.MustParseAddr("10.0.2.2")

// dialLog is a Dial that records each address asked for and connects
// only loopback ones (the test's servers).
type dialLog struct {
	mu   sync.Mutex
	addr []string
}

func (d *dialLog) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addr = append(d.addr, network+" "+addr)
	d.mu.Unlock()
	if ap, err := netip.ParseAddrPort(addr); err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("test: %s is not on loopback", addr)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func (d *dialLog) got() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addr...)
}

// TestHostLoopback: a guest's flows to HostLoopback reach the host's
// 127.0.0.1 on the same port; any other address is dialed as it is.
func TestHostLoopback(t *testing.T) {
	srv := netip.MustParseAddrPort(echoServer(t))
	var d dialLog
	s, g := newPair(t, Config{HostLoopback: hostLoop, Dial: d.dial}, "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := gonet.DialContextTCP(ctx, g.st, tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4(hostLoop.As4()), Port: srv.Port()}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hello"))
	b := make([]byte, 5)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "hello" {
		t.Fatalf("echo %q %v", b, err)
	}
	c.Close()
	other := tcpip.AddrFrom4([4]byte{10, 0, 2, 3})
	if _, err := gonet.DialContextTCP(ctx, g.st, tcpip.FullAddress{NIC: 1, Addr: other, Port: srv.Port()}, ipv4.ProtocolNumber); err == nil {
		t.Fatal("10.0.2.3 reached the host's loopback")
	}
	want := []string{fmt.Sprintf("tcp 127.0.0.1:%d", srv.Port()), fmt.Sprintf("tcp 10.0.2.3:%d", srv.Port())}
	if got := d.got(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("dialed %q, want %q", got, want)
	}
	if dr := s.Drops(); dr != [NumDrops]uint64{DropDialFailed: 1} {
		t.Fatalf("drops %v, want dial_failed 1", dr)
	}
}

// guestUDPEcho runs a UDP server in the guest on port that answers each
// datagram with "SRC|" and the datagram, SRC being who the guest saw.
func guestUDPEcho(t *testing.T, g *guest, port uint16) {
	t.Helper()
	c, err := gonet.DialUDP(g.st, &tcpip.FullAddress{NIC: 1, Addr: guestAddr, Port: port}, nil, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	testnet.ServeUDP(t, c, func(from net.Addr, b []byte) []byte { return append([]byte(from.String()+"|"), b...) })
}

// hostUDP is a UDP server on the host's loopback that answers each
// datagram with answer(its source, the datagram) (testnet.ServeUDP).
func hostUDP(t *testing.T, answer func(from net.Addr, b []byte) []byte) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testnet.ServeUDP(t, pc, answer)
	return pc
}

// freeUDP returns a loopback UDP address nothing listens on.
func freeUDP(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

// ask sends msg from c and returns the answer ("" after a timeout).
func ask(t *testing.T, c net.Conn, msg string, wait time.Duration) string {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	b := make([]byte, 65536)
	n, err := c.Read(b)
	if err != nil {
		return ""
	}
	return string(b[:n])
}

// TestForwardUDP: a UDP forward passes each client's datagrams to the
// guest exactly, from the client's address (a loopback client appears
// from HostLoopback with its own port), and the answers back; flows are
// bounded (a client past MaxFlows gets nothing, counted) and end idle,
// which frees their slots.
func TestForwardUDP(t *testing.T) {
	s, g := newPair(t, Config{HostLoopback: hostLoop, MaxFlows: 2, UDPIdle: 2 * time.Second}, "127.0.0.1:1")
	guestUDPEcho(t, g, 53)
	listen := freeUDP(t)
	if err := s.ForwardUDP(listen, netip.MustParseAddrPort("10.0.0.2:53")); err != nil {
		t.Fatal(err)
	}
	var cs []*net.UDPConn
	for range 3 {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(listen)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cs = append(cs, c)
	}
	for i, c := range cs[:2] {
		port := c.LocalAddr().(*net.UDPAddr).Port
		for j, msg := range []string{"a", "", string(make([]byte, maxDatagram-30))} { // an empty datagram is one too
			want := fmt.Sprintf("10.0.2.2:%d|%s", port, msg)
			if got := ask(t, c, msg, 5*time.Second); got != want {
				t.Fatalf("client %d datagram %d: got %d bytes %.40q, want %.40q", i, j, len(got), got, want)
			}
		}
	}
	if got := ask(t, cs[2], "third", 200*time.Millisecond); got != "" {
		t.Fatalf("a third flow past MaxFlows 2 was answered: %q", got)
	}
	// Sentinel: the first client's flow still works after the refusal.
	if got := ask(t, cs[0], "still", 5*time.Second); got != fmt.Sprintf("10.0.2.2:%d|still", cs[0].LocalAddr().(*net.UDPAddr).Port) {
		t.Fatalf("sentinel %q", got)
	}
	if d := s.Drops(); d != [NumDrops]uint64{DropFlowsFull: 1} {
		t.Fatalf("drops %v, want flows_full 1", d)
	}
	if _, uc := s.Accepted(); uc != 2 {
		t.Fatalf("%d UDP flows accepted, want 2", uc)
	}
	waitFlows(t, s, 0)                               // idle: both closed
	for _, c := range []*net.UDPConn{cs[2], cs[0]} { // a new client, and one whose flow ended: each a new flow
		if got := ask(t, c, "now", 5*time.Second); got != fmt.Sprintf("10.0.2.2:%d|now", c.LocalAddr().(*net.UDPAddr).Port) {
			t.Fatalf("after the idle flows ended: %q", got)
		}
	}
	if _, uc := s.Accepted(); uc != 4 {
		t.Fatalf("%d UDP flows accepted, want 4", uc)
	}
}

// TestForwardUDPLoopbackOff: without HostLoopback a loopback client of a
// UDP forward is refused, once per datagram, and nothing reaches the guest.
func TestForwardUDPLoopbackOff(t *testing.T) {
	s, g := newPair(t, Config{}, "127.0.0.1:1")
	guestUDPEcho(t, g, 53)
	listen := freeUDP(t)
	if err := s.ForwardUDP(listen, netip.MustParseAddrPort("10.0.0.2:53")); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp4", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 2 {
		if got := ask(t, c, "x", 200*time.Millisecond); got != "" {
			t.Fatalf("answered %q", got)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); s.Drops()[DropForwardSource] != 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("drops %v, want forward_source 2", s.Drops())
		}
	}
	if _, uc := s.Accepted(); uc != 0 || s.Flows() != 0 {
		t.Fatalf("accepted %d, flows %d", uc, s.Flows())
	}
}

// TestForwardUDPNoLeaks: 300 clients of a UDP forward, each one flow that
// ends idle (two may share one, when the kernel gives a later client an
// earlier one's port), leave no flow or goroutine behind, and Close ends
// a flow still open.
func TestForwardUDPNoLeaks(t *testing.T) {
	// Every loopback client appears from HostLoopback: one source, so
	// its per-source limit is raised past the 300 flows.
	// UDPIdle is each answer's deadline too: 200 ms lost answers to the
	// scheduling of a loaded machine (a flow ended idle with its answer
	// on the way); a second keeps the test short.
	s, g := newPair(t, Config{HostLoopback: hostLoop, MaxPerSource: 1000, UDPIdle: time.Second}, "127.0.0.1:1")
	guestUDPEcho(t, g, 53)
	listen := freeUDP(t)
	if err := s.ForwardUDP(listen, netip.MustParseAddrPort("10.0.0.2:53")); err != nil {
		t.Fatal(err)
	}
	once := func() {
		c, err := net.Dial("udp4", listen)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		want := fmt.Sprintf("10.0.2.2:%d|x", c.LocalAddr().(*net.UDPAddr).Port)
		if got := ask(t, c, "x", 5*time.Second); got != want {
			t.Fatalf("got %q, want %q; drops %v", got, want, s.Drops())
		}
	}
	once()
	waitFlows(t, s, 0)
	time.Sleep(50 * time.Millisecond)
	goroutines := runtime.NumGoroutine()
	for range 300 {
		once()
	}
	waitFlows(t, s, 0)
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > goroutines; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines %d, baseline %d", runtime.NumGoroutine(), goroutines)
		}
	}
	once() // a flow left open when the stack closes
	closeWithin(t, s, 5*time.Second, "Close with an open UDP forward flow")
}
