package dhcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// recorder is a Store's fsync seam and its servers' Deliver: one log of
// syncs and ACKs in the order they happened, a gate that holds file
// fsyncs, and a switch that fails them.
type recorder struct {
	t       *testing.T
	dir     string
	mu      sync.Mutex
	events  []string
	acks    []ack
	gate    chan struct{} // non-nil: file fsyncs wait until it is closed
	entered chan struct{} // a file fsync reached the gate
	fail    bool          // file fsyncs fail
	fails   []bool        // if not empty, the next file fsyncs fail or not, in turn
	onAck   func(ack)     // run inside Deliver
}

// ack is a delivered reply, copied out of the server's buffer.
type ack struct {
	typ   uint8
	xid   uint32
	ip    netip.Addr
	lease uint32 // option 51, seconds
	rep   Reply
}

func (a ack) String() string { return fmt.Sprintf("ack %v xid %d", a.ip, a.xid) }

func newRecorder(t *testing.T) *recorder {
	return &recorder{t: t, dir: t.TempDir(), entered: make(chan struct{}, 1)}
}

// store opens the recorder's directory with the recorder as fsync seam,
// closed at the end of the test.
func (r *recorder) store() *Store {
	st, err := OpenStore(r.dir)
	must(r.t, err)
	st.sync = r.sync
	r.t.Cleanup(st.Close)
	return st
}

func (r *recorder) sync(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	kind := map[bool]string{true: "dir", false: "file"}[fi.IsDir()]
	r.mu.Lock()
	gate := r.gate
	r.mu.Unlock()
	if gate != nil && kind == "file" {
		r.entered <- struct{}{}
		<-gate
	}
	r.mu.Lock()
	fail := r.fail
	if kind == "file" && len(r.fails) > 0 {
		fail, r.fails = r.fails[0], r.fails[1:]
	}
	r.mu.Unlock()
	if fail && kind == "file" {
		r.log("file failed")
		return errors.New("injected fsync failure")
	}
	err = f.Sync()
	r.log(kind + " synced")
	return err
}

// hold makes the next file fsyncs wait; the returned func lets them go
// (and is run at the end of the test if the test did not).
func (r *recorder) hold() (release func()) {
	gate := make(chan struct{})
	r.mu.Lock()
	r.gate = gate
	r.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			r.mu.Lock()
			r.gate = nil
			r.mu.Unlock()
			close(gate)
		})
	}
	r.t.Cleanup(release) // before the store's Close, which would wait
	return release
}

// waitEntered waits until the store goroutine is inside a held fsync.
func (r *recorder) waitEntered() {
	r.t.Helper()
	testnet.Recv(r.t, r.entered, 5*time.Second, "the store goroutine in the fsync")
}

func (r *recorder) setFails(v ...bool) {
	r.mu.Lock()
	r.fails = v
	r.mu.Unlock()
}

func (r *recorder) setFail(v bool) {
	r.mu.Lock()
	r.fail = v
	r.mu.Unlock()
}

func (r *recorder) log(e string) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) deliver(rep Reply) {
	d := pkt.DHCP(rep.Msg)
	a := ack{xid: binary.BigEndian.Uint32(rep.Msg[4:8]), ip: d.YIAddr(), rep: rep}
	a.rep.Msg = slices.Clone(rep.Msg)
	it := d.Options()
	for it.Next() {
		switch it.Code() {
		case pkt.OptMessageType:
			a.typ = it.Data()[0]
		case pkt.OptLeaseTime:
			a.lease = binary.BigEndian.Uint32(it.Data())
		}
	}
	clear(rep.Msg) // the buffer is the server's: nothing may keep it
	if r.onAck != nil {
		r.onAck(a)
	}
	r.mu.Lock()
	r.events = append(r.events, a.String())
	r.acks = append(r.acks, a)
	r.mu.Unlock()
}

func (r *recorder) snapshot() ([]string, []ack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events), slices.Clone(r.acks)
}

