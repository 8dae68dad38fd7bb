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
	"sync"
	"time"

	"github.com/vswitch/vswitch/internal/unixsock"
)

// Server limits.
const (
	maxBodyLen        = 64 << 10         // a POST body: one port spec
	readHeaderTimeout = 5 * time.Second  // a client that sends no request is cut off
	idleTimeout       = 60 * time.Second // keep-alive connections
	closeTimeout      = 2 * time.Second  // Close waits this long for requests in flight
)

// Server serves the API on a unix socket: Listen, then Serve, then Close.
type Server struct {
	b    Backend
	log  *slog.Logger
	http *http.Server

	// ctx is every request's base context; Close cancels it, which ends
	// streams (capture) that would otherwise hold Shutdown up.
	ctx    context.Context
	cancel context.CancelFunc

	sock *unixsock.Socket // set by Listen
	// writeTimeout is how long a capture may wait on a client that stopped
	// reading; tests shorten it before Serve.
	writeTimeout time.Duration
	closeOnce    sync.Once
	closeErr     error
}

// NewServer returns a server answering from b. A nil log discards.
func NewServer(b Backend, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{b: b, log: log, writeTimeout: writeTimeout}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /v1/ports", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, nonNil(s.b.Ports()))
	})
	mux.HandleFunc("POST /v1/ports", s.addPort)
	mux.HandleFunc("DELETE /v1/ports/{name}", s.deletePort)
	mux.HandleFunc("GET /v1/fdb", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, nonNil(s.b.FDB()))
	})
	mux.HandleFunc("GET /v1/mdb", func(w http.ResponseWriter, r *http.Request) {
		var out []MDBEntry
		if mb, ok := s.b.(MDBBackend); ok {
			out = mb.MDB()
		}
		writeJSON(w, http.StatusOK, nonNil(out))
	})
	mux.HandleFunc("GET /v1/leases", func(w http.ResponseWriter, r *http.Request) {
		var out []Lease
		if lb, ok := s.b.(LeaseBackend); ok {
			out = lb.Leases()
		}
		writeJSON(w, http.StatusOK, nonNil(out))
	})
	mux.HandleFunc("GET /v1/conntrack", func(w http.ResponseWriter, r *http.Request) {
		var out []ConnEntry
		if cb, ok := s.b.(ConntrackBackend); ok {
			out = cb.Conntrack()
		}
		writeJSON(w, http.StatusOK, nonNil(out))
	})
	mux.HandleFunc("GET /v1/evpn", s.evpn)
	mux.HandleFunc("POST /v1/reload", s.reload)
	mux.HandleFunc("POST /v1/upgrade", s.upgrade)
	mux.HandleFunc("GET /v1/status", s.status)
	// Capture: a pcap stream (capture.go); 501 if the backend cannot.
	mux.HandleFunc("GET /v1/capture", s.capture)

	s.http = &http.Server{
		Handler:           s.logged(mux),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn), // handler panics, accept errors
	}
	return s
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Server) addPort(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyLen))
	if err != nil {
		writeError(w, &BadRequestError{Err: fmt.Errorf("reading the body: %w", err)})
		return
	}
	if !json.Valid(body) {
		writeError(w, &BadRequestError{Err: errors.New("the body is not JSON: want a port as in the config, e.g. {\"name\": \"vm1\", \"type\": \"tap\"}")})
		return
	}
	ps, err := s.b.AddPort(body)
	if err != nil {
		writeError(w, err)
		return
	}
	s.log.Info("port added", "port", ps.Name, "type", ps.Type)
	writeJSON(w, http.StatusCreated, ps)
}

func (s *Server) deletePort(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.b.DeletePort(name); err != nil {
		writeError(w, err)
		return
	}
	s.log.Info("port deleted", "port", name)
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) // only a gone client fails here; nothing to tell it
}

// statusOf maps an error from a backend (or the request) to its status.
func statusOf(err error) int {
	var br *BadRequestError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &br):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrExists):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// writeError answers {"error": "message"} with the error's status.
func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, statusOf(err), map[string]string{"error": err.Error()})
}

// logged logs each request at debug level, and server errors at warn.
func (s *Server) logged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		level := slog.LevelDebug
		if sw.status >= 500 && sw.status != http.StatusNotImplemented {
			level = slog.LevelWarn
		}
		s.log.Log(r.Context(), level, "control API", "method", r.Method, "path", r.URL.Path,
			"status", sw.Status(), "duration", time.Since(start))
	})
}

// statusWriter records the status a handler answered. Unwrap lets
// http.ResponseController reach Flush and SetWriteDeadline underneath.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Status is the answered status (200 if the handler wrote nothing).
func (w *statusWriter) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Listen creates the socket at path, mode 0600, creating its directory
// (0755) if missing. It refuses when a live server answers on path and
// replaces a stale socket a crashed vswitch left; it never removes a file
// that is not a socket.
func (s *Server) Listen(path string) error {
	if s.sock != nil {
		return fmt.Errorf("control: already listening on %s", s.sock.Path())
	}
	sock, err := listen(path)
	if err != nil {
		return err
	}
	s.sock = sock
	return nil
}

// Serve answers requests on the socket Listen made until Close; it
// returns nil after Close.
func (s *Server) Serve() error {
	if s.sock == nil {
		return errors.New("control: Serve before Listen")
	}
	err := s.http.Serve(s.sock)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server: streams end at once, other requests in flight
// get closeTimeout to finish, then connections are cut. It removes the
// socket file if it is still the one Listen made. Close is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if err := s.http.Shutdown(ctx); err != nil {
			s.http.Close()
			s.closeErr = fmt.Errorf("control: stopping the API: %w", err)
		}
		if s.sock != nil {
			s.sock.Close() // http closed the listener: this removes the file
		}
	})
	return s.closeErr
}
