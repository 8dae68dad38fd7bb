package tap

import (
	"sync"

	vswitch "github.com/vswitch/vswitch/switch"
)

// A read puts the tail of a frame longer than a small frame's RxBuf (a
// GSO super-frame) into a spill buffer, which Promote copies out at once.
// The devices are non-blocking and the poller does the waiting, so a
// spill is needed only while one read callback runs: it comes from a pool
// shared by every port at the start of the callback and goes back at its
// end. An idle port holds none; a thousand of them used to hold 64 KiB
// (TAP) or 512 KiB (AF_PACKET, VXLAN: one per recvmmsg slot) each.

// spill is one spill buffer.
type spill [vswitch.BigDataLen]byte

// spillSet is a spill for each message of one recvmmsg.
type spillSet [rxChunk]spill

var (
	spills    = sync.Pool{New: func() any { return new(spill) }}
	spillSets = sync.Pool{New: func() any { return new(spillSet) }}
)

// withSpill wraps a read callback so that *s holds a pooled spill while it
// runs and nil otherwise.
func withSpill(s **spill, read func(fd uintptr) bool) func(fd uintptr) bool {
	return func(fd uintptr) bool {
		*s = spills.Get().(*spill)
		done := read(fd)
		spills.Put(*s)
		*s = nil
		return done
	}
}

// withSpillSet is withSpill for the recvmmsg drivers.
func withSpillSet(s **spillSet, read func(fd uintptr) bool) func(fd uintptr) bool {
	return func(fd uintptr) bool {
		*s = spillSets.Get().(*spillSet)
		done := read(fd)
		spillSets.Put(*s)
		*s = nil
		return done
	}
}
