package control

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/vswitch/vswitch/internal/testnet"
)

// fakeStream yields numbered frames forever, one per millisecond.
type fakeStream struct {
	n      int
	closed chan struct{}
}

func (f *fakeStream) Next(ctx context.Context) (time.Time, []byte, error) {
	return numberedFrame(ctx, time.After(time.Millisecond), &f.n)
}

// numberedFrame waits for wait (or ctx's end), counts *n up and returns a
// 60-byte frame whose last byte is *n, as readRecords checks.
func numberedFrame(ctx context.Context, wait <-chan time.Time, n *int) (time.Time, []byte, error) {
	select {
	case <-ctx.Done():
		return time.Time{}, nil, ctx.Err()
	case <-wait:
	}
	*n++
	b := make([]byte, 60)
	b[59] = byte(*n)
	return time.Now(), b, nil
}
func (f *fakeStream) Dropped() uint64 { return 7 }
func (f *fakeStream) Close()          { close(f.closed) }

type captureBackend struct {
	fakeBackend
	streams chan *fakeStream
}

func (c *captureBackend) StartCapture(port string) (CaptureStream, error) {
	if port != "vm1" {
		return nil, fmt.Errorf("no port %q: %w", port, ErrNotFound)
	}
	s := &fakeStream{closed: make(chan struct{})}
	c.streams <- s
	return s, nil
}

func TestCaptureStream(t *testing.T) {
	b := &captureBackend{streams: make(chan *fakeStream, 4)}
	_, c, _ := serve(t, b)
	ctx := context.Background()
	if _, err := c.Get(ctx, "/v1/capture?port=nope"); err == nil || !strings.Contains(err.Error(), "no port") {
		t.Fatalf("unknown port: %v", err)
	}
	// A bounded capture: pcap header + 5 records, then the trailer.
	resp, err := c.Get(ctx, "/v1/capture?port=vm1&count=5")
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.tcpdump.pcap" {
		t.Fatalf("content type %q", ct)
	}
	r, err := pcapgo.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		data, _, err := r.ReadPacketData()
		if err != nil || data[59] != byte(i) {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	if data, _, err := r.ReadPacketData(); err != io.EOF {
		t.Fatalf("after 5 of count=5: % x %v, want EOF", data, err)
	}
	resp.Body.Close()
	if d := resp.Trailer.Get(DroppedTrailer); d != "7" {
		t.Fatalf("dropped trailer %q", d)
	}
	<-(<-b.streams).closed

	// A client that goes away mid-stream leaves no stream and no goroutine.
	before := runtime.NumGoroutine()
	cctx, cancel := context.WithCancel(ctx)
	resp, err = c.Get(cctx, "/v1/capture?port=vm1")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(resp.Body, make([]byte, 100))
	cancel()
	resp.Body.Close()
	testnet.Recv(t, (<-b.streams).closed, 3*time.Second, "the stream closed after the client left")
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after the capture, %d before", n, before)
	}
}

// Close ends a capture in flight at once instead of waiting for it.
func TestCloseEndsCapture(t *testing.T) {
	b := &captureBackend{streams: make(chan *fakeStream, 4)}
	s, c, _ := serve(t, b)
	resp, err := c.Get(context.Background(), "/v1/capture?port=vm1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := pcapgo.NewReader(resp.Body); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d >= closeTimeout {
		t.Fatalf("Close took %v with a capture running", d)
	}
	testnet.Recv(t, (<-b.streams).closed, 3*time.Second, "the stream closed by Close")
	io.Copy(io.Discard, resp.Body) // ends: the server is gone
}

func TestCaptureBadRequests(t *testing.T) {
	_, _, path := serve(t, &captureBackend{streams: make(chan *fakeStream, 4)})
	for _, u := range []string{"/v1/capture", "/v1/capture?port=vm1&count=-1", "/v1/capture?port=vm1&count=x"} {
		if status, body := raw(t, path, "GET", u, ""); status != 400 || !strings.Contains(body, "error") {
			t.Errorf("GET %s: %d %s", u, status, body)
		}
	}
}

// fastStream yields 16 KiB frames as fast as they are asked for, so a
// client that stops reading fills the socket buffers at once.
// It records when it last gave a frame and when it was closed.
type fastStream struct {
	n        atomic.Int64
	last     atomic.Int64 // UnixNano of the last frame Next returned
	closedAt time.Time    // set by Close, read after closed is closed
	closed   chan struct{}
}

func (f *fastStream) Next(ctx context.Context) (time.Time, []byte, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, nil, err
	}
	f.n.Add(1)
	now := time.Now()
	f.last.Store(now.UnixNano())
	return now, make([]byte, 16<<10), nil
}
func (f *fastStream) Dropped() uint64 { return 0 }
func (f *fastStream) Close() {
	f.closedAt = time.Now()
	close(f.closed)
}

type fastBackend struct {
	fakeBackend
	streams chan *fastStream
}

func (b *fastBackend) StartCapture(port string) (CaptureStream, error) {
	s := &fastStream{closed: make(chan struct{})}
	b.streams <- s
	return s, nil
}

// A client that stops reading is cut off once a write has waited the write
// timeout (not before), the stream is closed, which detaches the capture
// from its port, and no goroutine is left behind.
func TestCaptureStalledReaderCutOff(t *testing.T) {
	if writeTimeout != 10*time.Second {
		t.Fatalf("writeTimeout %v; docs/metrics.md says 10 s", writeTimeout)
	}
	const timeout = 300 * time.Millisecond
	b := &fastBackend{streams: make(chan *fastStream, 1)}
	path := filepath.Join(t.TempDir(), "vswitch.sock")
	s := NewServer(b, quiet())
	s.writeTimeout = timeout // before Serve: no race
	if err := s.Listen(path); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	defer func() {
		s.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve after Close: %v", err)
		}
	}()

	before := runtime.NumGoroutine()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /v1/capture?port=vm1 HTTP/1.1\r\nHost: vswitch\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	st := <-b.streams
	stopped := time.Now() // from here on the client reads nothing
	select {
	case <-st.closed:
	case <-time.After(timeout + 5*time.Second):
		t.Fatalf("stream still open %v after the client stopped reading", time.Since(stopped))
	}
	// The write that failed began after the last frame was taken, so the
	// handler waited at least the timeout on it.
	if waited := st.closedAt.Sub(time.Unix(0, st.last.Load())); waited < timeout {
		t.Fatalf("cut off %v after the last frame, before the write timeout %v", waited, timeout)
	}
	// Nothing asks the stream for frames after Close: the handler ended.
	n := st.n.Load()
	time.Sleep(50 * time.Millisecond)
	if st.n.Load() != n {
		t.Fatal("the stream is still read after Close")
	}
	c.Close()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > before {
		t.Fatalf("%d goroutines after the cut-off capture, %d before", got, before)
	}
}
