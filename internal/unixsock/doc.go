// Package unixsock makes vswitch's listening unix sockets (the control
// API, QEMU ports) so that the socket file is, from the moment it exists
// at its path, exactly as private as asked.
//
// It must never remove or replace a file that is not a stale socket (a
// regular file, a directory, a symlink, a socket a server answers on), and
// never a socket another vswitch made: the check and the bind are one step
// under a lock on the directory, and Close removes only the file it made.
package unixsock
