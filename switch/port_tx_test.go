package vswitch

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// tryPort is a memPort the switch writes to directly (a TryWriter). room
// is how many more frames TryWriteBatch takes (negative: any number); at
// 0 the device is full, and WriteBatch waits on block (if non-nil).
type tryPort struct {
	*memPort
	block   chan struct{}
	room    atomic.Int64
	tries   atomic.Int64 // TryWriteBatch calls
	waits   atomic.Int64 // WriteBatch calls: the writer goroutine ran
	writing atomic.Int32 // calls in progress, to catch concurrent ones
	overlap atomic.Bool
	// hold, if set, makes the next TryWriteBatch say so on entered and
	// wait on it: a write in progress.
	hold    chan struct{}
	entered chan struct{}
}

func newTryPort() *tryPort {
	m := &tryPort{memPort: newMemPort()}
	m.room.Store(-1)
	return m
}

func (m *tryPort) enter() func() {
	if m.writing.Add(1) != 1 {
		m.overlap.Store(true)
	}
	return func() { m.writing.Add(-1) }
}

func (m *tryPort) TryWriteBatch(frames []*Frame) (int, int, error) {
	defer m.enter()()
	m.tries.Add(1)
	if h := m.hold; h != nil {
		m.hold = nil
		m.entered <- struct{}{}
		select {
		case <-h:
		case <-m.closed: // the test failed before it let go: do not hang its cleanup
			return 0, 0, ErrClosed
		}
	}
	k := len(frames)
	if r := m.room.Load(); r >= 0 {
		k = min(k, int(r))
		m.room.Add(-int64(k))
	}
	sent, err := m.memPort.WriteBatch(frames[:k])
	return sent, sent, err
}

func (m *tryPort) WriteBatch(frames []*Frame) (int, error) {
	defer m.enter()()
	m.waits.Add(1)
	if m.block != nil {
		select {
		case <-m.block:
		case <-m.closed:
			return 0, ErrClosed
		}
	}
	return m.memPort.WriteBatch(frames)
}

// seqFrame is frame(dst, src) numbered i in its payload.
func seqFrame(dst, src byte, i uint32) []byte {
	b := frame(mac(dst), mac(src))
	binary.BigEndian.PutUint32(b[20:], i)
	return b
}

func seqOf(b []byte) uint32 { return binary.BigEndian.Uint32(b[20:]) }

// expectSeq waits for the frames numbered from to to-1 on m, in order.
func (m *memPort) expectSeq(t *testing.T, from, to uint32) {
	t.Helper()
	for i := from; i < to; i++ {
		if got := seqOf(m.expect(t)); got != i {
			t.Fatalf("frame %d arrived as %d", i, got)
		}
	}
}

// directSwitch is a switch with access ports a and b (memPorts, a learnt
// as mac(1)) and d, a direct port learnt as mac(9).
func directSwitch(t *testing.T) (*testSwitch, *tryPort) {
	s := newTestSwitch(t, Config{}, access("a", 1), access("b", 1))
	d := newTryPort()
	if err := s.AddPort(access("d", 1), d); err != nil {
		t.Fatal(err)
	}
	d.in <- frame(mac(1), mac(9)) // learn d
	s.ports["a"].expect(t)
	s.ports["a"].in <- frame(mac(9), mac(1))
	d.expect(t)
	return s, d
}

// fullSwitch is directSwitch with a device that takes room frames and
// then waits, and n numbered frames sent to it from a, one at a time.
func fullSwitch(t *testing.T, room int64, n uint32) (*testSwitch, *tryPort) {
	s, d := directSwitch(t)
	d.block = make(chan struct{})
	d.room.Store(room)
	for i := range n {
		s.sendLone(t, "a", seqFrame(9, 1, i))
	}
	return s, d
}

// sendLone sends b into port name and waits until the switch has read
// it, alone: a batch of one, which a direct port is written with at once.
func (s *testSwitch) sendLone(t *testing.T, name string, b []byte) {
	t.Helper()
	st, _ := s.Port(name)
	s.ports[name].in <- b
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(100 * time.Microsecond) {
		if now, _ := s.Port(name); now.RxPackets > st.RxPackets {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the frame was not read")
		}
	}
}

// TestDirectWrite: lone frames to a direct port are written by the
// forwarding goroutine, in order, without waking the port's writer, and
// counted.
func TestDirectWrite(t *testing.T) {
	s, d := directSwitch(t)
	const n = 200
	for i := range uint32(n) {
		s.sendLone(t, "a", seqFrame(9, 1, i))
	}
	d.expectSeq(t, 0, n)
	if w := d.waits.Load(); w != 0 {
		t.Errorf("the writer goroutine wrote %d batches, want 0", w)
	}
	s.waitTx(t, "d", n+1) // and the learning frame
	if st, _ := s.Port("d"); st.TxBytes != 60*(n+1) {
		t.Errorf("tx %d bytes, want %d", st.TxBytes, 60*(n+1))
	}
}

