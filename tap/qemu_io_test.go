package tap

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	vswitch "github.com/vswitch/vswitch/switch"
)

// TestQEMUSlowAndDeadReader: a batch far larger than the socket buffer
// reaches a VM that reads late whole and in order (the write resumes
// where the kernel stopped taking it); a write after the stall timeout
// has passed still goes through (the deadline armed while the buffer was
// full is gone); a VM that stops reading frees the writer after the
// stall timeout with an error, and the port counts it as gone.
func TestQEMUSlowAndDeadReader(t *testing.T) {
	const stall = 300 * time.Millisecond
	q := quietQEMU(t)
	q.stall = stall
	vm, err := net.Dial("unix", q.path)
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	vm.Write(qframe(7, 64))
	if n, err := q.ReadBatch(newFrames(1)); n != 1 || err != nil { // takes the VM
		t.Fatalf("first read: %d %v", n, err)
	}

	batch, want := bigBatch(32, 60000)
	got := make(chan []byte, 1)
	go func() {
		time.Sleep(stall / 3) // the socket buffer fills first
		b := make([]byte, len(want))
		vm.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _ := io.ReadFull(vm, b)
		got <- b[:n]
	}()
	if n, err := q.WriteBatch(batch); n != len(batch) || err != nil {
		t.Fatalf("batch to a slow reader: %d, %v", n, err)
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("the slow reader got %d bytes, not the %d written in order", len(b), len(want))
	}

	time.Sleep(stall + 100*time.Millisecond)
	one, wantOne := bigBatch(1, 100)
	if n, err := q.WriteBatch(one); n != 1 || err != nil {
		t.Fatalf("a write after the stall timeout: %d, %v", n, err)
	}
	b := make([]byte, len(wantOne))
	vm.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(vm, b); err != nil || !bytes.Equal(b, wantOne) {
		t.Fatalf("after the stall timeout the VM read % x, %v", b, err)
	}

	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		n, err := q.WriteBatch(batch) // nobody reads any more
		done <- result{n, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(stall + 3*time.Second):
		t.Fatal("a VM that stopped reading holds the writer past the stall timeout")
	}
	took, n, err := time.Since(start), r.n, r.err
	if n != 0 || err == nil {
		t.Fatalf("a batch to a VM that stopped reading: %d, %v; want an error", n, err)
	}
	if took < stall-20*time.Millisecond || took > stall+2*time.Second {
		t.Fatalf("the writer was freed after %v, want about %v", took, stall)
	}
	if _, err := q.WriteBatch(one); !errors.Is(err, ErrNoPeer) {
		t.Fatalf("a write after the VM was dropped: %v, want ErrNoPeer", err)
	}
}

// bigBatch is n frames of size bytes, each with its index in every byte
// past the header, and the stream QEMU framing makes of them.
func bigBatch(n, size int) ([]*vswitch.Frame, []byte) {
	var frames []*vswitch.Frame
	var wire []byte
	for i := range n {
		b := qframe(byte(i), size)
		for j := 4 + 14; j < len(b); j++ {
			b[j] = byte(i)
		}
		f := vswitch.NewBigFrame()
		f.SetData(b[4:])
		frames = append(frames, f)
		wire = append(wire, b...)
	}
	return frames, wire
}

// TestQEMUSplitThenIdle: a frame sent in two pieces arms the stall
// timeout only while it is half read; a VM that then stays quiet for
// longer than the timeout is still connected, and its next frame comes.
func TestQEMUSplitThenIdle(t *testing.T) {
	const stall = 200 * time.Millisecond
	q := quietQEMU(t)
	q.stall = stall
	got := readAsync(q)
	vm, err := net.Dial("unix", q.path)
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	first := qframe(1, 200)
	vm.Write(first[:100])
	time.Sleep(stall / 4)
	vm.Write(first[100:])
	for i, want := range [][]byte{first, qframe(2, 80)} {
		select {
		case f := <-got:
			if !bytes.Equal(f, want[4:]) {
				t.Fatalf("frame %d: % x, want % x", i, f, want[4:])
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("frame %d did not come (bad_peer %d)", i, q.BadPeers())
		}
		if i == 0 {
			time.Sleep(2 * stall)
			vm.Write(qframe(2, 80))
		}
	}
	if q.BadPeers() != 0 {
		t.Fatalf("bad_peer %d, want 0", q.BadPeers())
	}
}
