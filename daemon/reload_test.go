package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/control"
)

func portNames(ps []config.Port) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

// TestDiffPorts: ports are matched by name; a port that only moved in the
// file is unchanged; any setting that differs makes it changed.
func TestDiffPorts(t *testing.T) {
	old := parse(t, "ports:\n  - {name: a, type: qemu, socket: /x/a}\n  - {name: b, type: qemu, socket: /x/b, vlan: 10}\n  - {name: c, type: qemu, socket: /x/c}\n")
	nu := parse(t, "# moved down a line\nports:\n  - {name: d, type: qemu, socket: /x/d}\n  - {name: b, type: qemu, socket: /x/b, vlan: 20}\n  - {name: a, type: qemu, socket: /x/a}\n")
	added, removed, changed := diffPorts(old.Ports, nu.Ports)
	if got := portNames(added); !slices.Equal(got, []string{"d"}) {
		t.Errorf("added %v, want [d]", got)
	}
	if got := portNames(removed); !slices.Equal(got, []string{"c"}) {
		t.Errorf("removed %v, want [c]", got)
	}
	if len(changed) != 1 || changed[0][0].VLAN != 10 || changed[0][1].VLAN != 20 {
		t.Errorf("changed %v, want b from VLAN 10 to 20", changed)
	}
}

