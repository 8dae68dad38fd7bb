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
