package daemon

import (
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
	vswitch "github.com/vswitch/vswitch/switch"
)

// nullPort reads one empty frame per batch.
type nullPort struct{}

func (nullPort) ReadBatch(frames []*vswitch.Frame) (int, error)  { return 1, nil }
func (nullPort) WriteBatch(frames []*vswitch.Frame) (int, error) { return len(frames), nil }
func (nullPort) Features() vswitch.Features                      { return 0 }
func (nullPort) Close() error                                    { return nil }

// TestGated: a gated port reads nothing until its gate opens, and a
// Close while it waits lets the reader go.
func TestGated(t *testing.T) {
	open := make(chan struct{})
	g := &gated{Port: nullPort{}, open: open, closed: make(chan struct{})}
	read := make(chan int, 1)
	frames := make([]*vswitch.Frame, 1)
	go func() { n, _ := g.ReadBatch(frames); read <- n }()
	if _, ok := testnet.Poll(read, 50*time.Millisecond); ok {
		t.Fatal("read before the gate opened")
	}
	close(open)
	if n := <-read; n != 1 {
		t.Fatalf("read %d after the gate opened", n)
	}
	g2 := &gated{Port: nullPort{}, open: make(chan struct{}), closed: make(chan struct{})}
	go func() { g2.ReadBatch(frames); read <- 0 }()
	g2.Close()
	testnet.Recv(t, read, 5*time.Second, "the reader held at a closed port's gate to go")
}
