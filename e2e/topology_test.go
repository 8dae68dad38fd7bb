package e2e

import (
	"fmt"
	"os"
	"strings"
)

// The config fragments most tests are built from: guests on TAP ports, and
// one network lab behind an uplink wan to an outside host. A config is
// their concatenation; YAML does not mind the order of the top-level keys.

// tapPorts is the ports: section with a TAP port named ports[i] in the
// namespace of hosts[i].
func tapPorts(ports []string, hosts ...*host) string {
	if len(ports) != len(hosts) {
		panic("tapPorts: a port name for each host")
	}
	var b strings.Builder
	b.WriteString("ports:\n")
	for i, h := range hosts {
		fmt.Fprintf(&b, "  - {name: %s, type: tap, netns: %s}\n", ports[i], h.Name)
	}
	return b.String()
}

// uplinkedLab is network lab on 192.168.<n>.1/24 in mode behind uplink
// wan on device dev at 10.<n>.0.5/24 with the router 10.<n>.0.1: the
// outside host of outsideHost(t, tag, "10.<n>.0.1/24"). extra are more
// keys of the network, one a line.
func uplinkedLab(n int, mode, dev string, extra ...string) string {
	return labNetwork(n, mode, extra...) + fmt.Sprintf("uplinks:\n  - {name: wan, device: %s, address: 10.%d.0.5/24, gateway: 10.%d.0.1}\n", dev, n, n)
}

// labNetwork is the networks: section of uplinkedLab, for a test that
// writes its own uplink wan.
func labNetwork(n int, mode string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "networks:\n  - name: lab\n    address: 192.168.%d.1/24\n    mode: %s\n    uplink: wan\n", n, mode)
	for _, e := range extra {
		fmt.Fprintf(&b, "    %s\n", e)
	}
	return b.String()
}

// dhcpUplink is the uplinks: section of uplink wan on device dev leasing
// its address from the outside (serveDHCP).
func dhcpUplink(dev string) string {
	return fmt.Sprintf("uplinks:\n  - {name: wan, device: %s, address: dhcp}\n", dev)
}

// labDHCP is the dhcp key of a network on 192.168.<n>.0/24 leasing .10
// to .20.
func labDHCP(n int) string {
	return fmt.Sprintf("dhcp: {range: 192.168.%d.10-192.168.%d.20}", n, n)
}

// serveDHCP runs busybox udhcpd on h's dev, leasing 10.<n>.0.50-60 for
// 600 s with the udhcpd.conf lines opts.
func (h *host) serveDHCP(dev string, n int, opts ...string) {
	t := h.t()
	t.Helper()
	dir := t.TempDir()
	conf := dir + "/udhcpd.conf"
	text := fmt.Sprintf("start 10.%d.0.50\nend 10.%d.0.60\ninterface %s\nlease_file %s/leases\noption subnet 255.255.255.0\n", n, n, dev, dir)
	for _, o := range append(opts, "option lease 600") {
		text += o + "\n"
	}
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/leases", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.Start("busybox", "udhcpd", "-f", conf)
}
