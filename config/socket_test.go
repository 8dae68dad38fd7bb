package config

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestSocketKeys: socket_owner and socket_mode are parsed exactly; a
// socket port without socket_mode gets 0600; a listen port has none.
func TestSocketKeys(t *testing.T) {
	c, err := Parse("f.yaml", []byte(`ports:
  - {name: a, type: qemu, socket: /run/a.sock, socket_owner: "qemu:kvm", socket_mode: 0660}
  - {name: b, type: qemu, socket: /run/b.sock, socket_owner: "107:108", socket_mode: 660}
  - {name: c, type: qemu, socket: /run/c.sock, socket_owner: "4294967294", socket_mode: 0o200}
  - {name: d, type: qemu, socket: /run/d.sock, socket_owner: "_svc-1.x$:0", socket_mode: "0777"}
  - {name: e, type: qemu, socket: /run/e.sock}
  - {name: f, type: qemu, listen: "127.0.0.1:5555"}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		owner Owner
		mode  fs.FileMode
	}{
		{Owner{"qemu", "kvm"}, 0o660},
		{Owner{"107", "108"}, 0o660},
		{Owner{"4294967294", ""}, 0o200},
		{Owner{"_svc-1.x$", "0"}, 0o777},
		{Owner{}, 0o600},
		{Owner{}, 0},
	}
	for i, p := range c.Ports {
		if p.SocketOwner != want[i].owner || p.SocketMode != want[i].mode {
			t.Errorf("port %s: owner %+v mode %#o, want %+v %#o", p.Name, p.SocketOwner, p.SocketMode, want[i].owner, want[i].mode)
		}
	}
	// The control API's JSON gives the same.
	p, err := ParsePort([]byte(`{"name": "g", "type": "qemu", "socket": "/run/g.sock", "socket_owner": "qemu", "socket_mode": "0640"}`))
	if err != nil || p.SocketOwner != (Owner{User: "qemu"}) || p.SocketMode != 0o640 {
		t.Fatalf("JSON port %+v %v", p, err)
	}
}

func TestSocketKeyErrors(t *testing.T) {
	const q = "ports:\n  - {name: a, type: qemu, socket: /s, %s}\n"
	tests := []struct{ name, key, want string }{
		{"owner with a space", `socket_owner: "a b"`, `ports[0].socket_owner: "a b" is not a user and optional group, each a name or a number, like qemu, 107 or 107:107`},
		{"owner empty user", `socket_owner: ":kvm"`, `ports[0].socket_owner: ":kvm" is not a user and optional group, each a name or a number, like qemu, 107 or 107:107`},
		{"owner empty group", `socket_owner: "qemu:"`, `ports[0].socket_owner: "qemu:" is not a user and optional group, each a name or a number, like qemu, 107 or 107:107`},
		{"owner -1", `socket_owner: "-1"`, `ports[0].socket_owner: "-1" is not a user and optional group, each a name or a number, like qemu, 107 or 107:107`},
		{"owner 2^32-1", `socket_owner: "4294967295"`, `ports[0].socket_owner: "4294967295" is not a user and optional group, each a name or a number, like qemu, 107 or 107:107`},
		{"owner digit first", `socket_owner: "1abc"`, `ports[0].socket_owner: "1abc" is not a user and optional group, each a name or a number, like qemu, 107 or 107:107`},
		{"owner two colons", `socket_owner: "a:b:c"`, `ports[0].socket_owner: "a:b:c" is not a user and optional group, each a name or a number, like qemu, 107 or 107:107`},
		{"owner a list", `socket_owner: [a]`, `ports[0].socket_owner: must be a single value`},
		{"mode not octal", `socket_mode: 0680`, `ports[0].socket_mode: "0680" is not an octal file mode from 0 to 0777, like 0600 or 0660`},
		{"mode setuid", `socket_mode: 04660`, `ports[0].socket_mode: "04660" is not an octal file mode from 0 to 0777, like 0600 or 0660`},
		{"mode words", `socket_mode: rw`, `ports[0].socket_mode: "rw" is not an octal file mode from 0 to 0777, like 0600 or 0660`},
		{"mode owner cannot write", `socket_mode: 0466`, `ports[0].socket_mode: 0466 does not let the owner write: nobody but root could connect`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(fmt.Sprintf(q, tt.key)))
			if want := "f.yaml:2: " + tt.want; err == nil || err.Error() != want {
				t.Fatalf("got  %v\nwant %s", err, want)
			}
		})
	}
	others := []struct{ yaml, want string }{
		{"ports:\n  - name: a\n    type: tap\n    socket_mode: 0600\n", "f.yaml:4: ports[0].socket_mode: socket_mode does not apply to a tap port"},
		{"ports:\n  - name: a\n    type: afpacket\n    device: e\n    socket_owner: qemu\n", "f.yaml:5: ports[0].socket_owner: socket_owner does not apply to a afpacket port"},
		{"ports:\n  - name: a\n    type: qemu\n    listen: 127.0.0.1:5\n    socket_owner: qemu\n    socket_mode: 0600\n",
			"f.yaml:5: ports[0].socket_owner: socket_owner applies to a unix socket (socket:); a listen: port is open to every local user\n" +
				"f.yaml:6: ports[0].socket_mode: socket_mode applies to a unix socket (socket:); a listen: port is open to every local user"},
	}
	for _, tt := range others {
		if _, err := Parse("f.yaml", []byte(tt.yaml)); err == nil || err.Error() != tt.want {
			t.Errorf("got  %v\nwant %s", err, tt.want)
		}
	}
}

// checkSocketKeys: what FuzzParse accepts has a mode and owner only on a
// unix socket port, the mode lets the owner connect, and the owner's parts
// are each a name or a number.
func checkSocketKeys(t *testing.T, p *Port) {
	t.Helper()
	if p.Socket == "" {
		if p.SocketMode != 0 || !p.SocketOwner.IsZero() {
			t.Fatalf("port %s without a socket: mode %#o owner %+v", p.Name, p.SocketMode, p.SocketOwner)
		}
		return
	}
	if p.SocketMode&^0o777 != 0 || p.SocketMode&0o200 == 0 {
		t.Fatalf("port %s: socket mode %#o", p.Name, p.SocketMode)
	}
	if o := p.SocketOwner; !o.IsZero() && (!validID(o.User) || o.Group != "" && !validID(o.Group)) {
		t.Fatalf("port %s: socket owner %+v", p.Name, o)
	}
}

// Reference grammars for socket_owner and socket_mode, written
// independently of the parser.
var (
	ownerRef = regexp.MustCompile(`^([0-9]+|[A-Za-z_][A-Za-z0-9_.-]*\$?)(:([0-9]+|[A-Za-z_][A-Za-z0-9_.-]*\$?))?$`)
	modeRef  = regexp.MustCompile(`^(0o)?[0-7]+$`)
)

func ownerPartOK(s string) bool {
	if len(s) > 32 {
		return false
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return n <= 4294967294
	}
	return s[0] < '0' || s[0] > '9'
}

// FuzzSocketKeys: a qemu port given socket_owner and socket_mode (through
// the control API's JSON) is accepted exactly when both match the
// reference grammars, and then holds exactly those values.
func FuzzSocketKeys(f *testing.F) {
	for _, s := range [][2]string{{"qemu", "0600"}, {"107:107", "660"}, {"libvirt-qemu:kvm", "0o640"}, {"a$", "0777"},
		{"4294967295", "0200"}, {"1a", "0466"}, {"a:b:c", "01777"}, {"", "0o"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, owner, mode string) {
		if !utf8.ValidString(owner + mode) {
			return
		}
		spec, _ := json.Marshal(map[string]string{"name": "q", "type": "qemu", "socket": "/s", "socket_owner": owner, "socket_mode": mode})
		p, err := ParsePort(spec)

		wantOwner := ownerRef.MatchString(owner)
		user, group, _ := strings.Cut(owner, ":")
		wantOwner = wantOwner && ownerPartOK(user) && (group == "" || ownerPartOK(group))
		var m uint64
		wantMode := modeRef.MatchString(mode)
		if wantMode {
			var perr error
			m, perr = strconv.ParseUint(strings.TrimPrefix(mode, "0o"), 8, 64)
			wantMode = perr == nil && m <= 0o777 && m&0o200 != 0
		}
		if (err == nil) != (wantOwner && wantMode) {
			t.Fatalf("owner %q mode %q: error %v, want accepted %v (owner %v, mode %v)", owner, mode, err, wantOwner && wantMode, wantOwner, wantMode)
		}
		if err != nil {
			return
		}
		if p.SocketOwner != (Owner{User: user, Group: group}) || p.SocketMode != fs.FileMode(m) {
			t.Fatalf("owner %q mode %q: parsed %+v %#o", owner, mode, p.SocketOwner, p.SocketMode)
		}
	})
}
