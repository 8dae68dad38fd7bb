package nat

import "net/netip"

// Forward is a port forward (DNAT): new connections to the outside
// address on Proto/Port go to To. An IPv6 To takes the connections to the
// outside IPv6 address (NAT66), an IPv4 one those to the IPv4 address: the
// same port may be forwarded once per family.
type Forward struct {
	Proto uint8
	Port  uint16
	To    netip.AddrPort
}

// SetForwards replaces every port forward at once, as a config reload
// does. A flow a removed forward started lives on until it ends; a new
// connection to that port is not forwarded any more.
func (t *Table) SetForwards(list []Forward) {
	m := make(map[fwdKey]netip.AddrPort, len(list))
	for _, f := range list {
		m[fwdKey{f.Proto, f.Port, f.To.Addr().Is6()}] = f.To
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.forwards.Store(&m)
}
