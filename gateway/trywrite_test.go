package gateway

import (
	"errors"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// TestTryWriteBatch: the switch hands the gateway frames through
// TryWriteBatch from the goroutine that read them; every frame is taken
// (done and sent), answered as WriteBatch answers it, and a closed port
// says so.
func TestTryWriteBatch(t *testing.T) {
	p := newPort()
	req := arpFrame(pkt.Broadcast, guestMAC, 1, guestMAC, guestIP, pkt.MAC{}, gwIP)
	frames := []*vswitch.Frame{vswitch.NewFrame(), vswitch.NewFrame()}
	for _, f := range frames {
		f.SetData(req)
	}
	poisonPool()
	done, sent, err := p.TryWriteBatch(frames)
	if done != 2 || sent != 2 || err != nil {
		t.Fatalf("TryWriteBatch: done %d, sent %d, %v; want 2, 2, nil", done, sent, err)
	}
	want := arpFrame(guestMAC, StableMAC("t"), 2, StableMAC("t"), gwIP, guestMAC, guestIP)
	if out := takeAll(p.q); len(out) != 2 || string(out[0]) != string(want) || string(out[1]) != string(want) {
		t.Fatalf("replies\n% x\nwant two of\n% x", out, want)
	}
	p.Close()
	if _, _, err := p.TryWriteBatch(frames); !errors.Is(err, vswitch.ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}
