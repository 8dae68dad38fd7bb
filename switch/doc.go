// Package vswitch is the L2 forwarding plane: ports, the FDB keyed by
// (VLAN, MAC) with a fair share of it per port, VLAN ingress classification
// and egress tagging, flooding, port isolation, port guards against
// address spoofing (with DHCP snooping), bounded per-port egress queues,
// per-port counters with drop reasons, and IGMP/MLD snooping (snoop.go,
// mdb.go): multicast to the ports that joined its group and the router
// ports, lock-free on the frame path like the FDB, with IGMPv3/MLDv2
// source filters (mdb_source.go) and an IGMP and MLD querier of its own
// for VLANs with no network (querier.go).
//
// The directory is named switch; the package is vswitch because switch is a
// Go keyword.
//
// It must never allocate, take a mutex, send on a channel or call fmt, log
// or Prometheus per frame in steady state: FDB reads are lock-free, counters
// are atomics read at scrape time, and a writer goroutine is woken through a
// channel only when it went idle. A TAP port is written by the goroutine
// that forwards the frame (port_tx.go), so its writer wakes only when the
// device is full or a reader has a burst. It never imports tap/, gateway/,
// nat/ or dhcp/: drivers come in through the Port interface, and daemon/
// wires them.
// A routed port (routed.go) runs the same way but hands its frames to a
// Router, such as a gateway's uplink, instead of the L2 fabric. A port
// whose frames also come from other goroutines (a network's gateway,
// delivering what its uplink read) is an Injector: its Ingress (inject.go)
// forwards them in the caller's goroutine as if the port had read them.
// Nothing a port sends may panic it, block another port, or grow memory
// without bound: every queue is bounded and overload is a counted tail drop.
package vswitch
