package unixsock

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultMode is who may connect when Options.Mode is 0: the owner only.
const DefaultMode fs.FileMode = 0o600

// Options say who may connect. The zero value is DefaultMode, owned by
// the process's user and group.
type Options struct {
	Mode  fs.FileMode // permission bits (at most 0777); 0 means DefaultMode
	Owner *Owner      // nil keeps the process's user and group
}

// Owner is the user and group a socket file is given.
type Owner struct {
	UID, GID int // -1 keeps that one
}

// Errors Listen wraps, for errors.Is.
var (
	ErrInUse     = errors.New("something already listens")
	ErrNotSocket = errors.New("not a socket, refusing to replace it")
)

// maxPath is the longest path a unix socket can be bound to (Linux's
// sun_path holds 108 bytes with the terminating NUL).
const maxPath = 107

// lockWait is how long Listen and Close wait for another process that
// holds the directory's lock (another vswitch binding a socket there).
const lockWait = 5 * time.Second

// Socket is a listening unix socket and the file it is bound to.
type Socket struct {
	*net.UnixListener
	path string
	fi   os.FileInfo // the file as bound: Close removes only this one
	keep atomic.Bool // Close leaves the file (Keep)
}

// Path is the socket file's path.
func (s *Socket) Path() string { return s.path }

// Listen creates a listening socket at path, creating its directory
// (0755) if missing. Nothing at path, or a stale socket nobody listens on
// (a crashed server's), is fine: the stale one is replaced. A socket a
// server answers on is ErrInUse; a file that is not a socket is
// ErrNotSocket; either way nothing changes.
//
// The socket is bound in a fresh 0700 directory beside path, given its
// mode and owner there, and only then linked to path (renamed over a
// stale socket), so no one ever connects to it with looser permissions.
func Listen(path string, o Options) (*Socket, error) {
	mode := o.Mode
	if mode == 0 {
		mode = DefaultMode
	}
	if mode&^fs.ModePerm != 0 {
		return nil, fmt.Errorf("socket mode %#o: only permission bits (at most 0777)", mode)
	}
	if len(path) > maxPath {
		return nil, fmt.Errorf("socket path %s is %d bytes, longer than a socket address holds (%d)", path, len(path), maxPath)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the socket directory: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	stale, err := check(path)
	if err != nil {
		return nil, err
	}
	tmpDir, err := os.MkdirTemp(dir, ".vsw")
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	defer os.RemoveAll(tmpDir)
	ln, fi, err := bindPrivate(tmpDir, mode, o.Owner)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	tmp := filepath.Join(tmpDir, "s")
	if stale {
		err = os.Rename(tmp, path)
	} else {
		// Link, unlike rename, never replaces what someone else (not
		// a vswitch: those wait for the lock) made there meanwhile.
		err = os.Link(tmp, path)
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	return &Socket{UnixListener: ln, path: path, fi: fi}, nil
}

// bindPrivate listens on dir/s and sets its mode and owner.
func bindPrivate(dir string, mode fs.FileMode, owner *Owner) (*net.UnixListener, os.FileInfo, error) {
	ln, err := bindIn(dir, "s")
	if err != nil {
		return nil, nil, err
	}
	ln.SetUnlinkOnClose(false) // the file moves; Close removes it
	tmp := filepath.Join(dir, "s")
	err = os.Chmod(tmp, mode)
	if err == nil && owner != nil {
		err = os.Lchown(tmp, owner.UID, owner.GID)
	}
	var fi os.FileInfo
	if err == nil {
		fi, err = os.Lstat(tmp)
	}
	if err != nil {
		ln.Close()
		return nil, nil, err
	}
	return ln, fi, nil
}

// check reports whether path holds a stale socket (false: nothing there),
// or why it cannot be replaced.
func check(path string) (stale bool, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if t := fi.Mode().Type(); t != fs.ModeSocket {
		return false, fmt.Errorf("%s is %s: %w", path, kind(t), ErrNotSocket)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return false, fmt.Errorf("%w on %s", ErrInUse, path)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true, nil // its server is gone
	}
	// EACCES, EAGAIN (a full backlog: someone listens): do not take over
	// a socket that may be alive.
	return false, fmt.Errorf("cannot tell whether something listens on %s: %w", path, err)
}

func kind(t fs.FileMode) string {
	switch t {
	case 0:
		return "a regular file"
	case fs.ModeDir:
		return "a directory"
	case fs.ModeSymlink:
		return "a symlink"
	case fs.ModeNamedPipe:
		return "a named pipe"
	case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
		return "a device"
	}
	return "not a socket"
}

// Close stops listening and removes the socket file, unless it is no
// longer the one Listen made (someone replaced it meanwhile).
func (s *Socket) Close() error {
	err := s.UnixListener.Close()
	if s.keep.Load() {
		return err
	}
	// Under the lock: a vswitch replacing our (now stale) socket cannot
	// do so between the check and the remove.
	unlock, lerr := lockDir(filepath.Dir(s.path))
	if lerr == nil {
		defer unlock()
	}
	if fi, e := os.Lstat(s.path); e == nil && os.SameFile(fi, s.fi) {
		os.Remove(s.path)
	}
	return err
}