// TestFixedParts: a change outside ports is refused with the config key
// and line; moving things in the file or changing ports is not.
func TestFixedParts(t *testing.T) {
	base := "networks:\n  - {name: lab, address: 10.9.0.1/24, dhcp: {range: 10.9.0.10-10.9.0.20}}\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"same", base, ""},
		{"ports and lines differ", "ports:\n  - {name: a, type: qemu, socket: /x/a}\n\n" + base, ""},
		{"address", "networks:\n  - {name: lab, address: 10.9.1.1/24, dhcp: {range: 10.9.1.10-10.9.1.20}}\n",
			"vsd.yaml:2: networks[0].address: cannot change while running (10.9.0.1/24 -> 10.9.1.1/24): restart vswitch to apply it; nothing was changed"},
		{"dhcp range and options may change", "networks:\n  - {name: lab, address: 10.9.0.1/24, dhcp: {range: 10.9.0.30-10.9.0.40, lease: 2h, dns: [10.9.0.53], max_leases_per_mac: 2}, dns: {forwarders: [10.9.0.53]}}\n", ""},
		{"dhcp domain", "networks:\n  - {name: lab, address: 10.9.0.1/24, dhcp: {range: 10.9.0.10-10.9.0.20, domain: other}}\n",
			"vsd.yaml:2: networks[0].dhcp.domain: cannot change while running (none -> other): restart vswitch to apply it; nothing was changed"},
		{"dhcp removed", "networks:\n  - {name: lab, address: 10.9.0.1/24}\n",
			"vsd.yaml:2: networks[0].dhcp: cannot change while running (set -> none): restart vswitch to apply it; nothing was changed"},
		{"metrics", "metrics: 127.0.0.1:9999\n" + base,
			"vsd.yaml: metrics: cannot change while running (127.0.0.1:9477 -> 127.0.0.1:9999): restart vswitch to apply it; nothing was changed"},
		{"hosts may change", "networks:\n  - {name: lab, address: 10.9.0.1/24, dhcp: {range: 10.9.0.10-10.9.0.20, hosts: [{mac: \"52:54:00:00:00:01\", ip: 10.9.0.5}]}, dns: {hosts: [{name: db, ip: 10.9.0.6}]}}\n", ""},
		{"multicast_snooping", "multicast_snooping: false\n" + base,
			"vsd.yaml: multicast_snooping: cannot change while running (true -> false): restart vswitch to apply it; nothing was changed"},
		{"multicast_querier", "multicast_querier: true\n" + base,
			"vsd.yaml: multicast_querier.all: cannot change while running (false -> true): restart vswitch to apply it; nothing was changed"},
		{"multicast_querier vlans", "multicast_querier: [5]\n" + base,
			"vsd.yaml: multicast_querier.vlans: cannot change while running (none -> [5]): restart vswitch to apply it; nothing was changed"},
		{"cpus may change", "cpus: 1\n" + base, ""},
		{"max_groups may change", "ports:\n  - {name: a, type: qemu, socket: /x/a, max_groups: 8}\n" + base, ""},
		{"fdb max_entries", "fdb: {max_entries: 100}\n" + base,
			"vsd.yaml: fdb.max_entries: cannot change while running (8192 -> 100): restart vswitch to apply it; nothing was changed"},
	}
	run := parse(t, base)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fixedParts(run, parse(t, tt.yaml))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{"StateDir": "state_dir", "VLAN": "vlan", "MaxEntries": "max_entries", "DHCP": "dhcp", "MaxMACs": "max_macs", "Address": "address"} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestReloadQEMUPorts drives Reload on QEMU socket ports (no privilege
// needed): one added, one removed, one changed, in one reload; then a
// reload whose second new port cannot listen (its socket is someone
// else's) leaves the first one unopened and the switch as it was; a
// daemon without a loader refuses.
func TestReloadQEMUPorts(t *testing.T) {
	dir := t.TempDir()
	sock := func(n string) string { return filepath.Join(dir, n+".sock") }
	port := func(n string, extra string) string {
		return fmt.Sprintf("  - {name: %s, type: qemu, socket: %s%s}\n", n, sock(n), extra)
	}
	// a's static FDB entry must survive a's reopening.
	head := fmt.Sprintf("control: %s\nmetrics: \"\"\nfdb: {static: [{mac: \"52:54:00:00:00:aa\", port: a}]}\n", sock("ctl"))
	yaml := head + "ports:\n" + port("a", "") + port("b", "")
	d, err := StartWith(parse(t, yaml), quiet(), Options{Load: func() (*config.Config, error) {
		return config.Parse("vsd.yaml", []byte(yaml))
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	names := func() []string {
		var out []string
		for _, p := range (backend{d}).Ports() {
			out = append(out, p.Name)
		}
		slices.Sort(out)
		return out
	}

	yaml = head + "ports:\n" + port("a", ", max_macs: 3") + port("c", "")
	res, err := d.Reload()
	if err != nil || !slices.Equal(res.Added, []string{"c"}) || !slices.Equal(res.Removed, []string{"b"}) || !slices.Equal(res.Changed, []string{"a"}) {
		t.Fatalf("reload: %+v %v", res, err)
	}
	if got := names(); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("ports %v, want [a c]", got)
	}
	for _, p := range (backend{d}).Ports() {
		if p.Name == "a" && p.MaxMACs != 3 {
			t.Fatalf("port a has max_macs %d after the reload, want 3", p.MaxMACs)
		}
	}
	if fdb := d.sw.FDB(); len(fdb) != 1 || fdb[0].Port != "a" || !fdb[0].Static || fdb[0].MAC.String() != "52:54:00:00:00:aa" {
		t.Fatalf("FDB after a was reopened: %+v, want its static entry", fdb)
	}
	if _, err := os.Stat(sock("b")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the removed port's socket: %v", err)
	}

	// Someone else listens where e's socket would go.
	ln, err := net.Listen("unix", sock("e"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	yaml = head + "ports:\n" + port("a", ", max_macs: 3") + port("c", "") + port("d", "") + port("e", "")
	_, err = d.Reload()
	want := fmt.Sprintf("vsd.yaml:8: port e: qemu port e: something already listens on %s; nothing was changed", sock("e"))
	if err == nil || err.Error() != want {
		t.Fatalf("reload with a taken socket: %v\nwant %s", err, want)
	}
	if got := names(); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("ports after the failed reload %v, want [a c]", got)
	}
	if _, err := os.Stat(sock("d")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("d's socket after the failed reload: %v", err)
	}
	if _, ok := d.life.LastSuccess(); ok {
		t.Fatal("a failed reload recorded as successful")
	}

	d2, err := Start(parse(t, fmt.Sprintf("control: %s\nmetrics: \"\"\n", sock("ctl2"))), quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Stop()
	var br *control.BadRequestError
	if _, err := d2.Reload(); !errors.As(err, &br) {
		t.Fatalf("reload without a loader: %v, want a bad request", err)
	}
}
