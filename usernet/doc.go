// Package usernet is the user-mode uplink: guest flows end in a userspace
// TCP/IP stack (gVisor's pkg/tcpip) and leave as ordinary sockets of the
// vswitch process, so a NAT network reaches the outside with no privilege.
//
// Guests are hostile: whatever they send is bounded (flows in total and per
// source, half-open connections, idle UDP flows) and every refusal is
// counted with a DropReason. The package never touches the switch's frame
// path: the gateway hands it whole IPv4 packets (Inject) and it hands
// packets for guests back through Config.Out, both with a virtio-net
// header, so TCP moves as 64 KiB super-frames both ways (offload.go). It never dials a loopback,
// multicast, broadcast or unspecified destination a guest names; the
// host's loopback is reached only through Config.HostLoopback, off unless
// configured.
package usernet
