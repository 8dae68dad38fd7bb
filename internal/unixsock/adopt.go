package unixsock

import (
	"fmt"
	"io/fs"
	"net"
	"os"
)

// Adopt makes a Socket of a listener another process bound at path and
// handed over (a binary upgrade): Close removes the file as for one
// Listen made, if it is still the file there now.
func Adopt(ln *net.UnixListener, path string) (*Socket, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("adopting the socket at %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return nil, fmt.Errorf("adopting the socket at %s: %w", path, ErrNotSocket)
	}
	ln.SetUnlinkOnClose(false)
	return &Socket{UnixListener: ln, path: path, fi: fi}, nil
}

// Keep makes Close leave the socket file: the listener lives on in the
// process it was handed to.
func (s *Socket) Keep() { s.keep.Store(true) }
