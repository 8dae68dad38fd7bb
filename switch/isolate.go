package vswitch

// Port isolation (the Linux bridge's "isolated on", OVS's protected
// ports): guests that share a network reach the gateway, the uplinks and
// every port that is not isolated, but not each other. A known unicast
// frame between two isolated ports is dropped (isolated); a flood from an
// isolated port skips the others without counting, as the Linux bridge
// does. Frames from a non-isolated port reach isolated ones as before.

// isolatedFrom reports whether frames from p may not reach out.
func (p *swPort) isolatedFrom(out *swPort) bool { return p.isolated && out.isolated }
