package config

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DefaultSocketMode is a qemu port's unix socket mode without socket_mode:
// only its owner (vswitch's user, or socket_owner) may connect.
const DefaultSocketMode fs.FileMode = 0o600

// Owner is socket_owner: a user and an optional group, each a name or a
// number, as chown takes them. Names are looked up when the socket is
// made (the config does no I/O); "" is unset.
type Owner struct {
	User, Group string
}

// IsZero reports whether no owner was given.
func (o Owner) IsZero() bool { return o.User == "" && o.Group == "" }

// socketOwner parses socket_owner: USER[:GROUP].
func (d *decoder) socketOwner(v *yaml.Node, key string, dst *Owner) {
	value(d, v, key, dst, func(s string) (Owner, string) {
		u, g, hasGroup := strings.Cut(s, ":")
		if !validID(u) || hasGroup && !validID(g) {
			return Owner{}, fmt.Sprintf("%q is not a user and optional group, each a name or a number, like qemu, 107 or 107:107", s)
		}
		return Owner{User: u, Group: g}, ""
	})
}

// validID accepts a user or group name as useradd does, or a number
// below 2^32-1 (which chown reads as "unchanged").
func validID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return n < 1<<32-1
	}
	for i, r := range s {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_'
		if !letter && (i == 0 || !(r >= '0' && r <= '9' || r == '-' || r == '.' || r == '$' && i == len(s)-1)) {
			return false
		}
	}
	return true
}

// socketMode parses socket_mode: octal permission bits (0660, 660 or
// 0o660) that let the owner connect.
func (d *decoder) socketMode(v *yaml.Node, key string, dst *fs.FileMode) {
	value(d, v, key, dst, func(s string) (fs.FileMode, string) {
		n, err := strconv.ParseUint(strings.TrimPrefix(s, "0o"), 8, 32)
		if err != nil || n > 0o777 {
			return 0, fmt.Sprintf("%q is not an octal file mode from 0 to 0777, like 0600 or 0660", s)
		}
		if n&0o200 == 0 {
			// Connecting to a unix socket needs write permission.
			return 0, fmt.Sprintf("%#o does not let the owner write: nobody but root could connect", n)
		}
		return fs.FileMode(n), ""
	})
}
