// Package tap holds the port drivers that move frames between the outside
// and the switch: TAP devices vswitch creates (opened with IFF_VNET_HDR, so
// offload metadata travels with every frame), AF_PACKET sockets on
// existing interfaces (veths, NICs, TAPs that QEMU owns), and QEMU socket
// ports (a unix stream socket or a loopback TCP port speaking QEMU's
// length-prefixed framing, one VM at a time, no privilege needed).
//
// Drivers satisfy vswitch.Port and use nothing of the switch but its
// exported Frame, Port and Features. Whatever a peer sends (a VM on a
// socket, a guest on a TAP) is bounded and counted, never trusted: a bad
// length or a stalled half frame disconnects a QEMU peer. They must never allocate, lock or log
// per frame: every buffer, iovec and syscall closure is made once when the
// port opens, and frames move with readv/writev and recvmmsg/sendmmsg in
// batches, waiting in the Go netpoller.
package tap
