package daemon

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/vswitch/vswitch/config"
	vswitch "github.com/vswitch/vswitch/switch"
	"github.com/vswitch/vswitch/tap"
)

// errNotYet marks port types the config accepts but this build cannot run.
var errNotYet = errors.New("not supported by this build yet")

// openDriver opens the driver a port's type names.
func openDriver(pc config.Port, log *slog.Logger) (vswitch.Port, error) {
	switch pc.Type {
	case "tap":
		return tap.OpenTAP(tap.TAPConfig{Name: pc.Name, MTU: pc.MTU, Netns: pc.Netns, MAC: pc.MAC})
	case "afpacket":
		return tap.OpenAFPacket(tap.AFPacketConfig{Device: pc.Device, Netns: pc.Netns})
	case "qemu":
		return tap.OpenQEMU(tap.QEMUConfig{Name: pc.Name, Socket: pc.Socket, Listen: pc.Listen, Log: log})
	case "vxlan":
		x := pc.VXLAN
		return tap.OpenVXLAN(tap.VXLANConfig{Name: pc.Name, Local: x.Local, Port: x.DstPort, VNIs: x.VNIs,
			Remotes: x.Remotes, Netns: pc.Netns})
	default:
		return nil, fmt.Errorf("type %s: %w", pc.Type, errNotYet)
	}
}
