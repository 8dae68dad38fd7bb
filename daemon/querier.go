package daemon

import (
	"hash/fnv"
	"os"

	"github.com/vswitch/vswitch/internal/pkt"
)

// querierMAC is the switch querier's MAC (multicast_querier): locally
// administered, stable across restarts, and different for two vswitches
// on two hosts (or two instances on one) trunked together, so that their
// MLD link-local sources differ and the election has a winner.
func querierMAC(control string) pkt.MAC {
	host, _ := os.Hostname()
	h := fnv.New64a()
	h.Write([]byte("vswitch-querier/" + host + "/" + control))
	s := h.Sum64()
	return pkt.MAC{0x02, byte(s >> 32), byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}
}
