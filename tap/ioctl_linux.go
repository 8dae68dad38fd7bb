package tap

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vswitch/vswitch/internal/pkt"
)

// ifreqHW is struct ifreq with ifr_hwaddr, which unix.Ifreq has no setter for.
type ifreqHW struct {
	Name   [unix.IFNAMSIZ]byte
	Family uint16
	Data   [14]byte
	_      [8]byte
}

// linkControl opens a socket for interface ioctls in the current netns.
func linkControl() (int, error) {
	return unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
}

// ifIndex is the index of the interface called name. It asks by name
// (SIOCGIFINDEX), where net.InterfaceByName dumps every link of the
// namespace: with a thousand ports, starting each would read all the others.
func ifIndex(s int, name string) (int, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, fmt.Errorf("index of %s: %w", name, err)
	}
	return int(ifr.Uint32()), nil
}

// hwAddr is the interface's MAC address (SIOCGIFHWADDR), asked by name
// for the reason ifIndex is.
func hwAddr(s int, name string) (pkt.MAC, error) {
	var req ifreqHW
	copy(req.Name[:], name)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(s), unix.SIOCGIFHWADDR, uintptr(unsafe.Pointer(&req))); errno != 0 {
		return pkt.MAC{}, fmt.Errorf("MAC of %s: %w", name, errno)
	}
	return pkt.MAC(req.Data[:6]), nil
}

// setUp sets IFF_UP on the interface.
func setUp(s int, name string) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("get flags of %s: %w", name, err)
	}
	if ifr.Uint16()&unix.IFF_UP != 0 {
		return nil
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

func setMTU(s int, name string, mtu int) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	ifr.SetUint32(uint32(mtu))
	if err := unix.IoctlIfreq(s, unix.SIOCSIFMTU, ifr); err != nil {
		return fmt.Errorf("set MTU %d on %s: %w", mtu, name, err)
	}
	return nil
}

func setMAC(s int, name string, mac pkt.MAC) error {
	var req ifreqHW
	copy(req.Name[:], name)
	req.Family = unix.ARPHRD_ETHER
	copy(req.Data[:], mac[:])
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(s), unix.SIOCSIFHWADDR, uintptr(unsafe.Pointer(&req))); errno != 0 {
		return fmt.Errorf("set MAC %s on %s: %w", mac, name, errno)
	}
	return nil
}
