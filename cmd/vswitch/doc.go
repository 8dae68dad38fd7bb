// Command vswitch runs the userspace virtual switch and talks to a running
// one over its control socket. See `vswitch help`.
//
// It is the CLI only: it parses flags and calls daemon/ to run, or
// control/'s client to ask a running vswitch. It must never reach into a
// running switch any other way than the control socket, and never hold
// state of its own.
package main
