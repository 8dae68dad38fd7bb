package tap

import (
	"errors"
	"fmt"
	"net"
	"os"

	vswitch "github.com/vswitch/vswitch/switch"
)

// closedErr turns an error that happened because the port was closed into
// one that wraps vswitch.ErrClosed, so the switch's loops stop quietly.
func closedErr(kind, name string, closed bool, err error) error {
	if err != nil && (closed || errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed)) {
		return fmt.Errorf("%s %s: %w", kind, name, vswitch.ErrClosed)
	}
	return err
}
