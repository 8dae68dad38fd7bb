//go:build !linux

package unixsock

import (
	"fmt"
	"net"
)

// bindIn listens on dir/name.
func bindIn(dir, name string) (*net.UnixListener, error) {
	path := dir + "/" + name
	if len(path) > maxPath {
		return nil, fmt.Errorf("%s: too long for a socket path", path)
	}
	return net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
}
