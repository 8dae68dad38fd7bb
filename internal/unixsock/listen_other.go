//go:build !linux

package unixsock

import (
	"fmt"
	"net"
)

// lockDir: no lock; vswitch runs on Linux.
func lockDir(dir string) (unlock func(), err error) { return func() {}, nil }

// bindIn listens on dir/name.
func bindIn(dir, name string) (*net.UnixListener, error) {
	path := dir + "/" + name
	if len(path) > maxPath {
		return nil, fmt.Errorf("%s: too long for a socket path", path)
	}
	return net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
}
