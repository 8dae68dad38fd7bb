package testnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Raw is an AF_PACKET socket on one interface, opened inside a namespace:
// it writes whole frames as given (802.1Q tags included) and reads frames
// with the tag the kernel took out of them. Linux strips a received tag
// into the socket's PACKET_AUXDATA, so reading the buffer alone would
// never show one.
type Raw struct {
	t       testing.TB
	fd      int
	ifindex int
}

// OpenRaw opens a raw socket on dev in ns (nil: the root namespace) and
// closes it at cleanup.
func OpenRaw(t testing.TB, ns *Netns, dev string) *Raw {
	t.Helper()
	type result struct {
		r   *Raw
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The socket lives in the namespace it was made in; the thread
		// goes back to its own namespace, or dies with the goroutine.
		runtime.LockOSThread()
		r, back, err := openIn(ns, dev)
		if back {
			runtime.UnlockOSThread()
		}
		ch <- result{r, err}
	}()
	res := <-ch
	if res.err != nil {
		t.Fatalf("raw socket on %s: %v", dev, res.err)
	}
	res.r.t = t
	t.Cleanup(func() { unix.Close(res.r.fd) })
	return res.r
}

// openIn runs on a locked thread; back reports whether the thread is in
// its own namespace again.
func openIn(ns *Netns, dev string) (r *Raw, back bool, err error) {
	if ns != nil {
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, true, err
		}
		defer unix.Close(self)
		target, err := unix.Open("/var/run/netns/"+ns.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, true, err
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			return nil, true, fmt.Errorf("setns %s: %w", ns.Name, err)
		}
		defer func() {
			back = unix.Setns(self, unix.CLONE_NEWNET) == nil
		}()
	}
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return nil, true, err
	}
	proto := htons(unix.ETH_P_ALL)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		return nil, true, err
	}
	fail := func(err error) (*Raw, bool, error) {
		unix.Close(fd)
		return nil, true, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
		return fail(err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		return fail(err)
	}
	return &Raw{fd: fd, ifindex: ifi.Index}, true, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// auxdataLen is sizeof(struct tpacket_auxdata).
const auxdataLen = 20

// Send writes one frame; it fails the test if the kernel refuses it.
func (r *Raw) Send(frame []byte) {
	r.t.Helper()
	if err := unix.Sendto(r.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: r.ifindex}); err != nil {
		r.t.Fatalf("raw send: %v", err)
	}
}

// Recv returns the next frame that arrived on the interface (frames the
// socket's host sent itself are skipped), or false after timeout.
func (r *Raw) Recv(timeout time.Duration) (RawFrame, bool) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 65536+64)
	oob := make([]byte, unix.CmsgSpace(auxdataLen))
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return RawFrame{}, false
		}
		tv := unix.NsecToTimeval(min(left, 100*time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(r.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			r.t.Fatalf("SO_RCVTIMEO: %v", err)
		}
		n, oobn, _, from, err := unix.Recvmsg(r.fd, buf, oob, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			r.t.Fatalf("raw recv: %v", err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && (ll.Pkttype == unix.PACKET_OUTGOING || ll.Ifindex != r.ifindex) {
			continue
		}
		f := RawFrame{Data: append([]byte(nil), buf[:n]...)}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			r.t.Fatalf("raw recv: control message: %v", err)
		}
		for _, m := range msgs {
			if m.Header.Level != unix.SOL_PACKET || m.Header.Type != unix.PACKET_AUXDATA || len(m.Data) < auxdataLen {
				continue
			}
			// struct tpacket_auxdata: status, len, snaplen (u32), mac,
			// net, vlan_tci, vlan_tpid (u16), in host order.
			status := binary.NativeEndian.Uint32(m.Data[0:])
			if status&unix.TP_STATUS_VLAN_VALID != 0 {
				f.Tagged = true
				f.TCI = binary.NativeEndian.Uint16(m.Data[16:])
				f.TPID = 0x8100
				if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
					f.TPID = binary.NativeEndian.Uint16(m.Data[18:])
				}
			}
		}
		return f, true
	}
}
