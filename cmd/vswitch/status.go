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
	fmt.Fprintf(w, "started:        %s\n", ago(st.Started))
	fmt.Fprintf(w, "config:         %s, applied %s\n", st.ConfigSource, ago(st.ConfigLoaded))
	if st.LastReloadFailed {
		fmt.Fprintln(w, "last reload:    refused (the log says why; the config above is what runs)")
	}
	re := "none"
	if len(st.Reattached) > 0 {
		re = strings.Join(st.Reattached, " ")
	}
	_, err := fmt.Fprintf(w, "reattached:     %s\n", re)
	return err
}
