// Command vswitch runs the userspace virtual switch and talks to a running
// one over its control socket. See `vswitch help`.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

var version = "dev" // set with -ldflags "-X main.version=..."

// Exit codes: 0 ok, 1 runtime error, 2 usage or config error.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

// usageError makes main exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

const usage = `vswitch: a userspace virtual switch

Usage:
  vswitch run [-c FILE] [-log-level LEVEL] [-log-format text|json]
  vswitch config check -c FILE
  vswitch config default
  vswitch show ports|fdb|conntrack|leases [--json]
  vswitch port add NAME --type afpacket|tap|qemu [--device DEV] [--socket PATH] [--listen ADDR]
                   [--vlan N | --trunk 10,20 [--native N]] [--netns NS] [--max-macs N] [--mtu N]
  vswitch port del NAME
  vswitch capture PORT [-w FILE] [--count N]
  vswitch version

Global flag (before or after the command):
  --control SOCKET   control socket (default: the config's control:, or /run/vswitch/vswitch.sock)
`

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

func runMain(args []string, stdout, stderr io.Writer) int {
	control, args, err := takeControlFlag(args)
	if err == nil {
		err = dispatch(control, args, stdout, stderr)
	}
	if err == nil {
		return exitOK
	}
	var ue *usageError
	var ce *configError
	switch {
	case errors.As(err, &ue):
		if ue.msg != "" {
			fmt.Fprintln(stderr, "vswitch:", ue.msg)
		}
		fmt.Fprint(stderr, usage)
		return exitUsage
	case errors.As(err, &ce):
		fmt.Fprintln(stderr, ce.err)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "vswitch:", err)
		return exitRuntime
	}
}

// takeControlFlag removes --control SOCKET (or --control=SOCKET) from
// anywhere in args.
func takeControlFlag(args []string) (string, []string, error) {
	var control string
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--control" || a == "-control":
			if i+1 >= len(args) {
				return "", nil, usagef("--control needs a socket path")
			}
			control = args[i+1]
			i++
		case strings.HasPrefix(a, "--control=") || strings.HasPrefix(a, "-control="):
			control = a[strings.Index(a, "=")+1:]
		default:
			rest = append(rest, a)
		}
	}
	return control, rest, nil
}

func dispatch(control string, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		return cmdRun(control, rest, stderr)
	case "config":
		return cmdConfig(rest, stdout)
	case "show":
		return cmdShow(control, rest, stdout)
	case "port":
		return cmdPort(control, rest, stdout)
	case "capture":
		return cmdCapture(control, rest, stdout)
	case "version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return usagef("unknown command %q", cmd)
	}
}
