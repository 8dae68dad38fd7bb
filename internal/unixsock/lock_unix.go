//go:build unix

package unixsock

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// lockDir takes an exclusive flock on dir, waiting up to lockWait: vswitch
// processes binding sockets in dir at the same moment take turns, so one
// never replaces what the other just bound.
func lockDir(dir string) (unlock func(), err error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("locking the socket directory: %w", &os.PathError{Op: "open", Path: dir, Err: err})
	}
	deadline := time.Now().Add(lockWait)
	for {
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { unix.Close(fd) }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			break
		}
		if time.Now().After(deadline) {
			err = fmt.Errorf("held by another process for %v", lockWait)
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	unix.Close(fd)
	return nil, fmt.Errorf("locking the socket directory %s: %w", dir, err)
}
