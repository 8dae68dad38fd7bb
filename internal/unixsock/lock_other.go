//go:build !unix

package unixsock

import "errors"

// lockDir: no flock here, so no safe way to replace a socket.
func lockDir(dir string) (unlock func(), err error) {
	return nil, errors.New("locking the socket directory: unsupported on this system")
}
