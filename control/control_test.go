package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// fakeBackend is an in-memory Backend for testing the API's own logic.
// A port spec whose name starts with "err-" makes AddPort fail with the
// error named in fail.
type fakeBackend struct {
	mu    sync.Mutex
	ports []PortStatus
	fail  map[string]error
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
	if err, ok := f.fail[p.Name]; ok {
		return PortStatus{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, q := range f.ports {
		if q.Name == p.Name {
			return PortStatus{}, fmt.Errorf("port %s: %w", p.Name, ErrExists)
		}
	}
	ps := PortStatus{Name: p.Name, Type: p.Type, Mode: "access", VLAN: 1, Up: true, Drops: map[string]uint64{}}
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

// fullBackend also has leases and conntrack.
type fullBackend struct{ fakeBackend }

func (*fullBackend) Leases() []Lease {
	return []Lease{{Network: "default", MAC: "52:54:00:00:00:10", IP: "192.168.122.10", Hostname: "web",
		Expiry: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), State: "bound"}}
}

func (*fullBackend) Conntrack() []ConnEntry {
	return []ConnEntry{{Proto: "tcp", Inside: "192.168.122.10:4000 -> 1.1.1.1:80", Outside: "10.0.0.5:61000 -> 1.1.1.1:80",
		State: "established", TranslatedPort: 61000, PacketsOut: 3}}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// serve starts a server for b on a socket in a fresh directory (which
// Listen creates) and returns a client for it.
func serve(t *testing.T, b Backend) (*Server, *Client, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "vswitch.sock")
	return serveAt(t, b, path), NewClient(path), path
}

func serveAt(t *testing.T, b Backend, path string) *Server {
	t.Helper()
	return serveWith(t, b, quiet(), path)
}

// serveWith starts a server for b logging to log on path; at cleanup it
// is closed and Serve must return nil.
func serveWith(t *testing.T, b Backend, log *slog.Logger, path string) *Server {
	t.Helper()
	s := NewServer(b, log)
	if err := s.Listen(path); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve after Close: %v", err)
		}
	})
	return s
}

