package tap

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// TAPConfig describes a TAP device for OpenTAP.
type TAPConfig struct {
	Name  string  // device name (at most 15 bytes)
	MTU   int     // 0: the kernel's default (1500)
	Netns string  // "": this namespace; else a named netns (/run/netns/NAME)
	MAC   pkt.MAC // zero: the kernel picks a random one
}

// TAP is a TAP device vswitch created: its kernel side is an interface in
// some namespace; frames the kernel sends there come to ReadBatch, frames
// given to WriteBatch appear there as received.
type TAP struct {
	name string
	f    *os.File
	rc   syscall.RawConn

	// Read state: filled before rc.Read, used by the preallocated closure.
	rd      batchRead
	rhdr    [pkt.VirtioNetHdrLen]byte
	riov    [3]unix.Iovec
	spill   *spill // pooled, only while doRead runs (spill_linux.go)
	bigNext bool   // the last frame read was longer than a small frame
	rcalls  int    // doRead calls in this ReadBatch: past the first, the poller woke us
	lone    bool   // the last batch that ran into EAGAIN held one frame

	wframes []*vswitch.Frame
	wtry    bool // TryWriteBatch: stop at a full device instead of waiting
	wi      int
	wsent   int
	werr    error
	whdr    [pkt.VirtioNetHdrLen]byte
	wiov    [2]unix.Iovec
	writeFn func(fd uintptr) bool

	offloads   uint        // TUN_F_* flags the kernel took
	reattached bool        // the device outlived a vswitch before this one
	keep       atomic.Bool // Close leaves the device for a reattach (KeepDevice)

	closed atomic.Bool
	rxDrops
}

var (
	_ vswitch.Port      = (*TAP)(nil)
	_ vswitch.TryWriter = (*TAP)(nil)
	_ vswitch.RxDropper = (*TAP)(nil)
)

// setOffloads tells the kernel what the switch takes from the TAP, and so
// what the device claims as hardware offloads (ethtool -k shows them):
// partial checksums and TCP super-frames always, UDP super-frames (USO,
// Linux 6.2) where the kernel has them. The host then sends one 64 KiB
// frame where it would cut 45. Every egress handles what comes: vnet_hdr
// ports pass it on, the others get it segmented (switch/offload.go). A
// kernel that refuses even the base set leaves the TAP without offloads,
// which costs speed, not correctness; it returns the flags that took.
func setOffloads(fd int) uint {
	const base = unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6
	for _, flags := range []uint{base | unix.TUN_F_USO4 | unix.TUN_F_USO6, base} {
		if unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, int(flags)) == nil {
			return flags
		}
	}
	return 0
}

// Offloads are the TUN_F_* flags set on the device: what it may hand over
// as partial checksums and super-frames.
func (t *TAP) Offloads() uint { return t.offloads }

