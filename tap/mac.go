package tap

import (
	"hash/fnv"

	"github.com/vswitch/vswitch/internal/pkt"
)

// StableMAC is the MAC address a TAP port's kernel side gets when the
// config names none: derived from the port name, so a host behind the
// port keeps its MAC, and so its DHCP lease, across restarts. It is
// locally administered and unicast; its first byte (0x06) differs from
// the gateway's stable MACs (0x02), so the two never collide.
func StableMAC(port string) pkt.MAC {
	h := fnv.New64a()
	h.Write([]byte("vswitch-tap/" + port))
	s := h.Sum64()
	return pkt.MAC{0x06, byte(s >> 32), byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}
}
