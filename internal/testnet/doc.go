// Package testnet builds real test topologies for end-to-end tests: named
// network namespaces, veth pairs, addresses, and commands run inside a
// namespace, all through iproute2; and raw AF_PACKET sockets opened inside
// a namespace, which write and read whole frames, 802.1Q tags included;
// the few messages tests of several packages craft alike
// (DHCPv6Client); and the bounded waits and the UDP server they share
// (WaitFor for a condition, Recv and Poll for a channel; ServeUDP).
//
// Every name it hands out carries the "vst" prefix (or the one a package
// asks for with PrefixName) and a per-test suffix, and everything is
// deleted in t.Cleanup, also when the test fails. It is
// for tests only: it must never be imported by a package that ships, and
// its traffic never leaves namespaces the test made itself.
package testnet
