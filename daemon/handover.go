package daemon

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/vswitch/vswitch/gateway"
	"github.com/vswitch/vswitch/nat"
	vswitch "github.com/vswitch/vswitch/switch"
	"github.com/vswitch/vswitch/tap"
)

// The hand-over protocol between a running vswitch (old) and the process
// an upgrade started (new), on a socketpair the new one inherits as
// HandoverFDEnv. Messages are a 4-byte big-endian length and a JSON
// handMsg; descriptors follow a "state" message in chunks, each on a
// 1-byte write with SCM_RIGHTS.
//
//	new -> old  hello   (the binary runs and its config loaded)
//	old -> new  state   (old has stopped its ports; the list of
//	                     descriptors and the NAT tables), then the descriptors
//	new -> old  ready   (new forwards now; old exits)
//	         or failed  (new exits; old takes its descriptors back)

// HandoverFDEnv names the descriptor of the hand-over socket in the
// environment of a process an upgrade starts.
const HandoverFDEnv = "VSWITCH_HANDOVER_FD"

// Bounds on what a hand over carries: a conntrack table of max_entries
// flows is a few MiB of JSON.
const (
	maxHandMsg   = 64 << 20
	maxHandFiles = 4096
	fdChunk      = 64 // descriptors per SCM_RIGHTS message (the kernel takes 253)
)

// handFile says what a handed-over descriptor is: a port's device (tap,
// afpacket) or an uplink's socket (uplink), by name and device.
type handFile struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Device string `json:"device,omitempty"`
}

// handState is what the old process hands over besides leases (on disk).
type handState struct {
	Files []handFile              `json:"files"`
	NAT   map[string]nat.Snapshot `json:"nat"` // by uplink name
	// Neighbour caches by "network:NAME" and "uplink:NAME".
	Neigh map[string][]gateway.Neighbour `json:"neigh"`
	// guard: dhcp bindings by port.
	Guard map[string][]vswitch.GuardBinding `json:"guard"`
	// The learned FDB entries (Age is since they were last seen).
	FDB []vswitch.FDBEntry `json:"fdb"`
	// What QEMU ports' readers had read of their VMs' streams and not
	// passed on, by port (handover_ports.go).
	Pending map[string][]byte `json:"pending,omitempty"`
	// The specs of ports 'port add' added, in order.
	Added []json.RawMessage `json:"added,omitempty"`
	// Every port's counters, by port.
	Counters map[string]handCounters `json:"counters,omitempty"`
}

type handMsg struct {
	Kind    string     `json:"kind"` // hello, state, ready, failed
	PID     int        `json:"pid,omitempty"`
	Version string     `json:"version,omitempty"`
	Error   string     `json:"error,omitempty"`
	State   *handState `json:"state,omitempty"`
}

// errHandover marks a broken hand over: the other side went away or
// said something out of turn.
var errHandover = errors.New("hand over")

func writeMsg(c *net.UnixConn, m handMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(b) > maxHandMsg {
		return fmt.Errorf("%w: %s message of %d bytes, past %d", errHandover, m.Kind, len(b), maxHandMsg)
	}
	out := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(b)), uint32(len(b)))
	_, err = c.Write(append(out, b...))
	return err
}

