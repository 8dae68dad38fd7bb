// Package tap holds the port drivers that move frames between the kernel
// and the switch: TAP devices vswitch creates (opened with IFF_VNET_HDR, so
// offload metadata travels with every frame), and AF_PACKET sockets on
// existing interfaces (veths, NICs, TAPs that QEMU owns).
//
// Drivers satisfy vswitch.Port and use nothing of the switch but its
// exported Frame, Port and Features. They must never allocate, lock or log
// per frame: every buffer, iovec and syscall closure is made once when the
// port opens, and frames move with readv/writev and recvmmsg/sendmmsg in
// batches, waiting in the Go netpoller.
package tap
