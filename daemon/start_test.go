package daemon

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vswitch/vswitch/control"
	"github.com/vswitch/vswitch/internal/testnet"
)

// TestAPIDuringStart: clients that hammer /v1/ports, /v1/leases and
// /v1/conntrack while the daemon starts get their first answer only once
// everything is recorded: every /v1/ports answer lists all ports, the
// uplinks and gateways included. Under -race it also shows the API reads the
// daemon's networks and uplinks only after Start wrote them.
func TestAPIDuringStart(t *testing.T) {
	testnet.RequireRoot(t)
	ns := netns(t)
	const networks = 4
	var b strings.Builder
	var want []string
	for i := range networks {
		want = append(want, fmt.Sprintf("gw-n%d", i))
	}
	dir := t.TempDir()
	ctl := filepath.Join(dir, "vswitch.sock")
	tapName := name("a")
	fmt.Fprintf(&b, "control: %s\nmetrics: \"\"\nstate_dir: %s\nports:\n  - {name: %s, type: tap, netns: %s}\nnetworks:\n",
		ctl, dir, tapName, ns)
	for i := range networks {
		fmt.Fprintf(&b, "  - {name: n%d, vlan: %d, address: 10.%d.0.1/24, mode: nat, uplink: u%d, dhcp: {range: 10.%d.0.10-10.%d.0.20}}\n",
			i, i+1, 50+i, i%2, 50+i, 50+i)
	}
	b.WriteString("uplinks:\n")
	for i := range 2 {
		dev, _ := testnet.Veth(t, fmt.Sprintf("u%d", i), nil)
		fmt.Fprintf(&b, "  - {name: u%d, device: %s, address: 10.%d.0.5/24, gateway: 10.%d.0.1}\n", i, dev, 60+i, 60+i)
	}
	cfg := parse(t, b.String())
	// The uplinks are ports too (routed ports, listed after the L2 ports).
	want = append([]string{tapName, "u0", "u1"}, want...)

	for round := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var answers atomic.Int64
		var mu sync.Mutex
		var bad []string
		for _, path := range []string{"/v1/ports", "/v1/leases", "/v1/conntrack"} {
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := control.NewClient(ctl)
					for ctx.Err() == nil {
						switch path {
						case "/v1/ports":
							ps, err := c.Ports(ctx)
							if err != nil {
								continue // not listening yet, or stopping
							}
							var got []string
							for _, p := range ps {
								got = append(got, p.Name)
							}
							if fmt.Sprint(got) != fmt.Sprint(want) {
								mu.Lock()
								bad = append(bad, fmt.Sprint(got))
								mu.Unlock()
							}
						case "/v1/leases":
							if _, err := c.Leases(ctx); err != nil {
								continue
							}
						case "/v1/conntrack":
							if _, err := c.Conntrack(ctx); err != nil {
								continue
							}
						}
						answers.Add(1)
					}
				}()
			}
		}
		time.Sleep(10 * time.Millisecond) // the clients are dialing
		d, err := Start(cfg, quiet())
		if err != nil {
			cancel()
			wg.Wait()
			t.Fatal(err)
		}
		testnet.WaitFor(t, 5*time.Second, "answers after Start", func() bool { return answers.Load() >= 30 })
		cancel()
		wg.Wait()
		if err := d.Stop(); err != nil {
			t.Fatal(err)
		}
		if len(bad) > 0 {
			t.Fatalf("round %d: %d answers listed ports %s, want all of %q", round, len(bad), bad[0], want)
		}
	}
}

// TestQEMUSocketOwnerAndMode: socket_owner (names looked up, or numbers)
// and socket_mode from the config are the socket's, and the default is
// 0600 owned by vswitch. An unknown user, or a regular file at a socket
// path, stops Start with the config line and the reason, and leaves the
// directory as it was.
func TestQEMUSocketOwnerAndMode(t *testing.T) {
	testnet.RequireRoot(t)
	dir := t.TempDir()
	sock := func(n string) string { return filepath.Join(dir, n+".sock") }
	d, err := Start(parse(t, fmt.Sprintf(`control: %s
metrics: ""
ports:
  - {name: a, type: qemu, socket: %s}
  - {name: b, type: qemu, socket: %s, socket_owner: nobody, socket_mode: 0660}
  - {name: c, type: qemu, socket: %s, socket_owner: "nobody:nogroup", socket_mode: 0640}
  - {name: d, type: qemu, socket: %s, socket_owner: "65533:65532"}
`, sock("ctl"), sock("a"), sock("b"), sock("c"), sock("d"))), quiet())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		port     string
		mode     fs.FileMode
		uid, gid uint32
	}{
		{"a", 0o600, 0, 0},
		{"b", 0o660, 65534, 0},
		{"c", 0o640, 65534, 65534},
		{"d", 0o600, 65533, 65532},
		{"ctl", 0o600, 0, 0},
	} {
		fi, err := os.Lstat(sock(tt.port))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != fs.ModeSocket|tt.mode || st.Uid != tt.uid || st.Gid != tt.gid {
			t.Errorf("%s: %v %d:%d, want %v %d:%d", tt.port, fi.Mode(), st.Uid, st.Gid, fs.ModeSocket|tt.mode, tt.uid, tt.gid)
		}
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Fatalf("left after Stop: %q", got)
	}

	os.WriteFile(sock("file"), []byte("precious"), 0o644)
	for _, tt := range []struct{ port, want string }{
		{"socket_owner: vsdnosuch", `vsd.yaml:5: port b: socket_owner: no user "vsdnosuch" on this host`},
		{`socket_owner: "nobody:vsdnosuch"`, `vsd.yaml:5: port b: socket_owner: no group "vsdnosuch" on this host`},
		{"socket: " + sock("file"), "vsd.yaml:5: port b: qemu port b: " + sock("file") + " is a regular file: not a socket, refusing to replace it"},
	} {
		extra := "socket: " + sock("b") + ", " + tt.port
		if strings.HasPrefix(tt.port, "socket:") {
			extra = tt.port
		}
		d, err := Start(parse(t, fmt.Sprintf("control: %s\nmetrics: \"\"\nports:\n  - {name: a, type: qemu, socket: %s}\n  - {name: b, type: qemu, %s}\n",
			sock("ctl"), sock("a"), extra)), quiet())
		if err == nil {
			d.Stop()
			t.Fatalf("%s: started", tt.port)
		}
		if err.Error() != tt.want {
			t.Fatalf("got  %v\nwant %s", err, tt.want)
		}
		if got := dirNames(t, dir); !slices.Equal(got, []string{"file.sock"}) {
			t.Fatalf("left after a failed start: %q", got)
		}
	}
	if b, _ := os.ReadFile(sock("file")); string(b) != "precious" {
		t.Fatalf("the regular file was touched: %q", b)
	}
}
