// Package control is vswitch's control API: HTTP/1.1 with JSON on a unix
// socket (mode 0600), its types, the server, and the client the CLI uses.
//
// It must never touch the frame path: the server answers from snapshots a
// Backend takes, holds no lock a frame needs, and a slow or stuck client
// never blocks the switch. It imports none of the planes: the daemon
// implements Backend and translates.
package control
