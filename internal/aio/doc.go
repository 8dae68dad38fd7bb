// Package aio flushes files to disk without holding one of the threads
// that run Go code: an fsync is submitted through Linux AIO
// (IOCB_CMD_FSYNC, run by a kernel worker since Linux 4.18) and its
// completion is signalled on an eventfd that Go's poller watches, so the
// goroutine waiting for the disk is parked like one waiting for a socket.
//
// A plain fsync(2) holds its thread, and the runtime's P with it, until
// sysmon notices, which takes up to about 10 ms: with `cpus: 1` that
// P is the only one, and every port's forwarding waits. That is the one
// disk wait vswitch has (the lease store's), and this package removes it.
//
// Where AIO is missing or refused (an old kernel, a seccomp profile that
// blocks io_setup, a filesystem whose files cannot be fsynced through
// AIO) Sync falls back to File.Sync, so a file is always flushed; Async
// reports which way it went. It must never return before the disk has
// answered, and never report success for an fsync that failed.
package aio
