package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/vswitch/vswitch/internal/testnet"
)

// logBuffer is a slog handler's output that handlers in server goroutines
// write while the test reads.
type logBuffer = testnet.LockedBuffer

// textLog logs at level to buf without times and durations, which vary.
func textLog(buf io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "duration" {
				return slog.Attr{}
			}
			return a
		}}))
}

func serveLogged(t *testing.T, b Backend, log *slog.Logger) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vswitch.sock")
	serveWith(t, b, log, path)
	return path
}

// waitLog waits until the log holds want, which is then its whole text:
// a request's line is written as its handler returns, which may be just
// after the client has the answer.
func waitLog(t *testing.T, l *logBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for l.String() != want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := l.String(); got != want {
		t.Fatalf("log\n%s\nwant\n%s", got, want)
	}
}

// Every request is logged at debug with the status it was answered;
// server errors other than 501 at warn; port changes at info.
func TestRequestLog(t *testing.T) {
	var l logBuffer
	path := serveLogged(t, &fakeBackend{fail: map[string]error{"err-other": errors.New("no TAP for you")}}, textLog(&l, slog.LevelDebug))
	for _, r := range []struct{ method, url, body string }{
		{"GET", "/healthz", ""},
		{"POST", "/v1/ports", `{"name":"vm1","type":"tap"}`},
		{"POST", "/v1/ports", `{"name":"err-other"}`},
		{"GET", "/v1/capture?port=vm1", ""},
		{"DELETE", "/v1/ports/vm1", ""},
		{"DELETE", "/v1/ports/vm1", ""},
		{"GET", "/v2/nothing", ""},
	} {
		raw(t, path, r.method, r.url, r.body)
	}
	waitLog(t, &l, `level=DEBUG msg="control API" method=GET path=/healthz status=200
level=INFO msg="port added" port=vm1 type=tap
level=DEBUG msg="control API" method=POST path=/v1/ports status=201
level=WARN msg="control API" method=POST path=/v1/ports status=500
level=DEBUG msg="control API" method=GET path=/v1/capture status=501
level=INFO msg="port deleted" port=vm1
level=DEBUG msg="control API" method=DELETE path=/v1/ports/vm1 status=204
level=DEBUG msg="control API" method=DELETE path=/v1/ports/vm1 status=404
level=DEBUG msg="control API" method=GET path=/v2/nothing status=404
`)
}

// A nil logger discards: the server still answers and logs nowhere.
func TestNilLog(t *testing.T) {
	path := serveLogged(t, &fakeBackend{}, nil)
	if status, body := raw(t, path, "POST", "/v1/ports", `{"name":"vm1","type":"tap"}`); status != 201 || !strings.Contains(body, `"name": "vm1"`) {
		t.Fatalf("add with a nil log: %d %s", status, body)
	}
	if status, _ := raw(t, path, "DELETE", "/v1/ports/vm1", ""); status != 204 {
		t.Fatalf("delete with a nil log: %d", status)
	}
}

// statusWriter: the first status wins, a body without one is 200, and no
// answer at all counts as 200.
func TestStatusWriter(t *testing.T) {
	rec := &recorder{}
	w := &statusWriter{ResponseWriter: rec}
	if w.Status() != 200 {
		t.Fatalf("nothing written: %d", w.Status())
	}
	w.WriteHeader(404)
	w.WriteHeader(500)
	w.Write([]byte("x"))
	if w.Status() != 404 {
		t.Fatalf("404 then 500 then a body: %d", w.Status())
	}
	w = &statusWriter{ResponseWriter: rec}
	w.Write([]byte("x"))
	w.WriteHeader(500)
	if w.Status() != 200 {
		t.Fatalf("a body then 500: %d", w.Status())
	}
	if w.Unwrap() != http.ResponseWriter(rec) {
		t.Fatal("Unwrap")
	}
}

type recorder struct{ h http.Header }

func (r *recorder) Header() http.Header {
	if r.h == nil {
		r.h = http.Header{}
	}
	return r.h
}
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(int)             {}

