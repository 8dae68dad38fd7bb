package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vswitch/vswitch/control"
)

// portSpec is a port as the config spells it; POST /v1/ports takes it.
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
	MaxMACs int      `json:"max_macs,omitempty"`
	MTU     int      `json:"mtu,omitempty"`
}

// parsePortAdd turns `port add NAME --flags...` into a spec.
func parsePortAdd(args []string) (portSpec, error) {
	var s portSpec
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return s, usagef("port add needs a NAME first")
	}
	s.Name = args[0]
	fs := flag.NewFlagSet("port add", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&s.Type, "type", "", "afpacket, tap or qemu")
	fs.StringVar(&s.Device, "device", "", "interface (afpacket)")
	fs.StringVar(&s.Socket, "socket", "", "unix socket (qemu)")
	fs.StringVar(&s.Listen, "listen", "", "loopback TCP address (qemu)")
	fs.StringVar(&s.Netns, "netns", "", "network namespace")
	vlan := fs.Uint("vlan", 0, "access VLAN")
	trunk := fs.String("trunk", "", "tagged VLANs, e.g. 10,20")
	native := fs.Uint("native", 0, "untagged VLAN of a trunk")
	fs.IntVar(&s.MaxMACs, "max-macs", 0, "MAC limit")
	fs.IntVar(&s.MTU, "mtu", 0, "MTU (tap)")
	if err := fs.Parse(args[1:]); err != nil {
		return s, usagef("port add: %v", err)
	}
	if fs.NArg() > 0 {
		return s, usagef("port add: unexpected %q", fs.Arg(0))
	}
	if s.Type == "" {
		return s, usagef("port add needs --type")
	}
	if *vlan > 4094 || *native > 4094 {
		return s, usagef("port add: VLAN IDs are 1-4094")
	}
	if *trunk != "" {
		if *vlan != 0 {
			return s, usagef("port add: --vlan and --trunk exclude each other")
		}
		for _, f := range strings.Split(*trunk, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || v < 1 || v > 4094 {
				return s, usagef("port add: --trunk %q: %q is not a VLAN ID", *trunk, f)
			}
			s.Trunk = append(s.Trunk, uint16(v))
		}
	} else if *native != 0 {
		return s, usagef("port add: --native needs --trunk")
	}
	s.VLAN, s.Native = uint16(*vlan), uint16(*native)
	return s, nil
}

func cmdPort(socket string, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("port: add or del?")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch args[0] {
	case "add":
		spec, err := parsePortAdd(args[1:])
		if err != nil {
			return err
		}
		ps, err := client(socket).AddPort(ctx, spec)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		printPorts(tw, []control.PortStatus{ps})
		return tw.Flush()
	case "del", "delete", "rm":
		if len(args) != 2 {
			return usagef("port del NAME")
		}
		if err := client(socket).DeletePort(ctx, args[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "port %s removed\n", args[1])
		return nil
	}
	return usagef("port: unknown subcommand %q", args[0])
}
