package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/vswitch/vswitch/control"
)

const reloadUsage = `Usage: vswitch reload [-c FILE]

Makes the running vswitch read its config file again and apply the
difference (as SIGHUP does): ports added, removed or changed, networks'
dhcp.hosts and dns.hosts, DHCP ranges and options, forwards and DNS
forwarders (docs/operations.md says what each does). A file with errors, or one that changes what
cannot change while running (the rest of a network, an uplink, control:,
metrics:), is refused: the errors are printed as FILE:LINE: reason, the
exit status is 2, and nothing changes.

  -c FILE     take the control socket from FILE's control:
`

func cmdReload(g globals, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	cfgPath := configFlag(fs, g)
	if err := parseNoArgs(fs, args, ""); err != nil {
		return err
	}
	c, err := client(g.control, *cfgPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), portTimeout)
	defer cancel()
	res, err := c.Reload(ctx)
	var ae *control.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
		return &configError{err}
	}
	if err != nil {
		return err
	}
	for _, l := range []struct {
		what  string
		names []string
	}{{"added", res.Added}, {"removed", res.Removed}, {"changed", res.Changed}, {"hosts", res.Hosts}, {"networks", res.Networks}} {
		if len(l.names) > 0 {
			fmt.Fprintf(stdout, "%s: %s\n", l.what, strings.Join(l.names, " "))
		}
	}
	if len(res.Added)+len(res.Removed)+len(res.Changed)+len(res.Hosts)+len(res.Networks) == 0 {
		fmt.Fprintln(stdout, "no changes")
	}
	return nil
}
