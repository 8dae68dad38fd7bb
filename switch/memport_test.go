package vswitch

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// memPort is an in-memory driver for unit tests of the switching logic.
// End-to-end tests use real TAP and AF_PACKET ports.
type memPort struct {
	in        chan []byte
	inMeta    chan memFrame // frames that come with offload metadata or an out-of-band tag
	out       chan []byte
	hdrs      chan pkt.VirtioNetHdr // if non-nil, WriteBatch sends each frame's header here too
	marks     chan uint8            // each written frame's Mark, while there is room
	feat      Features
	closed    chan struct{}
	closeOnce sync.Once
	block     chan struct{} // if non-nil, WriteBatch waits on it (a stalled device)
	readErr   chan error    // an error here is what the next ReadBatch returns
	// short, if set, says how many of n frames WriteBatch sends, and with
	// what error (a device that refuses some).
	short func(n int) (int, error)
}

// memFrame is a received frame with what a driver learns besides its bytes.
type memFrame struct {
	b      []byte
	vnet   pkt.VirtioNetHdr
	tci    uint16
	hasTCI bool
}

func newMemPort() *memPort {
	return &memPort{in: make(chan []byte, 256), inMeta: make(chan memFrame, 256), out: make(chan []byte, 4096),
		feat: FeatVNetHdr, closed: make(chan struct{}), readErr: make(chan error, 1), marks: make(chan uint8, 4096)}
}

func (m *memPort) ReadBatch(frames []*Frame) (int, error) {
	select {
	case err := <-m.readErr:
		return 0, err
	case b := <-m.in:
		fill(frames, 0, memFrame{b: b})
	case mf := <-m.inMeta:
		fill(frames, 0, mf)
	case <-m.closed:
		return 0, ErrClosed
	}
	n := 1
	for n < len(frames) {
		select {
		case b := <-m.in:
			fill(frames, n, memFrame{b: b})
		case mf := <-m.inMeta:
			fill(frames, n, mf)
		default:
			return n, nil
		}
		n++
	}
	return n, nil
}

// fill reads mf into frames[i] as a driver does: the head into RxBuf, and
// a frame longer than that through Promote with the rest as the spill.
func fill(frames []*Frame, i int, mf memFrame) {
	f := frames[i]
	f.VNet = mf.vnet
	if mf.hasTCI {
		f.SetRxTCI(mf.tci)
	}
	rx := f.RxBuf()
	if len(mf.b) > len(rx) {
		copy(rx, mf.b)
		frames[i] = f.Promote(mf.b[len(rx):])
		return
	}
	f.SetLen(copy(rx, mf.b))
}

func (m *memPort) WriteBatch(frames []*Frame) (int, error) {
	if m.block != nil {
		select {
		case <-m.block:
		case <-m.closed:
			return 0, ErrClosed
		}
	}
	var err error
	if m.short != nil {
		var k int
		k, err = m.short(len(frames))
		frames = frames[:k]
	}
	for i, f := range frames {
		select {
		case m.out <- append([]byte(nil), f.Bytes()...):
		case <-m.closed:
			return i, ErrClosed
		}
		if m.hdrs != nil {
			m.hdrs <- f.VNet
		}
		select {
		case m.marks <- f.Mark():
		default:
		}
	}
	return len(frames), err
}

func (m *memPort) Features() Features { return m.feat }
func (m *memPort) Close() error {
	m.closeOnce.Do(func() { close(m.closed) })
	return nil
}

// expect waits for one frame on m.
func (m *memPort) expect(t *testing.T) []byte {
	t.Helper()
	return testnet.Recv(t, m.out, 2*time.Second, "a frame")
}

// expectNone checks that nothing arrives on m for a short while.
func (m *memPort) expectNone(t *testing.T) {
	t.Helper()
	if b, ok := testnet.Poll(m.out, 50*time.Millisecond); ok {
		t.Fatalf("unexpected frame % x", b[:min(len(b), 18)])
	}
}

func mac(last byte) pkt.MAC { return pkt.MAC{0x52, 0x54, 0, 0, 0, last} }

// frame builds an untagged Ethernet frame with a 46-byte payload.
func frame(dst, src pkt.MAC) []byte {
	b := make([]byte, 60)
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: dst, Src: src, Type: pkt.TypeIPv4})
	return b
}

// tagged builds a frame with one 802.1Q tag.
func tagged(dst, src pkt.MAC, vid uint16) []byte {
	b := make([]byte, 64)
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: dst, Src: src, Type: pkt.TypeVLAN})
	binary.BigEndian.PutUint16(b[14:], vid)
	binary.BigEndian.PutUint16(b[16:], pkt.TypeIPv4)
	return b
}

type testSwitch struct {
	*Switch
	ports map[string]*memPort
}

func newTestSwitch(t *testing.T, cfg Config, pcs ...PortConfig) *testSwitch {
	t.Helper()
	s := &testSwitch{Switch: New(cfg), ports: map[string]*memPort{}}
	t.Cleanup(func() { s.Close() })
	for _, pc := range pcs {
		m := newMemPort()
		if err := s.AddPort(pc, m); err != nil {
			t.Fatal(err)
		}
		s.ports[pc.Name] = m
	}
	return s
}

func access(name string, vid uint16) PortConfig {
	return PortConfig{Name: name, VLAN: VLANConfig{PVID: vid}}
}

func trunk(name string, native uint16, vids ...uint16) PortConfig {
	return PortConfig{Name: name, VLAN: VLANConfig{Trunk: true, Allowed: vids, Native: native}}
}

// waitDrop waits until port's drop counter for r reaches n.
func (s *testSwitch) waitDrop(t *testing.T, port string, r DropReason, n uint64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		st, _ := s.Port(port)
		if st.Drops[r] >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %s: drops[%s] = %d, want >= %d", port, r, st.Drops[r], n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// addPort attaches one more memPort, with the given egress features, to s.
func (s *testSwitch) addPort(t *testing.T, pc PortConfig, feat Features) *memPort {
	t.Helper()
	m := newMemPort()
	m.feat = feat
	if err := s.AddPort(pc, m); err != nil {
		t.Fatal(err)
	}
	s.ports[pc.Name] = m
	return m
}

// withTCI returns the untagged frame b with an 802.1Q tag carrying tci
// (PCP, DEI and VID as given) inserted after the addresses.
func withTCI(b []byte, tci uint16) []byte {
	out := make([]byte, 0, len(b)+pkt.VLANTagLen)
	out = append(out, b[:12]...)
	out = binary.BigEndian.AppendUint16(out, pkt.TypeVLAN)
	out = binary.BigEndian.AppendUint16(out, tci)
	return append(out, b[12:]...)
}

// tagOf reads the VID of a frame tagged in the buffer.
func tagOf(b []byte) (uint16, bool) {
	if len(b) < pkt.VLANHeaderLen || binary.BigEndian.Uint16(b[12:]) != pkt.TypeVLAN {
		return 0, false
	}
	return binary.BigEndian.Uint16(b[14:]) & pkt.VIDMask, true
}
