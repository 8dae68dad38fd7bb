package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
)

// fakeBackend is an in-memory Backend for testing the API's own logic.
type fakeBackend struct {
	mu    sync.Mutex
	ports []PortStatus
}

func (f *fakeBackend) Ports() []PortStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]PortStatus(nil), f.ports...)
}

func (f *fakeBackend) FDB() []FDBEntry {
	return []FDBEntry{{VLAN: 10, MAC: "52:54:00:00:00:01", Port: "a", AgeSeconds: 3}}
}

func (f *fakeBackend) AddPort(spec json.RawMessage) (PortStatus, error) {
	var p struct{ Name, Type string }
	if err := json.Unmarshal(spec, &p); err != nil || p.Name == "" {
		return PortStatus{}, &BadRequestError{Err: errors.New("port needs a name")}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, q := range f.ports {
		if q.Name == p.Name {
			return PortStatus{}, fmt.Errorf("port %s: %w", p.Name, ErrExists)
		}
	}
	ps := PortStatus{Name: p.Name, Type: p.Type, Mode: "access", VLAN: 1, Drops: map[string]uint64{}}
	f.ports = append(f.ports, ps)
	return ps, nil
}

func (f *fakeBackend) DeletePort(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, q := range f.ports {
		if q.Name == name {
			f.ports = append(f.ports[:i], f.ports[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("port %s: %w", name, ErrNotFound)
}

func serve(t *testing.T) (*Server, *Client, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "vswitch.sock")
	s := NewServer(&fakeBackend{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.Listen(path); err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Close() })
	return s, NewClient(path), path
}

func TestAPI(t *testing.T) {
	_, c, path := serve(t)
	ctx := context.Background()
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v %v", st.Mode(), err)
	}
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	if ps, err := c.AddPort(ctx, map[string]any{"name": "vm1", "type": "tap"}); err != nil || ps.Name != "vm1" {
		t.Fatalf("%+v %v", ps, err)
	}
	if _, err := c.AddPort(ctx, map[string]any{"name": "vm1", "type": "tap"}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := c.AddPort(ctx, map[string]any{"type": "tap"}); err == nil || !strings.Contains(err.Error(), "needs a name") {
		t.Fatalf("bad request: %v", err)
	}
	ports, err := c.Ports(ctx)
	if err != nil || len(ports) != 1 {
		t.Fatalf("%+v %v", ports, err)
	}
	fdb, err := c.FDB(ctx)
	if err != nil || len(fdb) != 1 || fdb[0].VLAN != 10 {
		t.Fatalf("%+v %v", fdb, err)
	}
	leases, err := c.Leases(ctx)
	if err != nil || leases == nil || len(leases) != 0 {
		t.Fatalf("leases without a DHCP backend: %+v %v", leases, err)
	}
	if err := c.DeletePort(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePort(ctx, "vm1"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("second delete: %v", err)
	}
	resp, err := c.Get(ctx, "/v1/capture?port=x")
	if err == nil {
		resp.Body.Close()
		t.Fatal("capture answered 2xx")
	}
}

func TestSecondServerRefusedStaleReplaced(t *testing.T) {
	s, _, path := serve(t)
	s2 := NewServer(&fakeBackend{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s2.Listen(path); err == nil || !strings.Contains(err.Error(), "another vswitch is running") {
		t.Fatalf("second listen: %v", err)
	}
	s.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("socket left after Close: %v", err)
	}
	// A stale socket file (a crashed vswitch) is replaced.
	os.WriteFile(path, nil, 0o600)
	if err := s2.Listen(path); err != nil {
		t.Fatal(err)
	}
	s2.Close()
}

func TestClientWithoutServer(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "none.sock"))
	err := c.Health(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is it running?") {
		t.Fatalf("%v", err)
	}
}

// fakeStream yields numbered frames forever, one per millisecond.
type fakeStream struct {
	n      int
	closed chan struct{}
}

func (f *fakeStream) Next(ctx context.Context) (time.Time, []byte, error) {
	select {
	case <-ctx.Done():
		return time.Time{}, nil, ctx.Err()
	case <-time.After(time.Millisecond):
	}
	f.n++
	b := make([]byte, 60)
	b[59] = byte(f.n)
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
	path := filepath.Join(t.TempDir(), "c.sock")
	b := &captureBackend{streams: make(chan *fakeStream, 4)}
	s := NewServer(b, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.Listen(path); err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Close()
	c := NewClient(path)
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
	io.Copy(io.Discard, resp.Body)
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
	select {
	case <-(<-b.streams).closed:
	case <-time.After(3 * time.Second):
		t.Fatal("stream not closed after the client left")
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after the capture, %d before", n, before)
	}
}
