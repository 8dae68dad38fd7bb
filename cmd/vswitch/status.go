package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vswitch/vswitch/control"
)

// printStatus prints `show status`: the process's lifecycle.
func printStatus(w io.Writer, st control.Status, now time.Time) error {
	ago := func(t time.Time) string {
		return fmt.Sprintf("%s (%s ago)", t.Format(time.RFC3339), now.Sub(t).Round(time.Second))
	}
	fmt.Fprintf(w, "version:        %s\n", st.Version)
	if st.PID != 0 {
		fmt.Fprintf(w, "pid:            %d\n", st.PID)
	}
	fmt.Fprintf(w, "started:        %s\n", ago(st.Started))
	if st.UpgradedFrom != 0 {
		fmt.Fprintf(w, "upgraded from:  pid %d, handed over: %s\n", st.UpgradedFrom, strings.Join(st.Inherited, " "))
	}
	if st.LastUpgradeError != "" {
		fmt.Fprintf(w, "last upgrade:   failed: %s\n", st.LastUpgradeError)
	}
	fmt.Fprintf(w, "config:         %s, applied %s\n", st.ConfigSource, ago(st.ConfigLoaded))
	if st.LastReloadFailed {
		fmt.Fprintln(w, "last reload:    refused (the log says why; the config above is what runs)")
	}
	re := "none"
	if len(st.Reattached) > 0 {
		re = strings.Join(st.Reattached, " ")
	}
	if _, err := fmt.Fprintf(w, "reattached:     %s\n", re); err != nil {
		return err
	}
	for _, u := range st.Uplinks {
		var s string
		switch {
		case u.Type == "user":
			s = "user-mode (the host's own sockets)"
		case u.Address == "":
			s = "no address yet (leasing by DHCP)"
		case u.Gateway == "":
			s = u.Address + ", no default route (the DHCP lease named no router: only the outside link is reached)"
		default:
			s = u.Address + " via " + u.Gateway
		}
		if _, err := fmt.Fprintf(w, "%-16s%s\n", "uplink "+u.Name+":", s); err != nil {
			return err
		}
		if s6 := uplink6Line(u); s6 != "" {
			if _, err := fmt.Fprintf(w, "%-16s%s\n", "", s6); err != nil {
				return err
			}
		}
	}
	return nil
}

// uplink6Line is an uplink's IPv6 side, or "" without one.
func uplink6Line(u control.UplinkStatus) string {
	var s string
	switch {
	case u.Address6 == "" && u.Auto6 == "":
		return ""
	case u.Address6 == "":
		return "IPv6 auto: no address yet (waiting for the outside's router advertisements)"
	case u.Gateway6 == "":
		s = "IPv6 " + u.Address6 + ", no router yet (none advertised: only the outside link is reached)"
	default:
		s = "IPv6 " + u.Address6 + " via " + u.Gateway6
	}
	if u.Auto6 != "" {
		s += " (auto: " + u.Auto6 + ")"
	}
	return s
}
