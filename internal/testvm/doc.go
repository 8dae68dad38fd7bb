// Package testvm boots real Linux guests under QEMU for end-to-end tests:
// a Debian cloud kernel (downloaded with apt-get, never installed) and a
// busybox initramfs whose /init loads virtio_net, leases an address with
// udhcpc, pings and runs iperf3 as the kernel command line asks, and
// reports on the serial console with "VST-" marker lines.
//
// The kernel and initramfs are built once and cached under the user's
// cache directory. It is for tests only; guests reach only the switch the
// test started.
package testvm