// TestDirectBurst: a batch of burstFrames frames of burstMinLen bytes or
// more goes to the writer goroutine (queued, the token handed over, the
// writer woken once); a smaller batch, or one of smaller frames, is
// written at once.
func TestDirectBurst(t *testing.T) {
	for _, tt := range []struct {
		batch   int
		size    int
		written int
	}{
		{burstFrames - 1, 60, burstFrames - 1},
		{burstFrames, 60, burstFrames},
		{burstFrames, burstMinLen - 1, burstFrames},
		{burstFrames - 1, burstMinLen, burstFrames - 1},
		{burstFrames, burstMinLen, 0},
		{burstFrames, SmallDataLen + 1, 0},
	} {
		s, in, out, written := nullTrySwitch(t)
		out.handoff = make(chan struct{}, 1)
		frames := make([]*Frame, tt.batch)
		data := append(frame(mac(2), mac(1)), make([]byte, tt.size-60)...)
		for i := range frames {
			frames[i] = NewBigFrame()
			frames[i].SetData(data)
		}
		s.ingress(in, frames, time.Now().Unix())
		queued, woken := out.q.Len(), len(out.handoff)
		if *written != tt.written || queued != tt.batch-tt.written {
			t.Errorf("batch of %d x %d bytes: %d written, %d queued, want %d and %d", tt.batch, tt.size, *written, queued, tt.written, tt.batch-tt.written)
		}
		if wantWoken := queued > 0; (woken == 1) != wantWoken || (out.tx.Load() == txWriter) != wantWoken {
			t.Errorf("batch of %d x %d bytes: writer woken %d times, token %d", tt.batch, tt.size, woken, out.tx.Load())
		}
	}
}

