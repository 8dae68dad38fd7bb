package tap

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vswitch/vswitch/internal/pkt"
)

// A binary upgrade hands a port's open device to the next vswitch process
// (daemon/upgrade.go): Dup gives a second descriptor of the same open
// file, which goes over a unix socket; KeepDevice makes Close leave the
// device as it is; the new process builds the port on the descriptor with
// AdoptTAP or AdoptAFPacket. Nothing is reopened, so the host sees no link
// change and frames that arrive meanwhile wait in the device's queue.

// dupOf duplicates the descriptor behind rc (close-on-exec); the caller
// closes it.
func dupOf(rc syscall.RawConn) (int, error) {
	nfd, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("dup: %w", derr)
	}
	return nfd, nil
}

// fileOf is a pollable File of an inherited descriptor.
func fileOf(fd int, name string) (*os.File, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// Dup is a second descriptor of the TAP device's open file, for a hand
// over; the caller closes it.
func (t *TAP) Dup() (int, error) { return dupOf(t.rc) }

// AdoptTAP makes a port of a TAP file another vswitch process opened with
// OpenTAP and handed over (Dup): fd must be attached to the device called
// name. The port owns fd from here on, error or not.
func AdoptTAP(name string, fd int) (*TAP, error) {
	ifr, err := unix.NewIfreq("")
	if err == nil {
		err = unix.IoctlIfreq(fd, unix.TUNGETIFF, ifr)
	}
	if err == nil && ifr.Name() != name {
		err = fmt.Errorf("device %q: %w", ifr.Name(), ErrNotHandedOver)
	}
	var f *os.File
	if err == nil {
		f, err = fileOf(fd, "tap:"+name)
	} else {
		unix.Close(fd)
	}
	if err != nil {
		return nil, fmt.Errorf("tap %s: adopt: %w", name, err)
	}
	// The flags are the device's already; setting them again reads them.
	return newTAP(name, f, setOffloads(fd), false)
}

// KeepDevice makes Close leave the interface promiscuous: the socket
// lives on in the process it was handed to.
func (a *AFPacket) KeepDevice() { a.keep.Store(true) }

// Dup is a second descriptor of the AF_PACKET socket, for a hand over;
// the caller closes it.
func (a *AFPacket) Dup() (int, error) { return dupOf(a.rc) }

// AdoptAFPacket makes a port of an AF_PACKET socket another vswitch
// process opened with OpenAFPacket on device dev and handed over (Dup).
// The port owns fd from here on, error or not.
func AdoptAFPacket(dev string, fd int) (*AFPacket, error) {
	c, err := fileConnOf(fd)
	if err != nil {
		return nil, fmt.Errorf("afpacket %s: adopt: %w", dev, err)
	}
	a := &AFPacket{dev: dev, conn: c}
	if err := a.setup(); err != nil {
		c.Close()
		return nil, fmt.Errorf("afpacket %s: adopt: %w", dev, err)
	}
	a.buffers()
	return a, nil
}

// packetConn is what an AFPacket needs of its socket.
type packetConn interface {
	SetPromiscuous(bool) error
	SyscallConn() (syscall.RawConn, error)
	Close() error
}

// fileConn is an inherited AF_PACKET socket: mdlayher/packet makes
// sockets but cannot take one over.
type fileConn struct {
	f       *os.File
	ifindex int
}

// fileConnOf checks that fd is a bound AF_PACKET socket and wraps it.
func fileConnOf(fd int) (*fileConn, error) {
	sa, err := unix.Getsockname(fd)
	ll, ok := sa.(*unix.SockaddrLinklayer)
	if err == nil && (!ok || ll.Ifindex == 0) {
		err = ErrNotHandedOver
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	f, err := fileOf(fd, "afpacket")
	if err != nil {
		return nil, err
	}
	return &fileConn{f: f, ifindex: ll.Ifindex}, nil
}

func (c *fileConn) SetPromiscuous(on bool) error {
	opt := unix.PACKET_DROP_MEMBERSHIP
	if on {
		opt = unix.PACKET_ADD_MEMBERSHIP
	}
	rc, err := c.f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptPacketMreq(int(fd), unix.SOL_PACKET, opt,
			&unix.PacketMreq{Ifindex: int32(c.ifindex), Type: unix.PACKET_MR_PROMISC})
	})
	if err != nil {
		return err
	}
	return serr
}

func (c *fileConn) SyscallConn() (syscall.RawConn, error) { return c.f.SyscallConn() }

func (c *fileConn) Close() error { return c.f.Close() }

// Dup is a second descriptor of the tunnel's UDP socket, for a hand over;
// the caller closes it.
func (v *VXLAN) Dup() (int, error) { return dupOf(v.rc) }

// KeepDevice: a tunnel has no device to leave; its socket lives on in
// the descriptor Dup gave.
func (v *VXLAN) KeepDevice() {}

// AdoptVXLAN makes a tunnel port of the UDP socket another vswitch
// process's tunnel port bound and handed over (Dup): datagrams that
// arrive meanwhile wait in it, and the remotes never see the port close.
// fd must be a UDP socket bound to cfg's port. The port owns fd from here
// on, error or not.
func AdoptVXLAN(cfg VXLANConfig, fd int) (*VXLAN, error) {
	sa, err := unix.Getsockname(fd)
	in, ok := sa.(*unix.SockaddrInet4)
	want := cfg.Port
	if want == 0 {
		want = pkt.VXLANPort
	}
	if err == nil && (!ok || in.Port != int(want)) {
		err = fmt.Errorf("not a UDP socket on port %d: %w", want, ErrNotHandedOver)
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("vxlan %s: adopt: %w", cfg.Name, err)
	}
	f := os.NewFile(uintptr(fd), "vxlan:"+cfg.Name)
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("vxlan %s: adopt: %w", cfg.Name, err)
	}
	uc, ok := c.(*net.UDPConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("vxlan %s: adopt: a %T: %w", cfg.Name, c, ErrNotHandedOver)
	}
	cfg.conn = uc
	v, err := OpenVXLAN(cfg)
	if err != nil {
		uc.Close()
	}
	return v, err
}
