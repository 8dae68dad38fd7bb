package tap

import (
	"syscall"

	vswitch "github.com/vswitch/vswitch/switch"
)

// batchRead is what one ReadBatch shares with the read callback the
// poller runs (the TAP's readv loop, mmsgReader's recvmmsg loop): the
// frames to fill, how many are filled, and the device's error. The
// callback is made once, when the port opens, so a read allocates nothing.
type batchRead struct {
	frames []*vswitch.Frame
	n      int   // frames filled
	err    error // the device's error, set by the callback
	fn     func(fd uintptr) bool
}

// run fills frames as vswitch.Port.ReadBatch does, calling fn on rc until
// it reports done, and returns how many, with rc's or the device's error.
func (b *batchRead) run(rc syscall.RawConn, frames []*vswitch.Frame) (int, error) {
	b.frames, b.n, b.err = frames, 0, nil
	err := rc.Read(b.fn)
	n := b.n
	b.frames = nil // the switch's again
	if err == nil {
		err = b.err
	}
	return n, err
}
