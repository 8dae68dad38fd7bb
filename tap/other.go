//go:build !linux

package tap

import (
	"errors"
	"net/netip"
	"time"

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

// VXLANConfig describes a VXLAN tunnel port.
type VXLANConfig struct {
	Name    string
	Local   netip.Addr
	Port    uint16
	VNIs    map[uint16]uint32
	Remotes []netip.Addr
	Netns   string
	MaxMACs int
	Ageing  time.Duration
}

// OpenVXLAN is not supported off Linux.
func OpenVXLAN(VXLANConfig) (vswitch.Port, error) { return nil, errUnsupported }

// AdoptVXLAN is not supported off Linux.
func AdoptVXLAN(VXLANConfig, int) (vswitch.Port, error) { return nil, errUnsupported }

// AdoptTAP is not supported off Linux.
func AdoptTAP(string, int) (vswitch.Port, error) { return nil, errUnsupported }

// AdoptAFPacket is not supported off Linux.
func AdoptAFPacket(string, int) (vswitch.Port, error) { return nil, errUnsupported }
