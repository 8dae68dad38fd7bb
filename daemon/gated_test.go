package daemon

import (
	"testing"
	"time"

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
	select {
	case <-read:
		t.Fatal("read before the gate opened")
	case <-time.After(50 * time.Millisecond):
	}
	close(open)
	if n := <-read; n != 1 {
		t.Fatalf("read %d after the gate opened", n)
	}
	g2 := &gated{Port: nullPort{}, open: make(chan struct{}), closed: make(chan struct{})}
	go func() { g2.ReadBatch(frames); read <- 0 }()
	g2.Close()
	select {
	case <-read:
	case <-time.After(5 * time.Second):
		t.Fatal("a reader held at a closed port's gate did not go")
	}
}
