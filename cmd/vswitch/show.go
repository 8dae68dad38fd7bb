package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vswitch/vswitch/control"
)

// showTimeout bounds one `show`: the daemon answers from snapshots.
const showTimeout = 10 * time.Second

// shown are the things `show` lists, each an API path.
var shown = []string{"ports", "fdb", "mdb", "conntrack", "leases", "evpn", "status"}

func cmdShow(g globals, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("show", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the API's JSON")
	cfgPath := configFlag(fs, g)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || !slices.Contains(shown, pos[0]) {
		return usagef("show", "show: ports, fdb, mdb, conntrack, leases, evpn or status?")
	}
	what := pos[0]
	c, err := client(g.control, *cfgPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), showTimeout)
	defer cancel()
	if *asJSON {
		return showJSON(ctx, c, "/v1/"+what, stdout)
	}
	switch what {
	case "ports":
		return render(ctx, c.Ports, stdout, printPorts)
	case "fdb":
		return render(ctx, c.FDB, stdout, printFDB)
	case "mdb":
		return render(ctx, c.MDB, stdout, printMDB)
	case "leases":
		return render(ctx, c.Leases, stdout, func(w io.Writer, l []control.Lease) error { return printLeases(w, l, time.Now()) })
	case "status":
		return render(ctx, c.Status, stdout, func(w io.Writer, st control.Status) error { return printStatus(w, st, time.Now()) })
	case "evpn":
		return render(ctx, c.EVPN, stdout, printEVPN)
	default: // conntrack
		return render(ctx, c.Conntrack, stdout, printConntrack)
	}
}

// render prints with print what fetch gets from the API.
func render[T any](ctx context.Context, fetch func(context.Context) (T, error), w io.Writer, print func(io.Writer, T) error) error {
	v, err := fetch(ctx)
	if err != nil {
		return err
	}
	return print(w, v)
}

// showJSON copies the API's answer as it is (fields this CLI does not
// know included), indented.
func showJSON(ctx context.Context, c *control.Client, path string, w io.Writer) error {
	resp, err := c.Get(ctx, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace(body), "", "  "); err != nil {
		return fmt.Errorf("GET %s: the answer is not JSON: %w", path, err)
	}
	out.WriteByte('\n')
	_, err = w.Write(out.Bytes())
	return err
}

func newTable(w io.Writer, header string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	return tw
}

