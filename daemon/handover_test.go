package daemon

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/gateway"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/nat"
	"github.com/vswitch/vswitch/tap"
)

// pair is a connected unix stream socketpair.
func pair(t testing.TB) (a, b *net.UnixConn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(fd int) *net.UnixConn {
		c, err := handoverConn(os.NewFile(uintptr(fd), "pair"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	return mk(fds[0]), mk(fds[1])
}

// TestHandoverMessages: a state message with descriptors arrives whole:
// the same state, and descriptors that are the same open files.
func TestHandoverMessages(t *testing.T) {
	a, b := pair(t)
	f, err := os.CreateTemp(t.TempDir(), "fd")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("x")
	st := handState{
		Files: []handFile{{Kind: "tap", Name: "vm1"}, {Kind: "uplink", Name: "wan", Device: "eth0"}},
		NAT: map[string]nat.Snapshot{"wan": {Version: nat.SnapshotVersion, Flows: []nat.Flow{{Proto: 6,
			InSrc: netip.MustParseAddrPort("10.0.0.2:4000"), InDst: netip.MustParseAddrPort("1.1.1.1:80"),
			OutSrc: netip.MustParseAddrPort("192.0.2.5:4000"), OutDst: netip.MustParseAddrPort("1.1.1.1:80"), State: 1}}}},
		Neigh: map[string][]gateway.Neighbour{"network:lab": {{IP: netip.MustParseAddr("10.0.0.2"), MAC: pkt.MAC{2, 0, 0, 0, 0, 1}, Seen: 7}}},
	}
	fds := make([]int, 0, 2*fdChunk+1) // more than one chunk
	for range cap(fds) {
		fd, err := syscall.Dup(int(f.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
	}
	defer closeFDs(fds)
	if err := writeMsg(a, handMsg{Kind: "state", PID: 42, State: &st}); err != nil {
		t.Fatal(err)
	}
	if err := sendFDs(a, fds); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	m, err := readMsg(b, deadline, "state")
	if err != nil || m.PID != 42 || !reflect.DeepEqual(*m.State, st) {
		t.Fatalf("got %+v, %v; want %+v", m, err, st)
	}
	got, err := recvFDs(b, len(fds), deadline)
	if err != nil || len(got) != len(fds) {
		t.Fatalf("received %d descriptors, %v; want %d", len(got), err, len(fds))
	}
	defer closeFDs(got)
	for _, fd := range got {
		if off, err := syscall.Seek(fd, 0, 1); err != nil || off != 1 {
			t.Fatalf("descriptor %d: offset %d, %v: not the file sent", fd, off, err)
		}
	}
}

// TestHandoverRefuses: a message out of turn, one past the bound, more
// descriptors than announced, and a peer gone are errors, never a hang.
func TestHandoverRefuses(t *testing.T) {
	deadline := func() time.Time { return time.Now().Add(5 * time.Second) }
	a, b := pair(t)
	writeMsg(a, handMsg{Kind: "hello"})
	if _, err := readMsg(b, deadline(), "ready"); !errors.Is(err, errHandover) {
		t.Fatalf("out of turn: %v", err)
	}
	a.Write(binary.BigEndian.AppendUint32(nil, maxHandMsg+1))
	if _, err := readMsg(b, deadline(), "state"); !errors.Is(err, errHandover) {
		t.Fatalf("past the bound: %v", err)
	}
	a2, b2 := pair(t)
	fd, _ := syscall.Dup(0)
	fd2, _ := syscall.Dup(0)
	defer syscall.Close(fd)
	defer syscall.Close(fd2)
	sendFDs(a2, []int{fd, fd2})
	if got, err := recvFDs(b2, 1, deadline()); !errors.Is(err, errHandover) || got != nil {
		t.Fatalf("two descriptors for one: %v %v", got, err)
	}
	a3, b3 := pair(t)
	a3.Close()
	if _, err := readMsg(b3, deadline(), "hello"); !errors.Is(err, errHandover) {
		t.Fatalf("peer gone: %v", err)
	}
}

// TestCheckState: a state message no old vswitch sends is refused before
// any descriptor is taken; one it sends passes.
func TestCheckState(t *testing.T) {
	vm := handFile{Kind: handQEMUVM, Name: "vm1", Device: "/run/vm1.sock"}
	for _, tc := range []struct {
		name string
		st   handState
		ok   bool
	}{
		{"pending with its VM", handState{Files: []handFile{vm}, Pending: map[string][]byte{"vm1": {0, 0, 0, 60, 1}}}, true},
		{"pending at the bound", handState{Files: []handFile{vm}, Pending: map[string][]byte{"vm1": make([]byte, tap.QEMUMaxPending)}}, true},
		{"pending past the bound", handState{Files: []handFile{vm}, Pending: map[string][]byte{"vm1": make([]byte, tap.QEMUMaxPending+1)}}, false},
		{"pending without a VM", handState{Files: []handFile{{Kind: "qemu", Name: "vm1"}}, Pending: map[string][]byte{"vm1": {1}}}, false},
		{"a run-time port", handState{Added: []json.RawMessage{json.RawMessage(`{"name":"p","type":"tap","vlan":10}`)}}, true},
		{"a run-time port that does not parse", handState{Added: []json.RawMessage{json.RawMessage(`{"name":"p","type":"bogus"}`)}}, false},
		{"too many run-time ports", handState{Added: make([]json.RawMessage, maxHandFiles+1)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkState(&tc.st)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, errHandover)) {
				t.Fatalf("checkState: %v, want ok %v (and errHandover)", err, tc.ok)
			}
		})
	}
}

// FuzzHandoverMessage: whatever bytes arrive, readMsg returns a message
// of a kind asked for or an error, and never panics or hangs; a state
// that checkState lets through keeps its bounds (pending bytes within a
// QEMU port's buffer and only for a VM handed over, specs that parse) and
// goes through writeMsg and readMsg again unchanged.
func FuzzHandoverMessage(f *testing.F) {
	msg := func(body string) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	}
	f.Add(msg(`{"kind":"state","pid":1,"state":{"files":[{"kind":"tap","name":"a"}],"nat":{"wan":{"version":1,"flows":[]}}}}`))
	f.Add(msg(`{"kind":"state","pid":1,"state":{"files":[{"kind":"qemu","name":"vm","device":"/s"},{"kind":"qemu-vm","name":"vm","device":"/s"}],"pending":{"vm":"AAAAPAE="},"added":[{"name":"vm","type":"qemu","socket":"/s"}]}}`))
	f.Add(msg(`{"kind":"state","pid":1,"state":{"files":[{"kind":"vxlan","name":"vx","device":"/10.0.0.1:4789"}],"added":[{"name":"p","type":"tap","trunk":[10,20]}]}}`))
	f.Add(msg(`{"kind":"state","pid":1,"state":{"counters":{"vm":{"rx_packets":5,"rx_bytes":300,"tx_packets":2,"tx_bytes":120,"drops":{"queue_full":1,"bogus":2}}}}}`))
	f.Add(msg(`{"kind":"hello","pid":7,"version":"dev"}`))
	f.Add(msg(`{"kind":"ready"}`))
	f.Add(msg(`{"kind":"failed","error":"port x: no such device"}`))
	f.Add(msg(`{"kind":"state","state":null}`))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	kinds := []string{"hello", "state", "ready", "failed"}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := pair(t)
		go func() {
			a.Write(data)
			a.Close()
		}()
		m, err := readMsg(b, time.Now().Add(5*time.Second), kinds...)
		if err != nil {
			if !errors.Is(err, errHandover) {
				t.Fatalf("error not marked: %v", err)
			}
			return
		}
		if !slices.Contains(kinds, m.Kind) {
			t.Fatalf("kind %q accepted", m.Kind)
		}
		if m.State == nil || checkState(m.State) != nil {
			return
		}
		vms := map[string]bool{}
		for _, f := range m.State.Files {
			vms[f.Name] = vms[f.Name] || f.Kind == handQEMUVM
		}
		for name, p := range m.State.Pending {
			if len(p) > tap.QEMUMaxPending || !vms[name] {
				t.Fatalf("pending %d bytes for %q let through", len(p), name)
			}
		}
		for _, spec := range m.State.Added {
			if _, err := config.ParsePort(spec); err != nil {
				t.Fatalf("spec %s let through: %v", spec, err)
			}
		}
		// Once through, a state goes over again as it is.
		c, d := pair(t)
		go func() { writeMsg(c, m) }()
		m2, err := readMsg(d, time.Now().Add(5*time.Second), m.Kind)
		if err != nil {
			t.Fatalf("a state let through does not go over again: %v", err)
		}
		go func() { writeMsg(c, m2) }()
		m3, err := readMsg(d, time.Now().Add(5*time.Second), m.Kind)
		if err != nil || !reflect.DeepEqual(m2, m3) {
			t.Fatalf("the state changed going over: %+v, then %+v (%v)", m2, m3, err)
		}
	})
}