// waitTx waits until port name has sent n frames (counted just after
// the driver took them).
func (s *testSwitch) waitTx(t *testing.T, name string, n uint64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		st, _ := s.Port(name)
		if st.TxPackets == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %s sent %d frames, want %d", name, st.TxPackets, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestDirectFull: a full device hands the port to its writer goroutine,
// which waits on the device and writes what is left in order; once the
// queue is empty the port is written directly again.
func TestDirectFull(t *testing.T) {
	s, d := fullSwitch(t, 3, 10)
	d.expectSeq(t, 0, 3)
	d.expectNone(t) // the device is full, the writer waits on it
	d.room.Store(-1)
	tries := d.tries.Load()
	close(d.block)
	d.expectSeq(t, 3, 10)
	if d.waits.Load() == 0 {
		t.Fatal("the writer goroutine never wrote")
	}
	// Back to direct writes once the writer let go.
	deadline := time.Now().Add(2 * time.Second)
	for s.portTx("d") != txFree {
		if time.Now().After(deadline) {
			t.Fatal("the writer kept the port")
		}
		time.Sleep(time.Millisecond)
	}
	waits := d.waits.Load()
	s.sendLone(t, "a", seqFrame(9, 1, 10))
	d.expectSeq(t, 10, 11)
	if d.waits.Load() != waits || d.tries.Load() == tries {
		t.Errorf("frame 10 went through the writer goroutine")
	}
	s.waitTx(t, "d", 12)
	if st, _ := s.Port("d"); st.Drops[DropQueueFull] != 0 {
		t.Errorf("queue_full %d, want 0", st.Drops[DropQueueFull])
	}
}

// TestDirectLeftToHolder: a frame queued while another goroutine is
// writing to the port is written by that goroutine once it is done.
func TestDirectLeftToHolder(t *testing.T) {
	s, d := directSwitch(t)
	s.ports["b"].in <- frame(mac(9), mac(2)) // learn b
	d.expect(t)
	d.hold, d.entered = make(chan struct{}), make(chan struct{})
	hold := d.hold
	s.ports["a"].in <- seqFrame(9, 1, 0)
	<-d.entered // a's reader is writing
	s.ports["b"].in <- seqFrame(9, 2, 1)
	p := s.topo.Load().byName["d"]
	for deadline := time.Now().Add(10 * time.Second); p.q.Len() != 1; { // b's reader may wait its turn on a loaded machine
		if time.Now().After(deadline) {
			t.Fatal("b's frame was not queued")
		}
		time.Sleep(time.Millisecond)
	}
	close(hold)
	d.expectSeq(t, 0, 2)
}

func (s *testSwitch) portTx(name string) uint32 {
	return s.topo.Load().byName[name].tx.Load()
}

// TestDirectConcurrent: two ports forward to one direct port while its
// device fills up and drains; every frame is written once, each source's
// in order, and the driver never sees two writes at once.
func TestDirectConcurrent(t *testing.T) {
	s, d := directSwitch(t)
	s.ports["b"].in <- frame(mac(9), mac(2)) // learn b
	d.expect(t)
	d.block = make(chan struct{})
	close(d.block) // WriteBatch never waits: the full spells are short
	const n = 2000
	var wg sync.WaitGroup
	for _, src := range []byte{1, 2} {
		in := s.ports[string('a'+src-1)]
		wg.Go(func() {
			for i := range uint32(n) {
				in.in <- seqFrame(9, src, i)
			}
		})
	}
	stop := make(chan struct{})
	go func() { // the device fills up now and then
		for {
			select {
			case <-stop:
				return
			default:
			}
			d.room.Store(5)
			time.Sleep(50 * time.Microsecond)
			d.room.Store(-1)
			time.Sleep(50 * time.Microsecond)
		}
	}()
	// The ring may overflow while the writer goroutine is being woken:
	// a tail drop, counted; what arrives is in order, each frame once.
	next := map[byte]uint32{}
	got := 0
	for {
		var b []byte
		select {
		case b = <-d.out:
		case <-time.After(500 * time.Millisecond):
		}
		if b == nil {
			break
		}
		src := b[11]
		if seq := seqOf(b); seq < next[src] {
			t.Fatalf("from %d: frame %d after %d", src, seq, next[src]-1)
		} else {
			next[src] = seq + 1
		}
		got++
	}
	st, _ := s.Port("d")
	if drops := st.Drops[DropQueueFull]; uint64(got)+drops != 2*n {
		t.Fatalf("%d frames arrived and %d dropped, want %d in all", got, drops, 2*n)
	}
	close(stop)
	wg.Wait()
	if d.overlap.Load() {
		t.Error("two writes to the driver at once")
	}
	if d.waits.Load() == 0 {
		t.Error("the device was never full: the hand-over went untested")
	}
}

// TestDirectRemoveWhileFull: removing a port whose writer waits on a full
// device returns, and frees what was left.
func TestDirectRemoveWhileFull(t *testing.T) {
	s, _ := fullSwitch(t, 0, 5)
	s.waitQueued(t, "d")
	done := make(chan error)
	go func() { done <- s.RemovePort("d") }()
	if err := testnet.Recv(t, done, 2*time.Second, "RemovePort to return"); err != nil {
		t.Fatal(err)
	}
	// Positive control: the switch still forwards.
	s.ports["b"].in <- frame(mac(1), mac(2))
	s.ports["a"].expect(t)
}

// waitQueued waits until the writer goroutine of port name holds the
// port, with frames the device did not take.
func (s *testSwitch) waitQueued(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for s.portTx(name) != txWriter {
		if time.Now().After(deadline) {
			t.Fatal("the device never filled")
		}
		time.Sleep(time.Millisecond)
	}
}

// nullTry is a TryWriter that takes every frame, as a TAP does.
type nullTry struct{ frames *int }

// nullTrySwitch is a switch with access ports a and b on VLAN 1, b
// written directly by a nullTry that counts into written, and mac(2)
// learned on b.
func nullTrySwitch(tb testing.TB) (s *Switch, a, b *swPort, written *int) {
	s, ports := benchSwitch(tb, access("a", 1), access("b", 1))
	written = new(int)
	ports[1].tw = nullTry{written}
	s.fdb.learn(ports[1], 1, mac(2), time.Now().Unix())
	return s, ports[0], ports[1], written
}

func (n nullTry) TryWriteBatch(frames []*Frame) (int, int, error) {
	*n.frames += len(frames)
	return len(frames), len(frames), nil
}

// BenchmarkForwardUnicastDirect is BenchmarkForwardUnicast to a direct
// port, one frame per batch (a lone frame is written at once): the
// forwarding goroutine takes the token and writes it.
func BenchmarkForwardUnicastDirect(b *testing.B) {
	s, in, _, n := nullTrySwitch(b)
	now := time.Now().Unix()
	frames := []*Frame{NewFrame()}
	tmpl := frame(mac(2), mac(1))
	b.ReportAllocs()
	for b.Loop() {
		frames[0].reset()
		frames[0].SetData(tmpl)
		s.ingress(in, frames, now)
	}
	if *n == 0 {
		b.Fatal("nothing written")
	}
}
