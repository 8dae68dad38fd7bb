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

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// runMain runs the CLI with args (without the program name) and returns
// the exit code.
func runMain(args []string, stdout, stderr io.Writer) int {
	g, args, err := takeGlobalFlags(args)
	if err == nil {
		err = dispatch(g, args, stdout, stderr)
	}
	if err == nil {
		return exitOK
	}
	var help *helpRequest
	var ue *usageError
	var ce *configError
	var re *rejectedError
	switch {
	case errors.As(err, &help):
		fmt.Fprint(stdout, usageOf(help.cmd))
		return exitOK
	case errors.As(err, &ue):
		if ue.msg != "" {
			fmt.Fprintln(stderr, "vswitch:", ue.msg)
		}
		fmt.Fprint(stderr, usageOf(ue.cmd))
		return exitUsage
	case errors.As(err, &ce):
		fmt.Fprintln(stderr, strings.TrimRight(ce.err.Error(), "\n"))
		return exitUsage
	case errors.As(err, &re):
		fmt.Fprintln(stderr, "vswitch:", re.err)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "vswitch:", err)
		return exitRuntime
	}
}

// globals are the flags every command takes.
type globals struct {
	control string // --control SOCKET, anywhere
	config  string // -c FILE before the command: the default of its -c
}

// takeGlobalFlags removes --control SOCKET (--control=SOCKET, one dash
// or two) from anywhere in args, and -c FILE from before the command.
func takeGlobalFlags(args []string) (globals, []string, error) {
	var g globals
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		beforeCmd := len(rest) == 0
		name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		var dst *string
		switch {
		case !strings.HasPrefix(a, "-"):
		case name == "control":
			dst = &g.control
		case name == "c" && beforeCmd:
			dst = &g.config
		}
		if dst == nil {
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return g, nil, usagef("", "--%s needs a value", name)
			}
			value = args[i+1]
			i++
		}
		if value == "" {
			return g, nil, usagef("", "--%s needs a value", name)
		}
		*dst = value
	}
	return g, rest, nil
}

func dispatch(g globals, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("", "")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		return cmdRun(g, rest, stderr)
	case "config":
		return cmdConfig(g, rest, stdout)
	case "show":
		return cmdShow(g, rest, stdout)
	case "port":
		return cmdPort(g, rest, stdout)
	case "capture":
		return cmdCapture(g, rest, stdout, stderr)
	case "reload":
		return cmdReload(g, rest, stdout)
	case "upgrade":
		return cmdUpgrade(g, rest, stdout)
	case "version", "--version", "-version":
		if len(rest) > 0 && isHelp(rest[0]) {
			return &helpRequest{"version"}
		}
		if len(rest) > 0 {
			return usagef("version", "version takes no arguments")
		}
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "--help", "-help":
		if len(rest) > 0 {
			topic := strings.Join(rest, " ")
			if _, ok := usages[topic]; !ok {
				return usagef("", "no help on %q", topic)
			}
			return &helpRequest{topic}
		}
		return &helpRequest{""}
	default:
		return usagef("", "unknown command %q", cmd)
	}
}

func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "-help" || a == "help" }
