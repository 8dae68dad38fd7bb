package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

const usage = `vswitch: a userspace virtual switch

Usage:
  vswitch run [-c FILE] [-log-level LEVEL] [-log-format text|json]
  vswitch config check -c FILE
  vswitch config default
  vswitch show ports|fdb|mdb|conntrack|leases|evpn|status [--json]
  vswitch port add NAME --type afpacket|qemu|tap [--device DEV] [--socket PATH] [--listen ADDR]
                   [--vlan N | --trunk 10,20 [--native N]] [--netns NS] [--max-macs N] [--max-groups N] [--mtu N]
                   [--mac MAC] [--queue N]
  vswitch port del NAME
  vswitch capture PORT [-w FILE] [--count N]
  vswitch reload
  vswitch upgrade [--binary PATH]
  vswitch version
  vswitch help [COMMAND]

Global flags:
  --control SOCKET   the control socket, before or after the command (default:
                     the control: of -c FILE, else /run/vswitch/vswitch.sock)
  -c FILE            the config file: run and config check load it; show, port
                     and capture take the socket from its control:

Exit status: 0 ok, 1 error (e.g. vswitch not running), 2 bad usage or config.
`

// usages are the texts of `vswitch help CMD` and `vswitch CMD -h`.
var usages = map[string]string{
	"":               usage,
	"run":            runUsage,
	"config":         configUsage,
	"config check":   configUsage,
	"config default": configUsage,
	"show":           showUsage,
	"port":           portUsage,
	"port add":       portUsage,
	"port del":       portUsage,
	"capture":        captureUsage,
	"reload":         reloadUsage,
	"upgrade":        upgradeUsage,
	"version":        versionUsage,
}

const runUsage = `Usage: vswitch run [-c FILE] [-log-level LEVEL] [-log-format text|json]

Runs the switch in the foreground until SIGINT or SIGTERM, then stops
cleanly (ports closed, TAP devices and the control socket removed).
SIGHUP reloads the config file, as 'vswitch reload' does; SIGUSR2 hands
over to a new process, as 'vswitch upgrade' does. After a crash
or kill -9 the TAP devices stay, and the next run takes them back.
A second SIGINT or SIGTERM while stopping kills it at once.

  -c FILE                config file (default: the embedded default config,
                         which 'vswitch config default' prints)
  -log-level LEVEL       debug, info, warn or error (default info)
  -log-format FORMAT     text or json (default text); logs go to stderr
  --control SOCKET       serve the API here instead of the config's control:

A bad config exits 2 with FILE:LINE: reason lines, as 'config check' does.
`

const configUsage = `Usage:
  vswitch config check -c FILE   validate FILE: prints "FILE: ok", or the
                                 errors as FILE:LINE: reason and exits 2
  vswitch config default         print the embedded default config
`

const showUsage = `Usage: vswitch show ports|fdb|mdb|conntrack|leases|evpn|status [--json] [-c FILE]

Prints a table, or with --json the API's JSON (GET /v1/ports, ...).

  --json      print the API's JSON, indented
  -c FILE     take the control socket from FILE's control:
`

const portUsage = `Usage:
  vswitch port add NAME --type afpacket|qemu|tap [--device DEV] [--socket PATH] [--listen ADDR]
                   [--vlan N | --trunk 10,20 [--native N]] [--netns NS] [--max-macs N] [--max-groups N] [--mtu N]
                   [--mac MAC] [--queue N]
  vswitch port del NAME

port add creates a port at run time, as a ports: entry of the config would:
  --type TYPE       afpacket (an existing interface), tap (a TAP device
                    vswitch creates) or qemu (a QEMU stream socket)
  --device DEV      the interface to attach (afpacket); a TAP is named NAME
  --socket PATH     the unix socket a VM connects to (qemu)
  --listen ADDR     a loopback TCP address a VM connects to (qemu)
  --vlan N          access VLAN (default 1)
  --trunk LIST      tagged VLANs of a trunk port, e.g. 10,20
  --native N        the untagged VLAN of a trunk port
  --netns NS        move a TAP's kernel side into the named netns
  --max-macs N      most MAC addresses the port may hold in the FDB
                    (default 16 for tap and qemu, none for afpacket; 0: none)
  --max-groups N    most multicast groups the port may join (default 256;
                    0: none)
  --mtu N           MTU of a TAP device
  --mac MAC         the MAC address of a TAP device's kernel side
  --queue N         egress queue length in frames (a power of two)
  -c FILE           take the control socket from FILE's control:
port del removes the port and its FDB entries.
`

const captureUsage = `Usage: vswitch capture PORT [-w FILE] [--count N] [-c FILE]

Streams the frames PORT receives and sends as pcap, until Ctrl-C, --count
frames, or the port goes away:
  vswitch capture vm1 | tcpdump -nr -
  vswitch capture vm1 | wireshark -k -i -

  -w FILE       write to FILE instead of stdout ("-": stdout)
  --count N     stop after N frames
  -c FILE       take the control socket from FILE's control:
`

const versionUsage = `Usage: vswitch version

Prints vswitch's version and the Go version it was built with.
`

func usageOf(cmd string) string {
	if u, ok := usages[cmd]; ok {
		return u
	}
	return usage
}

// usageError makes main print the message and cmd's usage, and exit 2.
type usageError struct{ cmd, msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// helpRequest makes main print cmd's usage on stdout and exit 0.
type helpRequest struct{ cmd string }

func (h *helpRequest) Error() string { return "help requested" }

// parseFlags parses args with fs, flags and positional arguments in any
// order ("show fdb --json" and "show --json fdb"), and returns the
// positional ones; everything after "--" is positional. fs's name is the
// command whose usage an error shows.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, &helpRequest{fs.Name()}
			}
			return nil, usagef(fs.Name(), "%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseNoArgs is parseFlags for a command that takes flags only: an
// argument left over is a usage error, with hint after it.
func parseNoArgs(fs *flag.FlagSet, args []string, hint string) error {
	pos, err := parseFlags(fs, args)
	if err == nil && len(pos) > 0 {
		err = usagef(fs.Name(), "%s: unexpected %q%s", fs.Name(), pos[0], hint)
	}
	return err
}
