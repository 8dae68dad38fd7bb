package daemon

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vswitch/vswitch/config"
)

// Run starts vswitch with cfg and blocks until ctx is done, then stops it
// cleanly: ports closed, devices removed, the control socket removed.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	return errors.New("daemon: not implemented yet")
}
