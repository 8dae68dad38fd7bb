package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os/user"
	"strconv"

	"github.com/vswitch/vswitch/config"
	"github.com/vswitch/vswitch/internal/unixsock"
	vswitch "github.com/vswitch/vswitch/switch"
	"github.com/vswitch/vswitch/tap"
)

// errNotYet marks port types the config accepts but this build cannot run.
var errNotYet = errors.New("not supported by this build yet")

// openDriver opens the driver a port's type names.
func openDriver(pc config.Port, log *slog.Logger) (vswitch.Port, error) {
	switch pc.Type {
	case "tap":
		// A MAC from the name, unless the config sets one: after a restart
		// the host behind the port has the same MAC, so the same lease.
		mac := pc.MAC
		if mac.IsZero() {
			mac = tap.StableMAC(pc.Name)
		}
		return tap.OpenTAP(tap.TAPConfig{Name: pc.Name, MTU: pc.MTU, Netns: pc.Netns, MAC: mac})
	case "afpacket":
		return tap.OpenAFPacket(tap.AFPacketConfig{Device: pc.Device, Netns: pc.Netns})
	case "qemu":
		qc, err := qemuConfig(pc, log)
		if err != nil {
			return nil, err
		}
		return tap.OpenQEMU(qc)
	case "vxlan":
		return tap.OpenVXLAN(vxlanConfig(pc))
	default:
		return nil, fmt.Errorf("type %s: %w", pc.Type, errNotYet)
	}
}

// qemuConfig is the driver's config of a qemu port.
func qemuConfig(pc config.Port, log *slog.Logger) (tap.QEMUConfig, error) {
	perm, err := socketPerm(pc)
	return tap.QEMUConfig{Name: pc.Name, Socket: pc.Socket, Listen: pc.Listen, Perm: perm, Log: log}, err
}

// vxlanConfig is the driver's config of a vxlan port.
func vxlanConfig(pc config.Port) tap.VXLANConfig {
	x := pc.VXLAN
	return tap.VXLANConfig{Name: pc.Name, Local: x.Local, Port: x.DstPort, VNIs: x.VNIs, Remotes: x.Remotes, Netns: pc.Netns}
}

// socketPerm is a port's socket_mode and socket_owner, its names looked up
// now (the config does no I/O).
func socketPerm(pc config.Port) (unixsock.Options, error) {
	o := unixsock.Options{Mode: pc.SocketMode}
	if pc.SocketOwner.IsZero() {
		return o, nil
	}
	uid, err := lookupID(pc.SocketOwner.User, "user", func(n string) (string, error) {
		u, err := user.Lookup(n)
		if err != nil {
			return "", err
		}
		return u.Uid, nil
	})
	if err != nil {
		return o, err
	}
	gid := -1
	if g := pc.SocketOwner.Group; g != "" {
		if gid, err = lookupID(g, "group", func(n string) (string, error) {
			g, err := user.LookupGroup(n)
			if err != nil {
				return "", err
			}
			return g.Gid, nil
		}); err != nil {
			return o, err
		}
	}
	o.Owner = &unixsock.Owner{UID: uid, GID: gid}
	return o, nil
}

// lookupID is a number as is, or a name looked up.
func lookupID(s, what string, lookup func(string) (string, error)) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, nil
	}
	id, err := lookup(s)
	if err == nil {
		var n int
		if n, err = strconv.Atoi(id); err == nil {
			return n, nil
		}
	}
	var uu user.UnknownUserError
	var ug user.UnknownGroupError
	if errors.As(err, &uu) || errors.As(err, &ug) {
		return 0, fmt.Errorf("socket_owner: no %s %q on this host", what, s)
	}
	return 0, fmt.Errorf("socket_owner: %s %q: %w", what, s, err)
}