// waitAcks waits until n ACKs were delivered and returns them.
func (r *recorder) waitAcks(n int) []ack {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, acks := r.snapshot()
		if len(acks) >= n {
			return acks
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%d ACKs delivered, want %d", len(acks), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitDrops waits until the server's counter of reason reaches n.
func waitDrops(t *testing.T, s *Server, reason DropReason, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Drops()[reason] < uint64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("drops %v, want %d of %s", s.Drops(), n, reason)
		}
		time.Sleep(time.Millisecond)
	}
}

// netConfig is network name with its guests at 10.<third>.0.10-250.
func netConfig(name string, third byte) Config {
	return Config{Network: name, Gateway: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, third, 0, 1}), 24),
		RangeStart: netip.AddrFrom4([4]byte{10, third, 0, 10}), RangeEnd: netip.AddrFrom4([4]byte{10, third, 0, 250}),
		Lease: time.Hour, DNS: []netip.Addr{netip.AddrFrom4([4]byte{10, third, 0, 1})}, Router: true}
}

// asyncServer serves cfg on st with r as Deliver, on a fixed clock.
func asyncServer(cfg Config, st *Store, r *recorder) (*Server, *clock) {
	cfg.Deliver = r.deliver
	s := NewServer(cfg, st)
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	s.now = func() time.Time { return c.t }
	return s, c
}

// twoNetworks serves network n (10.9) and network m (10.8) of config on
// the one store st, with r as Deliver for both.
func (r *recorder) twoNetworks(st *Store, config func(name string, b byte) Config) (n, m *Server) {
	n, _ = asyncServer(config("n", 9), st, r)
	m, _ = asyncServer(config("m", 8), st, r)
	return n, m
}

// wideConfig is network name on 10.<second>.0.0/16, its guests from
// 10.<second>.0.2 on: room for maxPending clients and more.
func wideConfig(name string, second byte) Config {
	return Config{Network: name, Gateway: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, second, 0, 1}), 16),
		RangeStart: netip.AddrFrom4([4]byte{10, second, 0, 2}), RangeEnd: netip.AddrFrom4([4]byte{10, second, 255, 254}), Lease: time.Hour}
}

// wide is client i of a wideConfig network: its INIT-REBOOT for the
// address 10.<second>.0.2 + i.
func wide(second byte, i int, xid uint32) msg {
	a := 2 + i
	return msg{typ: pkt.DHCPRequest, mac: pkt.MAC{0x52, 0x54, 0, second, byte(i >> 8), byte(i)},
		reqIP: netip.AddrFrom4([4]byte{10, second, byte(a >> 8), byte(a)}), xid: xid}
}

// guest is the address 10.<third>.0.<host>.
func guest(third, host byte) netip.Addr { return netip.AddrFrom4([4]byte{10, third, 0, host}) }

// reboot is an INIT-REBOOT REQUEST: client i of a network asks for the
// address it remembers.
func reboot(i byte, ip netip.Addr, xid uint32) msg {
	return msg{typ: pkt.DHCPRequest, mac: mac(i), reqIP: ip, xid: xid}
}

// handleAsync runs m through s and fails the test if Handle answers now.
func handleAsync(t *testing.T, s *Server, m msg) {
	t.Helper()
	if rep, ok := s.Handle(m.bytes(), make([]byte, 1500)); ok || rep.Msg != nil {
		t.Errorf("Handle answered at once: %+v", rep) // not Fatal: quickly runs it on another goroutine
	}
}

// quickly runs f and fails the test if it does not return within 5 s:
// it must not be waiting for a held fsync.
func quickly(t *testing.T, what string, f func()) {
	t.Helper()
	testnet.Within(t, 5*time.Second, what+" (not waiting for the disk)", f)
}

// ackStrings is the ACKs delivered so far, as ack.String gives them.
func (r *recorder) ackStrings() []string {
	_, acks := r.snapshot()
	var out []string
	for _, a := range acks {
		out = append(out, a.String())
	}
	return out
}