// raw sends one request and returns the status and body.
func raw(t *testing.T, path, method, url, body string) (int, string) {
	t.Helper()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(method, "http://x"+url, strings.NewReader(body))
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	b := &fakeBackend{fail: map[string]error{
		"err-notfound": fmt.Errorf("device eth9: %w", ErrNotFound),
		"err-exists":   fmt.Errorf("device in use: %w", ErrExists),
		"err-bad":      &BadRequestError{Err: errors.New("type: want tap")},
		"err-other":    errors.New("creating TAP: operation not permitted"),
	}}
	_, _, path := serve(t, b)
	tests := []struct {
		name, method, url, body string
		status                  int
		want                    string // in the body
	}{
		{"health", "GET", "/healthz", "", 200, `"status": "ok"`},
		{"ports empty", "GET", "/v1/ports", "", 200, "[]"},
		{"add", "POST", "/v1/ports", `{"name":"vm1","type":"tap"}`, 201, `"name": "vm1"`},
		{"ports", "GET", "/v1/ports", "", 200, `"name": "vm1"`},
		{"add again", "POST", "/v1/ports", `{"name":"vm1","type":"tap"}`, 409, `"error": "port vm1: already exists"`},
		{"add no name", "POST", "/v1/ports", `{"type":"tap"}`, 400, "port needs a name"},
		{"add not json", "POST", "/v1/ports", `name: vm2`, 400, "not JSON"},
		{"add too big", "POST", "/v1/ports", `{"name":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "error"},
		{"backend not found", "POST", "/v1/ports", `{"name":"err-notfound"}`, 404, "device eth9: not found"},
		{"backend exists", "POST", "/v1/ports", `{"name":"err-exists"}`, 409, "device in use"},
		{"backend bad request", "POST", "/v1/ports", `{"name":"err-bad"}`, 400, "type: want tap"},
		{"backend other", "POST", "/v1/ports", `{"name":"err-other"}`, 500, "operation not permitted"},
		{"fdb", "GET", "/v1/fdb", "", 200, `"age_seconds": 3`},
		{"leases absent", "GET", "/v1/leases", "", 200, "[]"},
		{"mdb absent", "GET", "/v1/mdb", "", 200, "[]"},
		{"conntrack absent", "GET", "/v1/conntrack", "", 200, "[]"},
		{"capture absent", "GET", "/v1/capture?port=vm1", "", 501, `"error"`},
		{"delete", "DELETE", "/v1/ports/vm1", "", 204, ""},
		{"delete again", "DELETE", "/v1/ports/vm1", "", 404, "port vm1: not found"},
		{"wrong method", "PUT", "/v1/ports", "", 405, ""},
		{"unknown path", "GET", "/v2/ports", "", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := raw(t, path, tt.method, tt.url, tt.body)
			if status != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("%s %s: %d %q, want %d with %q", tt.method, tt.url, status, body, tt.status, tt.want)
			}
			if status >= 400 && status != 405 && tt.url != "/v2/ports" {
				var e struct{ Error string }
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
					t.Fatalf("error body %q is not {\"error\": ...}", body)
				}
			}
		})
	}
}

func TestClient(t *testing.T) {
	_, c, _ := serve(t, &fullBackend{fakeBackend{fail: map[string]error{"boom": errors.New("boom failed")}}})
	ctx := context.Background()
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	ps, err := c.AddPort(ctx, map[string]any{"name": "vm 1/x", "type": "tap"})
	if err != nil || ps.Name != "vm 1/x" || ps.Mode != "access" || !ps.Up {
		t.Fatalf("AddPort: %+v %v", ps, err)
	}
	_, err = c.AddPort(ctx, map[string]any{"name": "vm 1/x", "type": "tap"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 409 || !errors.Is(err, ErrExists) || err.Error() != "port vm 1/x: already exists" {
		t.Fatalf("duplicate: %#v", err)
	}
	if _, err := c.AddPort(ctx, map[string]any{"name": "boom"}); !errors.As(err, &ae) || ae.Status != 500 || err.Error() != "boom failed" {
		t.Fatalf("server error: %#v", err)
	}
	if _, err := c.AddPort(ctx, func() {}); err == nil {
		t.Fatal("an unencodable spec was sent")
	}
	ports, err := c.Ports(ctx)
	if err != nil || len(ports) != 1 || ports[0].Name != "vm 1/x" {
		t.Fatalf("Ports: %+v %v", ports, err)
	}
	fdb, err := c.FDB(ctx)
	if err != nil || len(fdb) != 1 || fdb[0] != (FDBEntry{VLAN: 10, MAC: "52:54:00:00:00:01", Port: "a", AgeSeconds: 3}) {
		t.Fatalf("FDB: %+v %v", fdb, err)
	}
	leases, err := c.Leases(ctx)
	if err != nil || len(leases) != 1 || leases[0].Hostname != "web" || !leases[0].Expiry.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("Leases: %+v %v", leases, err)
	}
	conns, err := c.Conntrack(ctx)
	if err != nil || len(conns) != 1 || conns[0].TranslatedPort != 61000 {
		t.Fatalf("Conntrack: %+v %v", conns, err)
	}
	// A name with a slash and a space survives the path.
	if err := c.DeletePort(ctx, "vm 1/x"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePort(ctx, "vm 1/x"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("second delete: %v", err)
	}
	resp, err := c.Get(ctx, "/v1/capture?port=x")
	if !errors.As(err, &ae) || ae.Status != http.StatusNotImplemented {
		if err == nil {
			resp.Body.Close()
		}
		t.Fatalf("capture without a CaptureBackend: %v", err)
	}
	if _, err := c.Get(ctx, "/nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "GET /nope") {
		t.Fatalf("a non-JSON error body: %v", err)
	}
}

func TestSocketFile(t *testing.T) {
	_, _, path := serve(t, &fakeBackend{})
	st, err := os.Stat(path)
	if err != nil || st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v %v, want a socket with mode 0600", st.Mode(), err)
	}
	dir, err := os.Stat(filepath.Dir(path))
	if err != nil || dir.Mode().Perm() != 0o755 {
		t.Fatalf("socket directory %v %v, want 0755", dir.Mode(), err)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("the socket directory holds %v, want only the socket", ents)
	}
}

// maxSocketPath is the longest path a unix socket can be bound to
// (sun_path holds 108 bytes with the terminating NUL).
const maxSocketPath = 107

// A socket path so long that the private temporary directory would not
// fit is still bound there (through /proc/self/fd), still 0600.
func TestSocketLongPath(t *testing.T) {
	dir := t.TempDir()
	name := strings.Repeat("d", maxSocketPath-len(dir)-len("/x.sock")-8)
	path := filepath.Join(dir, name, "x.sock")
	if len(path) > maxSocketPath {
		t.Skipf("TempDir %s too long", dir)
	}
	// A crashed vswitch's socket is there: it is replaced.
	os.MkdirAll(filepath.Dir(path), 0o755)
	testnet.StaleSocket(t, path)
	serveAt(t, &fakeBackend{}, path)
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v %v", st.Mode(), err)
	}
	if err := NewClient(path).Health(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSecondServerRefused(t *testing.T) {
	_, c, path := serve(t, &fakeBackend{})
	s2 := NewServer(&fakeBackend{}, quiet())
	err := s2.Listen(path)
	if err == nil || err.Error() != "another vswitch is running on "+path {
		t.Fatalf("second Listen: %v", err)
	}
	s2.Close()
	// The first one is untouched.
	if err := c.Health(context.Background()); err != nil {
		t.Fatalf("the running server after a refused second one: %v", err)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vswitch.sock")
	// A crashed vswitch leaves its socket file behind, nobody listening.
	testnet.StaleSocket(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	serveAt(t, &fakeBackend{}, path)
	if err := NewClient(path).Health(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestNotASocketKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vswitch.sock")
	os.WriteFile(path, []byte("precious"), 0o644)
	s := NewServer(&fakeBackend{}, quiet())
	if err := s.Listen(path); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Listen over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Fatalf("the file was touched: %q", b)
	}
}

func TestCloseRemovesSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vswitch.sock")
	s := NewServer(&fakeBackend{}, quiet())
	if err := s.Listen(path); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	if err := NewClient(path).Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v after Close", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Closed, the same server's socket can be taken by a new one at once.
	serveAt(t, &fakeBackend{}, path)
}

// Close removes only its own socket, not one a newer server made there.
func TestCloseKeepsOthersSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vswitch.sock")
	s1 := NewServer(&fakeBackend{}, quiet())
	if err := s1.Listen(path); err != nil {
		t.Fatal(err)
	}
	os.Remove(path) // someone removed it; a new server took the path
	serveAt(t, &fakeBackend{}, path)
	s1.Close()
	if err := NewClient(path).Health(context.Background()); err != nil {
		t.Fatalf("the newer server's socket went with the old server: %v", err)
	}
}

func TestClientWithoutServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.sock")
	err := NewClient(path).Health(context.Background())
	want := "cannot reach vswitch at " + path + ": is it running? (connect: no such file or directory)"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%v does not match os.ErrNotExist", err)
	}
	// A stale socket: connection refused.
	testnet.StaleSocket(t, path)
	err = NewClient(path).Health(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is it running? (connect: connection refused)") {
		t.Fatalf("stale socket: %v", err)
	}
}

func TestUnreachableMessages(t *testing.T) {
	denied := &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.EACCES)}
	e := &unreachableError{path: "/run/vswitch/vswitch.sock", err: denied}
	if !strings.Contains(e.Error(), "permission denied (the socket is mode 0600") {
		t.Fatalf("%v", e)
	}
}
