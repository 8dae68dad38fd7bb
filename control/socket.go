package control

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// maxSocketPath is the longest path a unix socket can be bound to
// (sun_path holds 108 bytes with the terminating NUL).
const maxSocketPath = 107

// socket is the API's listening unix socket and the file it is bound to.
type socket struct {
	path string
	ln   *net.UnixListener
	fi   os.FileInfo // the socket file as bound, to remove only our own
}

// listen binds path (see Server.Listen).
func listen(path string) (*socket, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating the socket directory: %w", err)
	}
	if err := checkFree(path); err != nil {
		return nil, err
	}
	ln, err := bindPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	return &socket{path: path, ln: ln, fi: fi}, nil
}

// checkFree returns nil when nothing is at path, or a stale socket nobody
// listens on (it is replaced); an error when a server answers there, or
// path is not a socket, or it cannot tell.
func checkFree(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket: refusing to replace it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("another vswitch is running on %s", path)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil // a stale socket: its server is gone
	}
	// EACCES, EAGAIN (a full backlog: someone listens): do not take over
	// a socket that may be alive.
	return fmt.Errorf("cannot tell whether another vswitch is running on %s: %w", path, err)
}

// bindPrivate listens on path so that the socket is never reachable with
// looser permissions than 0600: it binds in a fresh 0700 directory next to
// path, chmods, then renames over path (replacing a stale socket). Where
// that temporary path would be too long for a socket, it binds path itself
// and chmods at once.
func bindPrivate(path string) (*net.UnixListener, error) {
	// MkdirTemp appends up to 10 digits to the prefix.
	if len(filepath.Join(filepath.Dir(path), ".vsw0123456789", "s")) > maxSocketPath {
		return bindDirect(path)
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".vsw")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false) // the file moves; close removes it
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

func bindDirect(path string) (*net.UnixListener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("removing the stale socket: %w", err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, err
	}
	return ln, nil
}

// close closes the listener and removes the socket file, unless another
// server has replaced it meanwhile.
func (s *socket) close() {
	s.ln.Close()
	if fi, err := os.Lstat(s.path); err == nil && os.SameFile(fi, s.fi) {
		os.Remove(s.path)
	}
}
