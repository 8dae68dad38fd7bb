package tap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vswitch/vswitch/internal/pkt"
)

// A TAP device vswitch creates is persistent (TUNSETPERSIST): it outlives
// a crash of the process with the host's addresses and routes on it, and
// the next vswitch reattaches to it. Its ifalias says whose it is, so a
// device of the same name that someone else made is still refused. A
// clean Close clears the flag first, so the device goes with the fd.

// aliasPrefix starts the ifalias of every TAP device vswitch owns.
const aliasPrefix = "vswitch:"

// ErrNotOurs is returned for a device of a port's name that vswitch did
// not create.
var ErrNotOurs = errors.New("already exists and is not vswitch's")

// ErrInUse is returned for a vswitch TAP device that a running process
// still holds.
var ErrInUse = errors.New("already exists and is in use (another vswitch running?)")

// ownedAlias is the ifalias that marks name as vswitch's port device.
func ownedAlias(name string) string { return aliasPrefix + name }

// checkReattach says whether a device called name exists in the current
// netns and, if so, whether it is ours to reattach to.
func checkReattach(s int, name string) (reattach bool, err error) {
	index, err := ifIndex(s, name)
	if err != nil {
		return false, nil
	}
	alias, err := linkAlias(index)
	if err != nil {
		return false, err
	}
	if alias != ownedAlias(name) {
		return false, fmt.Errorf("device %s %w (ifalias %q)", name, ErrNotOurs, alias)
	}
	return true, nil
}

// tunsetiffErr explains TUNSETIFF failing on a device we meant to
// reattach: busy means a live process has it.
func tunsetiffErr(name string, reattach bool, err error) error {
	if reattach && errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("device %s %w", name, ErrInUse)
	}
	return fmt.Errorf("TUNSETIFF: %w", err)
}

// makeOwn marks the freshly opened device as vswitch's and makes it
// persistent, in that order: a crash between the two leaves no device
// (it is not persistent yet), never an unmarked persistent one.
func makeOwn(s, fd int, name string) error {
	index, err := ifIndex(s, name)
	if err != nil {
		return err
	}
	if err := setLinkAlias(index, ownedAlias(name)); err != nil {
		return err
	}
	if err := setPersist(fd, true); err != nil {
		return err
	}
	return nil
}

// setPersist sets or clears TUNSETPERSIST on the device fd is attached to.
func setPersist(fd int, on bool) error {
	v := 0
	if on {
		v = 1
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, v); err != nil {
		return fmt.Errorf("TUNSETPERSIST %d: %w", v, err)
	}
	return nil
}

// hasMAC says whether the device already has mac: a reattached device
// keeps it, so its neighbours' ARP caches are not flushed for nothing.
func hasMAC(s int, name string, mac pkt.MAC) bool {
	have, err := hwAddr(s, name)
	return err == nil && have == mac
}

// linkAlias reads the ifalias ("" if it has none) of the device with
// index by an RTM_GETLINK for that device alone: a dump of every link per
// port made reattaching a thousand ports take 20 s.
func linkAlias(index int) (string, error) {
	msgs, err := linkRequest(unix.RTM_GETLINK, unix.NLM_F_REQUEST, index, 0, "")
	if err != nil {
		return "", fmt.Errorf("netlink RTM_GETLINK %d: %w", index, err)
	}
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWLINK {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return "", fmt.Errorf("netlink RTM_GETLINK %d: %w", index, err)
		}
		for _, a := range attrs {
			if a.Attr.Type == unix.IFLA_IFALIAS {
				return cString(a.Value), nil
			}
		}
		return "", nil
	}
	return "", fmt.Errorf("netlink RTM_GETLINK %d: no link in the answer", index)
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// setLinkAlias sets the ifalias of the device with index by RTM_SETLINK
// (sysfs would show the namespace /sys was mounted in, not ours).
func setLinkAlias(index int, alias string) error {
	msgs, err := linkRequest(unix.RTM_SETLINK, unix.NLM_F_REQUEST|unix.NLM_F_ACK, index, unix.IFLA_IFALIAS, alias)
	if err != nil {
		return fmt.Errorf("set ifalias of %d: %w", index, err)
	}
	for _, m := range msgs {
		if m.Header.Type == unix.NLMSG_ERROR {
			return nil // code 0: linkRequest returns the others as errors
		}
	}
	return errors.New("netlink RTM_SETLINK: no acknowledgement")
}

// linkRequest sends one rtnetlink request about the device with index (an
// ifinfomsg, and the attribute attr with value val unless attr is 0) and
// returns the kernel's answer; an NLMSG_ERROR with a non-zero code is
// returned as its errno.
func linkRequest(typ, flags uint16, index int, attr uint16, val string) ([]syscall.NetlinkMessage, error) {
	s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(s)
	attrLen := unix.SizeofRtAttr + len(val)
	total := unix.SizeofNlMsghdr + unix.SizeofIfInfomsg
	if attr != 0 {
		total += rtaAlign(attrLen)
	}
	b := make([]byte, total)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(total)) // nlmsghdr
	ne.PutUint16(b[4:], typ)
	ne.PutUint16(b[6:], flags)
	ne.PutUint32(b[8:], 1) // seq
	off := unix.SizeofNlMsghdr
	b[off] = unix.AF_UNSPEC // ifinfomsg: family, pad, type, index, flags, change
	ne.PutUint32(b[off+4:], uint32(index))
	if attr != 0 {
		off += unix.SizeofIfInfomsg
		ne.PutUint16(b[off:], uint16(attrLen)) // rtattr
		ne.PutUint16(b[off+2:], attr)
		copy(b[off+unix.SizeofRtAttr:], val)
	}
	if err := unix.Sendto(s, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	// An acknowledgement is small; one link's attributes and statistics
	// (a TAP's) are a few KiB.
	ans := make([]byte, 4<<10)
	if typ == unix.RTM_GETLINK {
		ans = make([]byte, 32<<10)
	}
	n, _, err := unix.Recvfrom(s, ans, unix.MSG_TRUNC)
	if err != nil {
		return nil, err
	}
	if n > len(ans) {
		return nil, fmt.Errorf("answer of %d bytes does not fit %d", n, len(ans))
	}
	msgs, err := syscall.ParseNetlinkMessage(ans[:n])
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if m.Header.Type == unix.NLMSG_ERROR && len(m.Data) >= 4 {
			if code := int32(ne.Uint32(m.Data)); code != 0 {
				return nil, unix.Errno(-code)
			}
		}
	}
	return msgs, nil
}

func rtaAlign(n int) int { return (n + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1) }

// KeepDevice makes Close leave the device in place, persistent and
// marked, for the next OpenTAP of its name to reattach to: a port whose
// settings change is reopened without the host losing its interface.
func (t *TAP) KeepDevice() { t.keep.Store(true) }
