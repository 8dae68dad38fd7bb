// Package daemon assembles a running vswitch from a config: it opens the
// ports, builds the switch, attaches the gateway, and serves the control API
// and metrics; it starts them and stops them cleanly.
//
// It is the only package that wires planes and drivers together. It must
// never sit on the frame path itself: once Run has started the ports, frames
// move between drivers and the switch without passing through here.
package daemon
