package testnet

import (
	"net"
	"testing"
)

// StaleSocket leaves a unix socket file at path that nobody listens on,
// as a crashed server leaves its own: what a new listener must tell from
// a live one.
func StaleSocket(t testing.TB, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
}

// ServeUDP answers each datagram pc receives with answer(its source, the
// datagram), nothing where answer gives nil, until the test ends and
// closes pc. b is only good until answer returns.
func ServeUDP(t testing.TB, pc net.PacketConn, answer func(from net.Addr, b []byte) []byte) {
	t.Cleanup(func() { pc.Close() })
	go func() {
		b := make([]byte, 65536)
		for {
			n, a, err := pc.ReadFrom(b)
			if err != nil {
				return
			}
			if r := answer(a, b[:n]); r != nil {
				pc.WriteTo(r, a)
			}
		}
	}()
}

// Serve listens on network address addr, closed when the test ends, and
// runs handle on a goroutine of its own for each connection it accepts.
func Serve(t testing.TB, network, addr string, handle func(net.Conn)) net.Listener {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return l
}
