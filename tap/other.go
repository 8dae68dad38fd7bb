//go:build !linux

package tap

import (
	"errors"

	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

var errUnsupported = errors.New("tap: only Linux is supported")

// TAPConfig describes a TAP device.
type TAPConfig struct {
	Name  string
	MTU   int
	Netns string
	MAC   pkt.MAC
}

// AFPacketConfig describes an AF_PACKET port.
type AFPacketConfig struct {
	Device string
	Netns  string
}

// OpenTAP is not supported off Linux.
func OpenTAP(TAPConfig) (vswitch.Port, error) { return nil, errUnsupported }

// OpenAFPacket is not supported off Linux.
func OpenAFPacket(AFPacketConfig) (vswitch.Port, error) { return nil, errUnsupported }
