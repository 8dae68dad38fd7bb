// Command bench measures vswitch against the Linux bridge, Open vSwitch
// (userspace datapath, without and with userspace TSO) and VDE in one run and writes results.json,
// report.md and SVG plots.
//
//	go run ./bench [-quick] [-switches vswitch,vswitch-veth,vswitch-1cpu,linux-bridge,ovs,ovs-tso,vde]
//	               [-tests tcp,tcp4,udp64,rr,mesh4,nat,vxlan,dhcp,dhcp-best,dhcp-rss] [-reps N] [-secs N] [-out DIR]
//
// Every switch gets the same topology: four hosts in network namespaces
// (vswitch on TAP ports, vswitch-veth on veths it attaches with AF_PACKET,
// vswitch-1cpu on TAP ports with cpus: 1, the peers on their usual ports). The tcp test also measures the reverse
// direction (tcp-rev); nat has a topology of its own (an inside host, a
// NAT, an outside host) and compares vswitch's NAT with the kernel's
// bridge + nftables masquerade. The other workloads run once, not per
// switch, each with peers of its own (workloads.go, separate):
//
//   - vxlan: TCP across a VXLAN tunnel to a Linux VTEP, with vswitch as
//     the near end and then a Linux vxlan device (linux-vxlan).
//   - dhcp: perfdhcp against vswitch's DHCP server, dnsmasq and Kea;
//     dhcp-best: each server's highest rate under 1 % drops; dhcp-rss:
//     memory at 50,000 leases.
//   - ports, ports-v6, ports-v6-gw, ports-v6-q: vswitch with 10, 100 and
//     1000 idle TAP ports (start-up, RSS, idle CPU): IPv6 off (ports),
//     the kernel's IPv6 defaults (ports-v6), those with a network whose
//     gateway is the multicast querier (ports-v6-gw) or with the switch
//     as the querier of a VLAN without a network (ports-v6-q); ports.go.
//   - ports-peers: the Linux bridge and Open vSwitch with the same idle
//     TAP ports (ports_peers.go).
//   - rootless: a guest namespace's TCP to a host's own address through
//     a user-mode stack: vswitch's user uplink, slirp4netns and pasta
//     (usernet.go).
//
// The -tests default above leaves out the ports ones and rootless: name
// them to run them.
//
// docs/benchmarks.md says what each test measures.
//
// It must run as root. It sends traffic only between namespaces it creates,
// names everything it makes with the "vsb" prefix, and removes it all at
// the end, also on failure or Ctrl-C. A peer that cannot start is reported
// with its reason and the run goes on. It must never be run by `make test`
// other than as the -quick smoke test.
package main
