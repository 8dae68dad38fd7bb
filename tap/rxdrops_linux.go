package tap

import (
	"sync/atomic"

	vswitch "github.com/vswitch/vswitch/switch"
)

// rxDrops count what a reader drops before the switch sees it. The TAP
// and AF_PACKET ports embed it, so the switch reads these as the port's
// runt and oversize drops (vswitch.RxDropper) when it reports them.
type rxDrops struct {
	runt     atomic.Uint64 // shorter than an Ethernet header
	oversize atomic.Uint64 // longer than vswitch.BigDataLen, or truncated by the kernel
}

// RxDrops implements vswitch.RxDropper.
func (d *rxDrops) RxDrops(out *[vswitch.NumDropReasons]uint64) {
	out[vswitch.DropRunt] += d.runt.Load()
	out[vswitch.DropOversize] += d.oversize.Load()
}
