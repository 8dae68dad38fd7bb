package control

import (
	"errors"
	"fmt"

	"github.com/vswitch/vswitch/internal/unixsock"
)

// listen binds path, mode 0600 (see Server.Listen). Two vswitches starting
// at the same moment take turns (unixsock locks the directory), so the
// second finds the first one's socket alive and stops; it never replaces
// it.
func listen(path string) (*unixsock.Socket, error) {
	sock, err := unixsock.Listen(path, unixsock.Options{Mode: 0o600})
	if errors.Is(err, unixsock.ErrInUse) {
		return nil, fmt.Errorf("another vswitch is running on %s", path)
	}
	return sock, err
}