// readMsg reads the next message, which must be one of kinds, by deadline.
func readMsg(c *net.UnixConn, deadline time.Time, kinds ...string) (handMsg, error) {
	var m handMsg
	c.SetReadDeadline(deadline)
	defer c.SetReadDeadline(time.Time{})
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return m, fmt.Errorf("%w: waiting for %v: %w", errHandover, kinds, err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxHandMsg {
		return m, fmt.Errorf("%w: a message of %d bytes, past %d", errHandover, n, maxHandMsg)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		return m, fmt.Errorf("%w: waiting for %v: %w", errHandover, kinds, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: %w", errHandover, err)
	}
	for _, k := range kinds {
		if m.Kind == k {
			return m, nil
		}
	}
	return m, fmt.Errorf("%w: got %q, want %v", errHandover, m.Kind, kinds)
}

// sendFDs sends descriptors in chunks; the caller still owns them.
func sendFDs(c *net.UnixConn, fds []int) error {
	for len(fds) > 0 {
		n := min(len(fds), fdChunk)
		if _, _, err := c.WriteMsgUnix([]byte{1}, syscall.UnixRights(fds[:n]...), nil); err != nil {
			return fmt.Errorf("%w: sending descriptors: %w", errHandover, err)
		}
		fds = fds[n:]
	}
	return nil
}

// recvFDs receives exactly n descriptors (fewer or more is an error, and
// closes what came).
func recvFDs(c *net.UnixConn, n int, deadline time.Time) (fds []int, err error) {
	defer func() {
		if err != nil {
			closeFDs(fds)
			fds = nil
		}
	}()
	if n > maxHandFiles {
		return nil, fmt.Errorf("%w: %d descriptors, past %d", errHandover, n, maxHandFiles)
	}
	c.SetReadDeadline(deadline)
	defer c.SetReadDeadline(time.Time{})
	oob := make([]byte, syscall.CmsgSpace(4*fdChunk))
	for len(fds) < n {
		var b [1]byte
		_, oobn, flags, _, err := c.ReadMsgUnix(b[:], oob)
		if err != nil {
			return fds, fmt.Errorf("%w: receiving descriptors: %w", errHandover, err)
		}
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return fds, fmt.Errorf("%w: receiving descriptors: %w", errHandover, err)
		}
		for _, m := range msgs {
			got, err := syscall.ParseUnixRights(&m)
			if err != nil {
				return fds, fmt.Errorf("%w: receiving descriptors: %w", errHandover, err)
			}
			for _, fd := range got {
				syscall.CloseOnExec(fd)
			}
			fds = append(fds, got...)
		}
		if flags&syscall.MSG_CTRUNC != 0 || len(fds) > n {
			return fds, fmt.Errorf("%w: more descriptors than the %d announced", errHandover, n)
		}
	}
	return fds, nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}

// inherited is what a hand over gave a starting daemon: descriptors by
// what they are, and NAT tables. Start takes what its config still has;
// the rest is closed (drop).
type inherited struct {
	fds      map[handFile]int
	nat      map[string]nat.Snapshot
	neigh    map[string][]gateway.Neighbour
	guard    map[string][]vswitch.GuardBinding
	fdb      []vswitch.FDBEntry
	pending  map[string][]byte
	added    []json.RawMessage
	counters map[string]handCounters
}

func newInherited(st *handState, fds []int) *inherited {
	h := &inherited{fds: map[handFile]int{}, nat: st.NAT, neigh: st.Neigh, guard: st.Guard, fdb: st.FDB,
		pending: st.Pending, added: st.Added, counters: st.Counters}
	for i, f := range st.Files {
		if _, dup := h.fds[f]; dup {
			syscall.Close(fds[i])
			continue
		}
		h.fds[f] = fds[i]
	}
	return h
}

// take hands out the descriptor of f, once; false if there is none.
func (h *inherited) take(f handFile) (int, bool) {
	if h == nil {
		return -1, false
	}
	fd, ok := h.fds[f]
	delete(h.fds, f)
	return fd, ok
}

// rest is what Start did not take: devices of ports the new config no
// longer has.
func (h *inherited) rest() map[handFile]int {
	if h == nil {
		return nil
	}
	r := h.fds
	h.fds = map[handFile]int{}
	return r
}

// handoverConn is the socket HandoverFDEnv names, or nil without one.
func handoverConn(f *os.File) (*net.UnixConn, error) {
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errHandover, HandoverFDEnv, err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("%w: %s is not a unix socket", errHandover, HandoverFDEnv)
	}
	return uc, nil
}

// neighbours are the handed-over neighbour cache under key, if any.
func (h *inherited) neighbours(key string) []gateway.Neighbour {
	if h == nil {
		return nil
	}
	return h.neigh[key]
}

// guards are the handed-over guard bindings of port, if any.
func (h *inherited) guards(port string) []vswitch.GuardBinding {
	if h == nil {
		return nil
	}
	return h.guard[port]
}

// dupListener is a second descriptor (close-on-exec) of a listening
// socket; the caller closes it.
func dupListener(ln net.Listener) (int, error) {
	fd, err := tap.DupSocket(ln)
	if err != nil {
		return -1, fmt.Errorf("%w: %w", errHandover, err)
	}
	return fd, nil
}

// listenerOf makes a listener of an inherited descriptor, which it owns.
func listenerOf(fd int, name string) (net.Listener, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close() // FileListener has its own duplicate
	return net.FileListener(f)
}
