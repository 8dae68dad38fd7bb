package control

import (
	"errors"
	"fmt"
	"net"

	"github.com/vswitch/vswitch/internal/unixsock"
)

// Adopt serves on a listener another process bound at path and handed
// over (a binary upgrade), instead of Listen.
func (s *Server) Adopt(ln *net.UnixListener, path string) error {
	if s.sock != nil {
		return fmt.Errorf("control: already listening on %s", s.sock.Path())
	}
	sock, err := unixsock.Adopt(ln, path)
	if err != nil {
		return err
	}
	s.sock = sock
	return nil
}

// Listener is the listening socket, for a hand over; nil before Listen.
func (s *Server) Listener() net.Listener {
	if s.sock == nil {
		return nil
	}
	return s.sock.UnixListener
}

// KeepSocket makes Close leave the socket file: another process serves
// on it now.
func (s *Server) KeepSocket() error {
	if s.sock == nil {
		return errors.New("control: not listening")
	}
	s.sock.Keep()
	return nil
}
