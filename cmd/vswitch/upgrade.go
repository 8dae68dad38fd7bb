package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

const upgradeUsage = `Usage: vswitch upgrade [--binary PATH] [-c FILE]

Hands the running vswitch over to a new process of PATH (default: the
binary the running one was started from, as it is on disk now), as
SIGUSR2 does. The new process loads the same config file, then takes the
TAP devices and AF_PACKET sockets as they are (the hosts keep their
interfaces, addresses and routes; no link goes down), the NAT table (NAT'd
connections keep their outside port) and the leases (on disk); the old
process exits once the new one forwards. If the new one does not come up,
the old one carries on and this prints why (exit status 1).

  --binary PATH   the new binary
  -c FILE         take the control socket from FILE's control:
`

// upgradeWait bounds how long the hand over may take once the new process
// has loaded its config.
const upgradeWait = 90 * time.Second

func cmdUpgrade(g globals, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("upgrade", flag.ContinueOnError)
	cfgPath := configFlag(fs, g)
	binary := fs.String("binary", "", "the new binary")
	if err := parseNoArgs(fs, args, ""); err != nil {
		return err
	}
	c, err := client(g.control, *cfgPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), upgradeWait)
	defer cancel()
	res, err := c.Upgrade(ctx, *binary)
	if err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	fmt.Fprintf(stdout, "handing over: pid %d -> %d\n", res.OldPID, res.NewPID)
	// The socket goes quiet while the processes trade places: ask until
	// the new one answers, or the old one says it carried on.
	for {
		st, err := c.Status(ctx)
		switch {
		case err == nil && st.PID == res.NewPID:
			fmt.Fprintf(stdout, "upgraded: pid %d, version %s, %d ports and uplinks handed over\n", st.PID, st.Version, len(st.Inherited))
			return nil
		case err == nil && st.PID == res.OldPID && st.LastUpgradeError != "":
			return fmt.Errorf("upgrade failed, pid %d carries on: %s", st.PID, st.LastUpgradeError)
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return fmt.Errorf("upgrade: no answer from pid %d or %d within %s", res.OldPID, res.NewPID, upgradeWait)
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}
