package unixsock

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestKeepAndAdopt: a kept socket's Close leaves the file and the
// listener a duplicate holds still accepts; adopted, its Close removes
// the file; a path that is not a socket is not adopted.
func TestKeepAndAdopt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	s, err := Listen(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.UnixListener.File() // the hand over's duplicate
	if err != nil {
		t.Fatal(err)
	}
	s.Keep()
	s.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("a kept socket's file went: %v", err)
	}
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	a, err := Adopt(ln.(*net.UnixListener), path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dialing the adopted socket: %v", err)
	}
	c.Close()
	a.Close()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the adopted socket's Close left the file: %v", err)
	}
	reg := filepath.Join(t.TempDir(), "file")
	os.WriteFile(reg, nil, 0o600)
	ln2, _ := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "x"), Net: "unix"})
	defer ln2.Close()
	if _, err := Adopt(ln2, reg); !errors.Is(err, ErrNotSocket) {
		t.Fatalf("adopting a regular file's path: %v", err)
	}
}
