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
	"time"
)

// Server serves the API on a unix socket.
type Server struct {
	b    Backend
	log  *slog.Logger
	http *http.Server
	ln   net.Listener
	path string
}

// NewServer returns a server for b.
func NewServer(b Backend, log *slog.Logger) *Server {
	s := &Server{b: b, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /v1/ports", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, nonNil(s.b.Ports()))
	})
	mux.HandleFunc("POST /v1/ports", s.addPort)
	mux.HandleFunc("DELETE /v1/ports/{name}", func(w http.ResponseWriter, r *http.Request) {
		if err := s.b.DeletePort(r.PathValue("name")); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /v1/fdb", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, nonNil(s.b.FDB()))
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
	mux.HandleFunc("GET /v1/capture", s.capture)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return s
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Server) addPort(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		writeError(w, &BadRequestError{Err: fmt.Errorf("reading body: %w", err)})
		return
	}
	if !json.Valid(body) {
		writeError(w, &BadRequestError{Err: errors.New("body is not JSON")})
		return
	}
	ps, err := s.b.AddPort(body)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, ps)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	var br *BadRequestError
	switch {
	case errors.As(err, &br):
		code = http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrExists):
		code = http.StatusConflict
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// Listen creates the socket at path (and its directory), refusing if a
// live vswitch answers there and replacing a stale socket file.
func (s *Server) Listen(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("another vswitch is running on %s", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing stale socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return err
	}
	s.ln, s.path = ln, path
	return nil
}

// Serve answers requests until Close.
func (s *Server) Serve() error {
	err := s.http.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server and removes the socket file.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if s.ln != nil {
		s.ln.Close()
		os.Remove(s.path)
	}
	return err
}
