package usernet

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// TestHalfOpenFull: a SYN while MaxHalfOpen connections are still being
// dialed is ignored and counted; once the dials complete, the guest's
// retransmitted SYN gets through (positive control).
func TestHalfOpenFull(t *testing.T) {
	addr := echoServer(t)
	release := make(chan struct{})
	var dialing atomic.Int32
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		dialing.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	s, g := newPair(t, Config{MaxHalfOpen: 2, MaxHalfOpenPerSource: 2, Dial: dial}, "")
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := g.dialTCP(80)
			if err == nil {
				c.Close()
			}
			errs <- err
		}()
	}
	waitFor(t, "two dials in flight and a SYN dropped", func() bool { return dialing.Load() == 2 && s.Drops()[DropHalfOpenFull] >= 1 })
	if d := s.Drops(); d != [NumDrops]uint64{DropHalfOpenFull: 1} { // before the guest's first retransmission, 1 s on
		t.Fatalf("drops %v, want half_open_full 1", d)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a connection failed after the dials completed: %v", err)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not in 5 s", what)
		}
	}
}

// TestTCPBuffer: what a guest can push towards a host peer that never
// reads is bounded by TCPBuffer in the stack: raising TCPBuffer from
// 64 KiB to 1 MiB lets the guest push about 480 KiB more (the window
// gVisor offers is about half its buffer, as Linux's is), nothing else
// changing (the guest's buffer and the kernel's are fixed). Before the
// forwarder was given TCPBuffer, both pushed the same.
func TestTCPBuffer(t *testing.T) {
	l := testnet.Serve(t, "tcp4", "127.0.0.1:0", func(c net.Conn) {
		c.(*net.TCPConn).SetReadBuffer(64 << 10)
		t.Cleanup(func() { c.Close() }) // never read
	})
	pushed := func(buf int) int {
		dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, l.Addr().String())
			if err == nil {
				c.(*net.TCPConn).SetWriteBuffer(64 << 10)
			}
			return c, err
		}
		_, g := newPair(t, Config{TCPBuffer: buf, Dial: dial}, "")
		opt := tcpip.TCPSendBufferSizeRangeOption{Min: 4096, Default: 64 << 10, Max: 64 << 10} // the guest's own, fixed
		g.st.SetTransportProtocolOption(tcp.ProtocolNumber, &opt)
		c, err := g.dialTCP(80)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		chunk, n := make([]byte, 16<<10), 0
		for {
			c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
			m, err := c.Write(chunk)
			n += m
			if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
				return n
			} else if err != nil {
				t.Fatal(err)
			}
		}
	}
	small, big := pushed(64<<10), pushed(1<<20)
	if d := big - small; d < 384<<10 || d > 1024<<10 {
		t.Fatalf("pushed %d bytes with TCPBuffer 64 KiB, %d with 1 MiB: %d more, want about 480 KiB", small, big, d)
	}
}

// TestGuestResetEndsFlow: a guest that resets a connection whose host
// peer neither reads nor writes (both copies blocked on the host side)
// still ends the flow: its socket and goroutines go at once.
func TestGuestResetEndsFlow(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	held := make(chan net.Conn, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			c.(*net.TCPConn).SetReadBuffer(4096)
			held <- c // never read, never written
		}
	}()
	t.Cleanup(func() {
		select {
		case c := <-held:
			c.Close()
		default:
		}
	})
	s, g := newPair(t, Config{TCPBuffer: 64 << 10}, l.Addr().String())
	var wq waiter.Queue
	ep, terr := g.st.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if terr != nil {
		t.Fatal(terr)
	}
	c := gonet.NewTCPConn(&wq, ep)
	we, ch := waiter.NewChannelEntry(waiter.WritableEvents)
	wq.EventRegister(&we)
	if terr := ep.Connect(tcpip.FullAddress{NIC: 1, Addr: remote, Port: 80}); terr != nil {
		if _, ok := terr.(*tcpip.ErrConnectStarted); !ok {
			t.Fatal(terr)
		}
		<-ch
	}
	wq.EventUnregister(&we)
	// Fill everything up to the host peer until writes stall.
	for {
		c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := c.Write(make([]byte, 16<<10)); err != nil {
			break
		}
	}
	if n := s.Flows(); n != 1 {
		t.Fatalf("%d flows, want 1", n)
	}
	ep.Abort() // a RST
	waitFlows(t, s, 0)
}
