// Command bench measures vswitch against the Linux bridge, Open vSwitch
// (userspace datapath) and VDE in one run, on the same two-host topology
// of network namespaces, and writes results.json, report.md and SVG plots.
//
//	go run ./bench [-quick] [-switches vswitch,linux-bridge,ovs,vde]
//	               [-tests tcp,tcp4,udp64,rr] [-reps N] [-secs N] [-out DIR]
//
// It must run as root. It sends traffic only between namespaces it creates,
// names everything it makes with the "vsb" prefix, and removes it all at
// the end, also on failure or Ctrl-C. A peer that cannot start is reported
// with its reason and the run goes on.
package main
