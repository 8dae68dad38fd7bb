//go:build !linux

package testnet

import (
	"testing"
	"time"
)

// Raw is an AF_PACKET socket; Linux only.
type Raw struct{ t testing.TB }

// OpenRaw fails the test: raw sockets need Linux.
func OpenRaw(t testing.TB, ns *Netns, dev string) *Raw {
	t.Fatal("testnet: raw sockets need Linux")
	return nil
}

// Send is unsupported.
func (r *Raw) Send(frame []byte) {}

// Recv is unsupported.
func (r *Raw) Recv(timeout time.Duration) (RawFrame, bool) { return RawFrame{}, false }
