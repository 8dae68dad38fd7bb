package daemon

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/vswitch/vswitch/gateway"
	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/nat"
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

// FuzzHandoverMessage: whatever bytes arrive, readMsg returns a message
// of a kind asked for or an error, and never panics or hangs.
func FuzzHandoverMessage(f *testing.F) {
	msg := func(body string) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	}
	f.Add(msg(`{"kind":"state","pid":1,"state":{"files":[{"kind":"tap","name":"a"}],"nat":{"wan":{"version":1,"flows":[]}}}}`))
	f.Add(msg(`{"kind":"ready"}`))
	f.Add(msg(`{"kind":"state","state":null}`))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := pair(t)
		go func() {
			a.Write(data)
			a.Close()
		}()
		m, err := readMsg(b, time.Now().Add(5*time.Second), "state", "ready")
		if err == nil && m.Kind != "state" && m.Kind != "ready" {
			t.Fatalf("kind %q accepted", m.Kind)
		}
		if err != nil && !errors.Is(err, errHandover) {
			t.Fatalf("error not marked: %v", err)
		}
	})
}
