package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/control"
)

func client(socket string) *control.Client {
	if socket == "" {
		socket = config.DefaultControl
	}
	return control.NewClient(socket)
}

func cmdShow(socket string, args []string, stdout io.Writer) error {
	asJSON := false
	var what string
	for _, a := range args {
		switch a {
		case "--json", "-json":
			asJSON = true
		default:
			if what != "" {
				return usagef("show: unexpected %q", a)
			}
			what = a
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := client(socket)
	var v any
	var err error
	switch what {
	case "ports":
		v, err = c.Ports(ctx)
	case "fdb":
		v, err = c.FDB(ctx)
	case "leases":
		v, err = c.Leases(ctx)
	case "conntrack":
		v, err = c.Conntrack(ctx)
	default:
		return usagef("show: ports, fdb, conntrack or leases?")
	}
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	switch v := v.(type) {
	case []control.PortStatus:
		printPorts(tw, v)
	case []control.FDBEntry:
		fmt.Fprintln(tw, "VLAN\tMAC\tPORT\tAGE\tSTATIC")
		for _, e := range v {
			age := fmt.Sprintf("%.0fs", e.AgeSeconds)
			if e.Static {
				age = "-"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%v\n", e.VLAN, e.MAC, e.Port, age, e.Static)
		}
	case []control.Lease:
		fmt.Fprintln(tw, "NETWORK\tMAC\tIP\tHOSTNAME\tEXPIRES")
		for _, l := range v {
			exp := l.Expiry.Format(time.RFC3339)
			if l.Static {
				exp += " (static)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", l.Network, l.MAC, l.IP, dash(l.Hostname), exp)
		}
	case []control.ConnEntry:
		fmt.Fprintln(tw, "PROTO\tINSIDE\tOUTSIDE\tSTATE\tAGE\tPKTS OUT/IN\tBYTES OUT/IN")
		for _, e := range v {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.0fs\t%d/%d\t%d/%d\n", e.Proto, e.Inside, e.Outside, e.State, e.AgeSeconds, e.PacketsOut, e.PacketsIn, e.BytesOut, e.BytesIn)
		}
	}
	return nil
}

func printPorts(w io.Writer, ports []control.PortStatus) {
	fmt.Fprintln(w, "NAME\tTYPE\tVLANS\tMACS\tRX-PKTS\tRX-BYTES\tTX-PKTS\tTX-BYTES\tQUEUE\tDROPS")
	for _, p := range ports {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d/%d\t%s\n", p.Name, p.Type, vlans(p), p.MACs,
			p.RxPackets, p.RxBytes, p.TxPackets, p.TxBytes, p.QueueLen, p.QueueCap, drops(p.Drops))
	}
}

func vlans(p control.PortStatus) string {
	if p.Mode != "trunk" {
		return fmt.Sprint(p.VLAN)
	}
	s := make([]string, len(p.Trunk))
	for i, v := range p.Trunk {
		s[i] = fmt.Sprint(v)
	}
	out := "trunk " + strings.Join(s, ",")
	if p.Native != 0 {
		out += fmt.Sprintf(" native %d", p.Native)
	}
	return out
}

func drops(m map[string]uint64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, ",")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
