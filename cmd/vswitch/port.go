package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vswitch/vswitch/control"
)

// portTimeout bounds port add and del: creating a TAP or opening a
// socket is quick, but the daemon may be busy.
const portTimeout = 30 * time.Second

// portSpec is a port as the config spells it (same keys); POST /v1/ports
// takes it. Zero fields are left out, so the daemon applies the config's
// defaults.
type portSpec struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	VLAN    uint16   `json:"vlan,omitempty"`
	Trunk   []uint16 `json:"trunk,omitempty"`
	Native  uint16   `json:"native,omitempty"`
	Device  string   `json:"device,omitempty"`
	Socket  string   `json:"socket,omitempty"`
	Listen  string   `json:"listen,omitempty"`
	Netns   string   `json:"netns,omitempty"`
	MaxMACs *int     `json:"max_macs,omitempty"` // nil: the type's default
	// MaxGroups: nil, the default (256).
	MaxGroups *int   `json:"max_groups,omitempty"`
	MTU       int    `json:"mtu,omitempty"`
	MAC       string `json:"mac,omitempty"`
	Queue     int    `json:"queue,omitempty"`
}

// portAddFlags are the flags of `port add`; the plain ones write into a
// portSpec. The usage test walks fs to see every flag documented.
type portAddFlags struct {
	fs             *flag.FlagSet
	vlan, native   *int
	maxMACs        *int
	maxGroups      *int
	trunk, cfgPath *string
}

func newPortAddFlags(s *portSpec, g globals) portAddFlags {
	fs := flag.NewFlagSet("port add", flag.ContinueOnError)
	fs.StringVar(&s.Type, "type", "", "afpacket, qemu or tap")
	fs.StringVar(&s.Device, "device", "", "interface to attach (afpacket)")
	fs.StringVar(&s.Socket, "socket", "", "unix socket (qemu)")
	fs.StringVar(&s.Listen, "listen", "", "loopback TCP address (qemu)")
	fs.StringVar(&s.Netns, "netns", "", "network namespace")
	fs.StringVar(&s.MAC, "mac", "", "MAC address (tap)")
	pf := portAddFlags{fs: fs}
	pf.vlan = fs.Int("vlan", 0, "access VLAN")
	pf.trunk = fs.String("trunk", "", "tagged VLANs, e.g. 10,20")
	pf.native = fs.Int("native", 0, "untagged VLAN of a trunk")
	pf.maxMACs = fs.Int("max-macs", 0, "MAC limit")
	pf.maxGroups = fs.Int("max-groups", 0, "multicast group limit")
	fs.IntVar(&s.MTU, "mtu", 0, "MTU (tap)")
	fs.IntVar(&s.Queue, "queue", 0, "egress queue length")
	pf.cfgPath = configFlag(fs, g)
	return pf
}

// parsePortAdd turns the arguments of `port add` into a spec and the -c
// FILE the socket comes from. It checks what it can without the daemon
// (the shape of VLANs, flags that exclude each other); the daemon checks
// the rest exactly as for the config file.
func parsePortAdd(g globals, args []string) (portSpec, string, error) {
	var s portSpec
	pf := newPortAddFlags(&s, g)
	fs, vlan, trunk, native, cfgPath := pf.fs, pf.vlan, pf.trunk, pf.native, pf.cfgPath
	pos, err := parseFlags(fs, args)
	if err != nil {
		return s, "", err
	}
	switch len(pos) {
	case 0:
		return s, "", usagef("port add", "port add needs a NAME")
	case 1:
		s.Name = pos[0]
	default:
		return s, "", usagef("port add", "port add: one NAME, not %q", pos)
	}
	if s.Type == "" {
		return s, "", usagef("port add", "port add needs --type afpacket, qemu or tap")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, f := range []struct {
		name string
		v    int
	}{{"vlan", *vlan}, {"native", *native}} {
		if set[f.name] && (f.v < 1 || f.v > 4094) {
			return s, "", usagef("port add", "port add: --%s %d: VLAN IDs are 1-4094", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"max-macs", *pf.maxMACs}, {"max-groups", *pf.maxGroups}, {"mtu", s.MTU}, {"queue", s.Queue}} {
		if f.v < 0 {
			return s, "", usagef("port add", "port add: --%s %d is negative", f.name, f.v)
		}
	}
	if set["trunk"] {
		if set["vlan"] {
			return s, "", usagef("port add", "port add: --vlan and --trunk exclude each other (a trunk's untagged VLAN is --native)")
		}
		if s.Trunk, err = parseTrunk(*trunk); err != nil {
			return s, "", usagef("port add", "port add: --trunk %q: %v", *trunk, err)
		}
	} else if set["native"] {
		return s, "", usagef("port add", "port add: --native needs --trunk")
	}
	s.VLAN, s.Native = uint16(*vlan), uint16(*native)
	if set["max-macs"] { // 0 too: no limit, where tap and qemu have 16
		s.MaxMACs = pf.maxMACs
	}
	if set["max-groups"] { // 0 too: no limit, where the default is 256
		s.MaxGroups = pf.maxGroups
	}
	return s, *cfgPath, nil
}

// rejectedError is a port spec the daemon refused as invalid (400): bad
// usage like a flag parsePortAdd refuses, so main exits 2. Its message
// names the key and the reason; the usage text would bury it.
type rejectedError struct{ err error }

func (e *rejectedError) Error() string { return e.err.Error() }

// parseTrunk parses a comma-separated list of VLAN IDs: "10,20".
func parseTrunk(list string) ([]uint16, error) {
	if strings.TrimSpace(list) == "" {
		return nil, fmt.Errorf("no VLANs")
	}
	var out []uint16
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		v, err := strconv.Atoi(f)
		if err != nil || v < 1 || v > 4094 {
			return nil, fmt.Errorf("%q is not a VLAN ID (1-4094)", f)
		}
		if slices.Contains(out, uint16(v)) {
			return nil, fmt.Errorf("VLAN %d listed twice", v)
		}
		out = append(out, uint16(v))
	}
	return out, nil
}

func cmdPort(g globals, args []string, stdout io.Writer) error {
	if err := needSubcommand("port", args, "add or del"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), portTimeout)
	defer cancel()
	switch args[0] {
	case "add":
		spec, cfgPath, err := parsePortAdd(g, args[1:])
		if err != nil {
			return err
		}
		c, err := client(g.control, cfgPath)
		if err != nil {
			return err
		}
		ps, err := c.AddPort(ctx, spec)
		var ae *control.APIError
		if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
			return &rejectedError{err}
		}
		if err != nil {
			return err
		}
		return printPorts(stdout, []control.PortStatus{ps})
	case "del", "delete", "rm":
		fs := flag.NewFlagSet("port del", flag.ContinueOnError)
		cfgPath := configFlag(fs, g)
		pos, err := parseFlags(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("port del", "port del needs one NAME")
		}
		c, err := client(g.control, *cfgPath)
		if err != nil {
			return err
		}
		if err := c.DeletePort(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "port %s deleted\n", pos[0])
		return nil
	}
	return usagef("port", "port: unknown subcommand %q", args[0])
}
