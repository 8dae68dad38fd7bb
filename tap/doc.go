// Package tap holds the port drivers that move frames between the outside
// and the switch. There are four:
//
//   - TAP (tap_linux.go): TAP devices vswitch creates, opened with
//     IFF_VNET_HDR so offload metadata travels with every frame; they are
//     persistent and taken back after a crash (persist_linux.go).
//   - AF_PACKET (afpacket_linux.go): a packet socket on an existing
//     interface (a veth, a NIC, a TAP that QEMU owns), with a virtio-net
//     header where the kernel has PACKET_VNET_HDR.
//   - VXLAN (vxlan_linux.go): a UDP socket carrying VLANs as VNIs to
//     remote VTEPs (RFC 7348), learning which remote each inner MAC is
//     behind (vtep.go) and sending super-frames with UDP GSO
//     (vxlan_gso_linux.go) where the kernel has it.
//   - QEMU socket (qemu.go): a unix stream socket or a loopback TCP port
//     speaking QEMU's length-prefixed framing, one VM at a time, no
//     privilege needed.
//
// Each can be handed to the next vswitch process on an upgrade with its
// device or socket still open (handover_linux.go, qemu_handover.go).
//
// Drivers satisfy vswitch.Port and use nothing of the switch but its
// exported Frame, Port, Features and drop reasons. Whatever a peer sends
// (a VM on a socket, a guest on a TAP, a host on the underlay) is bounded
// and counted, never trusted: a frame longer than the largest buffer is
// dropped whole and counted as the port's oversize (vswitch.RxDropper), a
// bad length or a stalled half frame disconnects a QEMU peer. They must
// never allocate, lock or log per frame: every buffer, iovec and syscall
// closure is made once when the port opens, and frames move with
// readv/writev and recvmmsg/sendmmsg in batches, waiting in the Go
// netpoller. Those calls never block (the descriptors are non-blocking),
// so they are RawSyscall: the runtime is not told of them, which keeps
// its monitor thread asleep between frames (see mmsg_linux.go). TAP and
// AF_PACKET ports are vswitch.TryWriters: the switch writes them from
// the goroutine that forwards the frame.
package tap
