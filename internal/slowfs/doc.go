// Package slowfs mounts a loopback FUSE filesystem whose fsyncs wait
// until the test lets them through: a disk as slow as a test needs, for
// tests of code that must not wait for the disk (package aio, the lease
// store). It needs root and /dev/fuse. Only tests import it.
//
// It must never be imported outside tests, and never hold an fsync past
// the end of the test that mounted it (Mount releases them in cleanup).
package slowfs
