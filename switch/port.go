package vswitch

import "errors"

// Port is what a driver (TAP, AF_PACKET, QEMU socket, the gateway) gives the
// switch. The switch runs one reader goroutine calling ReadBatch and one
// writer goroutine calling WriteBatch per port; a driver never sees
// concurrent calls of the same method. A driver that is also a TryWriter
// is written by whichever goroutine forwards the frame (port_tx.go), one
// at a time: never two writes at once.
type Port interface {
	// ReadBatch blocks until at least one frame is available, then fills
	// up to len(frames) of the given empty frames and returns how many.
	// A driver may replace frames[i] (Promote does) and must leave every
	// slot holding a frame it does not own. After Close it returns an error
	// for which errors.Is(err, ErrClosed) holds.
	ReadBatch(frames []*Frame) (int, error)

	// WriteBatch sends frames in order and returns how many were sent.
	// It may block until the device can take them (back-pressure lands in
	// this port's own bounded queue, never on other ports). A frame the
	// device refuses on its own (a GSO header the kernel rejects, say) may
	// be skipped and counted by the driver while the rest go on: then the
	// count is short with a nil error, and the sent frames need not be a
	// prefix. A non-nil error means the port took no more (closed: ErrClosed,
	// or a fatal device error). Ownership of every frame stays with the
	// caller, and the driver must not write to a frame: a flooded frame is
	// shared by the writers of every port it goes to. The one exception is
	// a frame the driver sent and keeps with Frame.Take (a gateway routes
	// a guest's packet on in it): it puts NewFrame() in that slot.
	WriteBatch(frames []*Frame) (int, error)

	// Features says what the port accepts on egress.
	Features() Features

	// Close stops the port: ReadBatch and WriteBatch return, and the
	// device the driver created (if any) is removed.
	Close() error
}

// RxDropper is a Port whose driver drops frames it read before the switch
// sees them: one longer than its largest buffer (DropOversize), a read
// shorter than an Ethernet header (DropRunt). The driver counts them with
// atomics on its read path; the switch adds them to the port's drops
// whenever it reports them (Ports, Port, FinalPorts).
type RxDropper interface {
	// RxDrops adds the driver's drop counts, by reason, to d.
	RxDrops(d *[NumDropReasons]uint64)
}

// Features are the egress capabilities of a port.
type Features uint32

const (
	// FeatVNetHdr: the port carries a virtio-net header, so frames with a
	// partial checksum (NEEDS_CSUM) and GSO super-frames may be sent as is.
	FeatVNetHdr Features = 1 << iota
)

// ErrClosed is returned by a closed port.
var ErrClosed = errors.New("port closed")

// BatchSize is how many frames a port moves per call.
const BatchSize = 64