// printPorts prints ports in the order the API gives (the config's).
func printPorts(w io.Writer, ports []control.PortStatus) error {
	tw := newTable(w, "NAME\tTYPE\tVLANS\tUP\tMACS\tRX-PKTS\tRX-BYTES\tTX-PKTS\tTX-BYTES\tQUEUE\tDROPS")
	for _, p := range ports {
		macs := strconv.Itoa(p.MACs)
		if p.MaxMACs > 0 {
			macs += "/" + strconv.Itoa(p.MaxMACs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d/%d\t%s\n", p.Name, p.Type, vlans(p), yesNo(p.Up), macs,
			p.RxPackets, p.RxBytes, p.TxPackets, p.TxBytes, p.QueueLen, p.QueueCap, drops(p.Drops))
	}
	return tw.Flush()
}

// vlans is "10" for an access port, "trunk 10,20 native 1" for a trunk.
func vlans(p control.PortStatus) string {
	if p.Mode != "trunk" {
		if p.VLAN == 0 {
			return "-"
		}
		return strconv.Itoa(int(p.VLAN))
	}
	s := make([]string, len(p.Trunk))
	for i, v := range p.Trunk {
		s[i] = strconv.Itoa(int(v))
	}
	out := "trunk " + strings.Join(s, ",")
	if p.Native != 0 {
		out += " native " + strconv.Itoa(int(p.Native))
	}
	return out
}

// drops is "reason=N,..." by reason, or "-".
func drops(m map[string]uint64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] != 0 {
			parts = append(parts, k+"="+strconv.FormatUint(m[k], 10))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// printFDB prints the FDB sorted by VLAN, then MAC.
func printFDB(w io.Writer, fdb []control.FDBEntry) error {
	fdb = slices.Clone(fdb)
	slices.SortFunc(fdb, func(a, b control.FDBEntry) int {
		return cmp.Or(cmp.Compare(a.VLAN, b.VLAN), strings.Compare(strings.ToLower(a.MAC), strings.ToLower(b.MAC)))
	})
	// A REMOTE column only when a tunnel port has learned hosts: the
	// common table stays as it was.
	remote := slices.ContainsFunc(fdb, func(e control.FDBEntry) bool { return e.Remote != "" })
	head := "VLAN\tMAC\tPORT\tAGE\tSTATIC"
	if remote {
		head += "\tREMOTE"
	}
	tw := newTable(w, head)
	for _, e := range fdb {
		age := "-"
		if !e.Static {
			age = seconds(e.AgeSeconds)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s", e.VLAN, e.MAC, e.Port, age, yesNo(e.Static))
		if remote {
			fmt.Fprintf(tw, "\t%s", cmp.Or(e.Remote, "-"))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// printMDB prints the memberships as the API orders them (by VLAN, group,
// port), router ports with GROUP "router".
func printMDB(w io.Writer, mdb []control.MDBEntry) error {
	tw := newTable(w, "VLAN\tGROUP\tPORT\tEXPIRES")
	for _, e := range mdb {
		group, exp := e.Group, seconds(e.ExpiresSeconds)
		if e.Router {
			group = "router"
			if e.ExpiresSeconds == 0 {
				exp = "-"
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", e.VLAN, group, e.Port, exp)
	}
	return tw.Flush()
}

// printLeases prints leases sorted by network, then address (IPv4
// before IPv6); EXPIRES is the time left at now; DUID/IAID names a
// DHCPv6 lease's client.
func printLeases(w io.Writer, leases []control.Lease, now time.Time) error {
	leases = slices.Clone(leases)
	slices.SortFunc(leases, func(a, b control.Lease) int {
		return cmp.Or(strings.Compare(a.Network, b.Network), compareAddr(a.IP, b.IP), strings.Compare(a.MAC, b.MAC))
	})
	tw := newTable(w, "NETWORK\tIP\tMAC\tHOSTNAME\tSTATE\tEXPIRES\tSTATIC\tDUID/IAID")
	for _, l := range leases {
		exp := "-"
		if !l.Expiry.IsZero() {
			if left := l.Expiry.Sub(now); left > 0 {
				exp = "in " + left.Round(time.Second).String()
			} else {
				exp = "expired"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Network, l.IP, l.MAC, dash(l.Hostname), dash(l.State), exp, yesNo(l.Static), dash(l.ClientID))
	}
	return tw.Flush()
}

// printConntrack prints connections sorted by protocol, then inside tuple.
func printConntrack(w io.Writer, conns []control.ConnEntry) error {
	conns = slices.Clone(conns)
	slices.SortFunc(conns, func(a, b control.ConnEntry) int {
		return cmp.Or(strings.Compare(a.Proto, b.Proto), strings.Compare(a.Inside, b.Inside), strings.Compare(a.Outside, b.Outside))
	})
	tw := newTable(w, "PROTO\tINSIDE\tOUTSIDE\tNAT-PORT\tSTATE\tAGE\tPKTS-OUT\tPKTS-IN\tBYTES-OUT\tBYTES-IN")
	for _, e := range conns {
		nat := "-"
		if e.TranslatedPort != 0 {
			nat = strconv.Itoa(int(e.TranslatedPort))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", e.Proto, e.Inside, e.Outside, nat, dash(e.State),
			seconds(e.AgeSeconds), e.PacketsOut, e.PacketsIn, e.BytesOut, e.BytesIn)
	}
	return tw.Flush()
}

// compareAddr orders IP addresses numerically, anything else after them
// as text.
func compareAddr(a, b string) int {
	pa, errA := netip.ParseAddr(a)
	pb, errB := netip.ParseAddr(b)
	switch {
	case errA == nil && errB == nil:
		return pa.Compare(pb)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}

// seconds formats an age: "42s", "5m3s", "2h0m1s".
func seconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Second).String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printEVPN prints the speaker, its sessions, the VNIs with their flood
// lists, and the routes.
func printEVPN(w io.Writer, ev control.EVPN) error {
	if !ev.Enabled {
		_, err := fmt.Fprintln(w, "EVPN is off (no bgp key, or no vxlan port with evpn: true)")
		return err
	}
	fmt.Fprintf(w, "AS %d, router ID %s, VTEP %s\n\n", ev.ASN, ev.RouterID, ev.VTEP)
	tw := newTable(w, "NEIGHBOR\tASN\tSTATE\tUPTIME")
	for _, s := range ev.Sessions {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", s.Neighbor, s.ASN, s.State, seconds(s.UptimeSeconds))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = newTable(w, "VNI\tVLAN\tFLOOD")
	for _, v := range ev.VNIs {
		fmt.Fprintf(tw, "%d\t%d\t%s\n", v.VNI, v.VLAN, cmp.Or(strings.Join(v.Flood, ","), "-"))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = newTable(w, "VNI\tTYPE\tMAC\tIP\tVTEP\tRD\tORIGIN")
	for _, r := range ev.Routes {
		origin := "remote"
		if r.Local {
			origin = "local"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.VNI, r.Type, cmp.Or(r.MAC, "-"), cmp.Or(r.IP, "-"), r.VTEP, r.RD, origin)
	}
	return tw.Flush()
}
