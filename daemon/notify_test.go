package daemon

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestNotifySystemd: with NOTIFY_SOCKET set, the datagram says ready and
// names this process as the service's main one; without it, nothing.
func TestNotifySystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := notifySystemd(); err != nil {
		t.Fatalf("without NOTIFY_SOCKET: %v", err)
	}
	path := filepath.Join(t.TempDir(), "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	if err := notifySystemd(); err != nil {
		t.Fatal(err)
	}
	ln.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 256)
	n, err := ln.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := "READY=1\nMAINPID=" + strconv.Itoa(os.Getpid()) + "\n"; string(b[:n]) != want {
		t.Fatalf("sent %q, want %q", b[:n], want)
	}
}
