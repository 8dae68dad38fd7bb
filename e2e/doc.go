// Package e2e holds the end-to-end tests: they build the vswitch binary,
// run it as a user would on real TAP devices and AF_PACKET sockets, and
// drive real hosts in network namespaces with real clients (ping, iperf3,
// the DHCP clients, tcpdump).
//
// The tests need root; they skip without it, and fail instead when
// VSWITCH_E2E=1: then any skip of an end-to-end test is a failure.
// BenchmarkCompareLinuxBridge is a measurement, not a test: it runs only
// under -bench. They send traffic only between namespaces they create, and
// remove every namespace, link and process they made, also on failure.
package e2e