// OpenTAP creates the TAP device cfg names with a virtio-net header on
// every frame, sets its MTU and MAC, brings it up, and returns the port.
// The device is persistent and marked as vswitch's: it outlives a crash,
// and OpenTAP reattaches to such a device of its name (Reattached says
// so), keeping the addresses and routes on it. It refuses a device that
// is not vswitch's, or that a running process holds. The device
// disappears when the port is closed.
func OpenTAP(cfg TAPConfig) (*TAP, error) {
	if cfg.Name == "" || len(cfg.Name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("tap %q: bad device name", cfg.Name)
	}
	var fd int
	var offloads uint
	var reattach bool
	err := inNetns(cfg.Netns, func() error {
		// TUNSETIFF would attach to an existing persistent TAP of that name;
		// a switch port must never share someone else's device, only take
		// back its own after a crash (persist_linux.go).
		s, err := linkControl()
		if err != nil {
			return err
		}
		defer unix.Close(s)
		if reattach, err = checkReattach(s, cfg.Name); err != nil {
			return err
		}
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(cfg.Name)
		if err != nil {
			unix.Close(fd)
			return err
		}
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return tunsetiffErr(cfg.Name, reattach, err)
		}
		if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, pkt.VirtioNetHdrLen); err != nil {
			unix.Close(fd)
			return fmt.Errorf("TUNSETVNETHDRSZ: %w", err)
		}
		offloads = setOffloads(fd)
		if cfg.MTU > 0 {
			if err := setMTU(s, cfg.Name, cfg.MTU); err != nil {
				unix.Close(fd)
				return err
			}
		}
		if !cfg.MAC.IsZero() && !hasMAC(s, cfg.Name, cfg.MAC) {
			if err := setMAC(s, cfg.Name, cfg.MAC); err != nil {
				unix.Close(fd)
				return err
			}
		}
		if err := setUp(s, cfg.Name); err != nil {
			unix.Close(fd)
			return err
		}
		if !reattach {
			if err := makeOwn(s, fd, cfg.Name); err != nil {
				unix.Close(fd)
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tap %s: %w", cfg.Name, err)
	}
	return newTAP(cfg.Name, os.NewFile(uintptr(fd), "tap:"+cfg.Name), offloads, reattach)
}

// newTAP is the port on f, a TAP file set up for vnet headers; on error
// f is closed.
func newTAP(name string, f *os.File, offloads uint, reattach bool) (*TAP, error) {
	t := &TAP{name: name, f: f, offloads: offloads, reattached: reattach}
	var err error
	t.rc, err = t.f.SyscallConn()
	if err != nil {
		t.f.Close()
		return nil, fmt.Errorf("tap %s: %w", name, err)
	}
	t.rd.fn = withSpill(&t.spill, t.doRead)
	t.writeFn = t.doWrite
	return t, nil
}

// Name is the device name.
func (t *TAP) Name() string { return t.name }

// Features: the TAP takes a virtio-net header, so partial checksums and
// GSO frames are written as they are; the kernel finishes them.
func (t *TAP) Features() vswitch.Features { return vswitch.FeatVNetHdr }

// ReadBatch implements vswitch.Port.
func (t *TAP) ReadBatch(frames []*vswitch.Frame) (int, error) {
	t.rcalls = 0
	n, err := t.rd.run(t.rc, frames)
	return n, closedErr("tap", t.name, t.closed.Load(), err)
}

// doRead reads frames until the device is empty or the batch is full.
// It returns false (wait for readability) only when it has read nothing.
//
// Frames that come one at a time (a request, its answer) would cost
// three reads per wake-up: the frame, the EAGAIN that ends the batch, and
// the EAGAIN before the reader waits again (the poller forgets readiness
// between two ReadBatch calls, so that one stays). While batches come
// alone, a frame the poller woke us for is handed on at once without
// the second; a frame already waiting when ReadBatch began means a
// backlog, and the batch reads to EAGAIN again.
func (t *TAP) doRead(fd uintptr) bool {
	woken := t.rcalls > 0
	t.rcalls++
	for t.rd.n < len(t.rd.frames) {
		f := t.rd.frames[t.rd.n]
		if t.bigNext && len(f.RxBuf()) <= vswitch.SmallDataLen {
			// The last frame was a super-frame, so the next likely is too:
			// read it straight into a big frame instead of copying 64 KiB
			// out of the spill (Promote). The slot's frame goes back to
			// the pool; the switch owns whatever the slot holds.
			f.Release()
			f = vswitch.NewBigFrame()
			t.rd.frames[t.rd.n] = f
		}
		rx := f.RxBuf()
		t.riov[0].Base = &t.rhdr[0]
		t.riov[0].SetLen(pkt.VirtioNetHdrLen)
		t.riov[1].Base = &rx[0]
		t.riov[1].SetLen(len(rx))
		t.riov[2].Base = &t.spill[0]
		t.riov[2].SetLen(len(t.spill))
		// RawSyscall: non-blocking, see recvmmsg.
		n, _, errno := unix.RawSyscall(unix.SYS_READV, fd, uintptr(unsafe.Pointer(&t.riov[0])), 3)
		switch errno {
		case 0:
		case unix.EAGAIN:
			if t.rd.n > 0 {
				t.lone = t.rd.n == 1
			}
			return t.rd.n > 0
		case unix.EINTR:
			continue
		default:
			t.rd.err = errno
			return true
		}
		if int(n) < pkt.VirtioNetHdrLen+pkt.EthernetLen {
			t.runt.Add(1)
			continue
		}
		data := int(n) - pkt.VirtioNetHdrLen
		if data > vswitch.BigDataLen {
			t.oversize.Add(1) // Promote would cut it: drop it whole, counted
			continue
		}
		f.VNet.Decode(t.rhdr[:])
		t.bigNext = data > vswitch.SmallDataLen
		if data > len(rx) {
			f = f.Promote(t.spill[:data-len(rx)])
			t.rd.frames[t.rd.n] = f
		} else {
			f.SetLen(data)
		}
		t.rd.n++
		if woken && t.lone && t.rd.n == 1 {
			return true
		}
	}
	return true
}

// WriteBatch implements vswitch.Port. It waits while the device's queue
// is full, so a burst lands in the switch's bounded ring for this port.
func (t *TAP) WriteBatch(frames []*vswitch.Frame) (int, error) {
	if t.closed.Load() {
		return 0, fmt.Errorf("tap %s: %w", t.name, vswitch.ErrClosed)
	}
	_, sent, err := t.write(frames, false)
	return sent, err
}

// TryWriteBatch implements vswitch.TryWriter: the switch writes to a TAP
// from the goroutine that forwards the frame. A TAP write does not wait in
// practice (the kernel takes the frame into its receive path or drops it),
// so the port's writer goroutine is woken only if the device says EAGAIN
// (or for a burst, switch/port_tx.go).
func (t *TAP) TryWriteBatch(frames []*vswitch.Frame) (done, sent int, err error) {
	if t.closed.Load() {
		return 0, 0, fmt.Errorf("tap %s: %w", t.name, vswitch.ErrClosed)
	}
	return t.write(frames, true)
}

func (t *TAP) write(frames []*vswitch.Frame, try bool) (done, sent int, err error) {
	t.wframes, t.wtry, t.wi, t.wsent, t.werr = frames, try, 0, 0, nil
	err = t.rc.Write(t.writeFn)
	done, sent = t.wi, t.wsent
	t.wframes = nil
	if err == nil {
		err = t.werr
	}
	return done, sent, closedErr("tap", t.name, t.closed.Load(), err)
}

func (t *TAP) doWrite(fd uintptr) bool {
	for t.wi < len(t.wframes) {
		f := t.wframes[t.wi]
		b := f.Bytes()
		f.VNet.Encode(t.whdr[:])
		t.wiov[0].Base = &t.whdr[0]
		t.wiov[0].SetLen(pkt.VirtioNetHdrLen)
		t.wiov[1].Base = &b[0]
		t.wiov[1].SetLen(len(b))
		_, _, errno := unix.RawSyscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&t.wiov[0])), 2)
		switch errno {
		case 0:
			t.wsent++
		case unix.EAGAIN:
			return t.wtry // TryWriteBatch stops here; WriteBatch waits
		case unix.EINTR:
			continue
		case unix.EBADF:
			t.werr = errno
			return true
		default:
			// One bad frame (a GSO header the kernel refuses, say) must not
			// stop the batch: skip it; the switch counts it as tx_error
			// from the short count.
		}
		t.wi++
	}
	return true
}

// Close removes the device (it stops being persistent, and goes with its
// last fd) and makes blocked ReadBatch and WriteBatch calls return
// ErrClosed.
func (t *TAP) Close() error {
	if !t.closed.CompareAndSwap(false, true) {
		return nil
	}
	var perr error
	if t.keep.Load() {
		return t.f.Close()
	}
	if err := t.rc.Control(func(fd uintptr) { perr = setPersist(int(fd), false) }); err != nil {
		perr = err
	}
	return errors.Join(perr, t.f.Close())
}

// Reattached says whether the device was left by an earlier vswitch that
// did not stop cleanly, and OpenTAP took it back.
func (t *TAP) Reattached() bool { return t.reattached }