// readAPIError: the JSON message, else a short text body, else the status.
func TestReadAPIError(t *testing.T) {
	long := strings.Repeat("x", 200)
	for _, tt := range []struct {
		status int
		body   string
		want   string
	}{
		{400, `{"error": "port.vlan: 5000 is not a VLAN ID (1-4094)"}`, "port.vlan: 5000 is not a VLAN ID (1-4094)"},
		{404, "404 page not found\n", "GET /v1/x: 404 page not found"},
		{500, long[:199], "GET /v1/x: " + long[:199]},
		{500, long, "GET /v1/x: 500 Internal Server Error"},
		{502, "", "GET /v1/x: 502 Bad Gateway"},
		{502, " \n", "GET /v1/x: 502 Bad Gateway"},
		{500, `{"error": ""}`, `GET /v1/x: {"error": ""}`},
	} {
		req := &http.Request{Method: "GET", URL: &url.URL{Path: "/v1/x"}}
		resp := &http.Response{StatusCode: tt.status, Status: fmt.Sprintf("%d %s", tt.status, http.StatusText(tt.status)),
			Body: io.NopCloser(strings.NewReader(tt.body)), Request: req}
		err := readAPIError(resp)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != tt.status || err.Error() != tt.want {
			t.Errorf("%d %q: %v, want %q", tt.status, tt.body, err, tt.want)
		}
	}
}

// slowStream gives a frame at each of its due times, then blocks until
// its context ends.
type slowStream struct {
	due    []time.Time
	n      int
	closed chan struct{}
}

func (s *slowStream) Next(ctx context.Context) (time.Time, []byte, error) {
	if s.n >= len(s.due) {
		<-ctx.Done()
		return time.Time{}, nil, ctx.Err()
	}
	return numberedFrame(ctx, time.After(time.Until(s.due[s.n])), &s.n)
}
func (s *slowStream) Dropped() uint64 { return 0 }
func (s *slowStream) Close()          { close(s.closed) }

// slowBackend's captures give frames at offsets from their start.
type slowBackend struct {
	fakeBackend
	at      []time.Duration
	streams chan *slowStream
}

func (b *slowBackend) StartCapture(string) (CaptureStream, error) {
	s := &slowStream{closed: make(chan struct{})}
	for _, d := range b.at {
		s.due = append(s.due, time.Now().Add(d))
	}
	b.streams <- s
	return s, nil
}

// readRecords reads n records, each within timeout, and checks their
// numbering.
func readRecords(t *testing.T, r *pcapgo.Reader, n int, timeout time.Duration) {
	t.Helper()
	for i := 1; i <= n; i++ {
		got := make(chan error, 1)
		go func() {
			data, _, err := r.ReadPacketData()
			if err == nil && (len(data) != 60 || data[59] != byte(i)) {
				err = fmt.Errorf("record %d: % x", i, data)
			}
			got <- err
		}()
		if err := testnet.Recv(t, got, timeout, fmt.Sprintf("record %d", i)); err != nil {
			t.Fatal(err)
		}
	}
}

// openCapture serves b and GETs the capture at url with ctx; it returns
// a pcap reader of the body, which is closed at cleanup.
func openCapture(t *testing.T, ctx context.Context, b Backend, url string) *pcapgo.Reader {
	t.Helper()
	resp, err := NewClient(serveLogged(t, b, quiet())).Get(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	r, err := pcapgo.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A capture outlives quiet spells longer than its flush interval, and
// --count N ends it after exactly N records.
func TestCaptureQuietStream(t *testing.T) {
	b := &slowBackend{at: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond}, streams: make(chan *slowStream, 1)}
	r := openCapture(t, context.Background(), b, "/v1/capture?port=vm1&count=3")
	readRecords(t, r, 3, 2*time.Second)
	if data, _, err := r.ReadPacketData(); err != io.EOF {
		t.Fatalf("after 3 of count=3: % x %v, want EOF", data, err)
	}
	<-(<-b.streams).closed
}

// A frame that comes just after a flush is pushed out by the next idle
// wake-up, not held until more frames come (count=0: no limit).
func TestCaptureIdleFlush(t *testing.T) {
	b := &slowBackend{at: []time.Duration{250 * time.Millisecond, 260 * time.Millisecond}, streams: make(chan *slowStream, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := openCapture(t, ctx, b, "/v1/capture?port=vm1&count=0")
	readRecords(t, r, 2, time.Second)
	cancel()
	<-(<-b.streams).closed
}
