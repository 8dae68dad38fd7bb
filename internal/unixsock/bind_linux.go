package unixsock

import (
	"net"
	"os"
	"strconv"
)

// bindIn listens on dir/name. A path too long for a socket address
// (108 bytes) is reached through the directory's /proc/self/fd link.
func bindIn(dir, name string) (*net.UnixListener, error) {
	path := dir + "/" + name
	if len(path) <= maxPath {
		return net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return net.ListenUnix("unix", &net.UnixAddr{Name: "/proc/self/fd/" + strconv.Itoa(int(f.Fd())) + "/" + name, Net: "unix"})
}
