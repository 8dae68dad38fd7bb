// Command bench measures vswitch against the Linux bridge, Open vSwitch
// (userspace datapath, without and with userspace TSO) and VDE in one run and writes results.json,
// report.md and SVG plots.
//
//	go run ./bench [-quick] [-switches vswitch,vswitch-veth,linux-bridge,ovs,ovs-tso,vde]
//	               [-tests tcp,tcp4,udp64,rr,mesh4,nat,vxlan,dhcp,dhcp-best,dhcp-rss] [-reps N] [-secs N] [-out DIR]
//
// Every switch gets the same topology: four hosts in network namespaces
// (vswitch on TAP ports, vswitch-veth on veths it attaches with AF_PACKET,
// the peers on their usual ports). The tcp test also measures the reverse
// direction (tcp-rev); nat has a topology of its own (an inside host, a
// NAT, an outside host) and compares vswitch's NAT with the kernel's
// bridge + nftables masquerade. vxlan runs once, not per switch: TCP
// across a VXLAN tunnel to a Linux VTEP, with vswitch as the near end and
// then a Linux vxlan device (linux-vxlan); so do dhcp (perfdhcp against
// vswitch's DHCP server, dnsmasq and Kea), dhcp-best (each server's
// highest rate under 1 % drops) and dhcp-rss (memory at 50,000 leases),
// and ports, ports-v6 and ports-v6-gw (vswitch with 10, 100 and 1000 idle TAP ports:
// start-up, RSS, idle CPU; not in the default -tests).
// docs/benchmarks.md says what each test measures.
//
// It must run as root. It sends traffic only between namespaces it creates,
// names everything it makes with the "vsb" prefix, and removes it all at
// the end, also on failure or Ctrl-C. A peer that cannot start is reported
// with its reason and the run goes on. It must never be run by `make test`
// other than as the -quick smoke test.
package main
