package dhcp

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// leaseKey is what must survive a restart.
type leaseKey struct {
	network, clientID, mac, hostname, state string
	ip                                      netip.Addr
	expiry                                  int64 // ns: JSON keeps the instant, not the monotonic clock or zone
	static                                  bool
}

func keys(ls []Lease) []leaseKey {
	var out []leaseKey
	for _, l := range ls {
		out = append(out, leaseKey{l.Network, l.ClientID, l.MAC, l.Hostname, l.State, l.IP, l.Expiry.UnixNano(), l.Static})
	}
	return out
}

func selecting(m pkt.MAC, ip netip.Addr) msg {
	return msg{typ: pkt.DHCPRequest, mac: m, reqIP: ip, serverID: gw.Addr()}
}

// A REQUEST whose lease cannot be written gets no ACK, counts the drop and
// leaves no bound lease in memory; the same REQUEST is acknowledged once
// the directory is back.
func TestNoAckWithoutDurableWrite(t *testing.T) {
	ten, eleven := netip.MustParseAddr("10.9.0.10"), netip.MustParseAddr("10.9.0.11")
	breakers := []struct {
		name       string
		brk, fix   func(t *testing.T, dir string, st *Store)
		fileIntact bool // the old leases.json is still there while broken
	}{
		{name: "file where the directory was",
			brk: func(t *testing.T, dir string, _ *Store) {
				must(t, os.RemoveAll(dir))
				must(t, os.WriteFile(dir, nil, 0o644))
			},
			fix: func(t *testing.T, dir string, _ *Store) {
				must(t, os.Remove(dir))
				must(t, os.Mkdir(dir, 0o755))
			}},
		{name: "directory where leases.json goes", fileIntact: false,
			brk: func(t *testing.T, dir string, _ *Store) {
				p := filepath.Join(dir, "leases.json")
				must(t, os.Remove(p))
				must(t, os.MkdirAll(filepath.Join(p, "x"), 0o755))
			},
			fix: func(t *testing.T, dir string, _ *Store) { must(t, os.RemoveAll(filepath.Join(dir, "leases.json"))) }},
		{name: "file fsync fails", fileIntact: true,
			brk: func(t *testing.T, _ string, st *Store) { st.sync = failSync(false) },
			fix: func(t *testing.T, _ string, st *Store) { st.sync = (*os.File).Sync }},
		{name: "directory fsync fails",
			brk: func(t *testing.T, _ string, st *Store) { st.sync = failSync(true) },
			fix: func(t *testing.T, _ string, st *Store) { st.sync = (*os.File).Sync }},
	}
	for _, tc := range breakers {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			st, err := OpenStore(dir)
			must(t, err)
			s, _ := newServer(t, Config{}, st)
			if ip := bind(t, s, mac(1)); ip != ten {
				t.Fatalf("first client got %v", ip)
			}
			before, err := os.ReadFile(filepath.Join(dir, "leases.json"))
			must(t, err)
			tc.brk(t, dir, st)
			// The offer is not stored, so it is made.
			if typ, ip, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(2)}); typ != pkt.DHCPOffer || ip != eleven {
				t.Fatalf("offer while broken: %d %v", typ, ip)
			}
			if typ, _, _ := reply(t, s, selecting(mac(2), eleven)); typ != 0 {
				t.Fatalf("answered %d without writing the lease", typ)
			}
			if d := s.Drops(); d[DropStoreFailed] != 1 {
				t.Fatalf("drops %v", d)
			}
			if got := keys(s.Leases()); len(got) != 1 || got[0].ip != ten || s.Active() != 1 {
				t.Fatalf("leases after the failed write: %+v, active %d", got, s.Active())
			}
			if tc.fileIntact {
				after, err := os.ReadFile(filepath.Join(dir, "leases.json"))
				must(t, err)
				if string(after) != string(before) {
					t.Fatalf("leases.json changed by a failed write:\n%s", after)
				}
			}
			tc.fix(t, dir, st)
			// The client retries its REQUEST within the offer's hold.
			if typ, ip, _ := reply(t, s, selecting(mac(2), eleven)); typ != pkt.DHCPAck || ip != eleven {
				t.Fatalf("after repair: %d %v", typ, ip)
			}
			st2 := reopen(t, dir)
			sameLeases(t, st2.Load("n"), s.Leases())
			if got := len(st2.Load("n")); got != 2 {
				t.Fatalf("%d leases stored, want 2", got)
			}
			tmps, _ := filepath.Glob(filepath.Join(dir, ".leases-*"))
			if len(tmps) != 0 {
				t.Fatalf("temp files left: %v", tmps)
			}
		})
	}
}

// failSync fails the fsync of the directory, or of the file.
func failSync(dir bool) func(*os.File) error {
	return func(f *os.File) error {
		if fi, err := f.Stat(); err != nil || fi.IsDir() == dir {
			return errors.New("injected fsync failure")
		}
		return f.Sync()
	}
}

// Every write syncs the file and then its directory.
func TestSaveSyncsFileThenDirectory(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenStore(dir)
	must(t, err)
	var synced []string
	st.sync = func(f *os.File) error {
		fi, err := f.Stat()
		must(t, err)
		synced = append(synced, map[bool]string{true: "dir", false: "file"}[fi.IsDir()])
		return f.Sync()
	}
	must(t, st.Save("n", nil))
	if !slices.Equal(synced, []string{"file", "dir"}) {
		t.Fatalf("synced %v", synced)
	}
}

// Leases written by one server are exactly what a new server over the same
// directory starts with, for every network in the file.
func TestLeasesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenStore(dir)
	must(t, err)
	other := Config{Network: "m", Gateway: netip.MustParsePrefix("10.8.0.1/24"), RangeStart: netip.MustParseAddr("10.8.0.10"),
		RangeEnd: netip.MustParseAddr("10.8.0.20"), Lease: 2 * time.Hour}
	web := netip.MustParseAddr("10.9.0.50")
	s, c := newServer(t, Config{Hosts: []Host{{MAC: mac(9), IP: web, Name: "web"}}}, st)
	m := NewServer(other, st)
	m.now = s.now
	bind(t, s, mac(1))
	c.t = c.t.Add(time.Minute) // distinct expiries
	typ, ip, _ := reply(t, s, msg{typ: pkt.DHCPDiscover, mac: mac(2), clientID: []byte{1, 2}})
	if typ, _, _ = reply(t, s, msg{typ: pkt.DHCPRequest, mac: mac(2), clientID: []byte{1, 2}, reqIP: ip, serverID: gw.Addr(), hostname: []byte("vm2")}); typ != pkt.DHCPAck {
		t.Fatal("client id request not acked")
	}
	if got := bind(t, s, mac(9)); got != web {
		t.Fatalf("static host got %v", got)
	}
	ip3 := bind(t, s, mac(3))
	reply(t, s, msg{typ: pkt.DHCPRelease, mac: mac(3), ciaddr: ip3})
	mip := netip.MustParseAddr("10.8.0.10")
	if typ, _, _ := reply(t, m, msg{typ: pkt.DHCPRequest, mac: mac(4), reqIP: mip}); typ != pkt.DHCPAck {
		t.Fatal("other network: no ack")
	}
	reply(t, m, msg{typ: pkt.DHCPDiscover, mac: mac(5)}) // an offer: never stored

	want := []leaseKey{
		{"n", "mac:52:54:00:00:00:01", "52:54:00:00:00:01", "", "bound", netip.MustParseAddr("10.9.0.10"), c.t.Add(-time.Minute).Add(time.Hour).UnixNano(), false},
		{"n", "0102", "52:54:00:00:00:02", "vm2", "bound", netip.MustParseAddr("10.9.0.11"), c.t.Add(time.Hour).UnixNano(), false},
		{"n", "mac:52:54:00:00:00:03", "52:54:00:00:00:03", "", "released", netip.MustParseAddr("10.9.0.12"), c.t.UnixNano(), false},
		{"n", "mac:52:54:00:00:00:09", "52:54:00:00:00:09", "web", "bound", web, c.t.Add(time.Hour).UnixNano(), true},
	}
	if got := keys(s.Leases()); !slices.Equal(got, want) {
		t.Fatalf("before restart:\n got %+v\nwant %+v", got, want)
	}
	st2 := reopen(t, dir)
	s2, _ := newServer(t, Config{Hosts: []Host{{MAC: mac(9), IP: web, Name: "web"}}}, st2)
	if got := keys(s2.Leases()); !slices.Equal(got, want) {
		t.Fatalf("after restart:\n got %+v\nwant %+v", got, want)
	}
	m2 := NewServer(other, st2)
	if got := keys(m2.Leases()); len(got) != 1 || got[0].network != "m" || got[0].ip != mip || got[0].expiry != c.t.Add(2*time.Hour).UnixNano() {
		t.Fatalf("other network after restart: %+v", got)
	}
	// The file lists networks in order, addresses ascending within each.
	data, err := os.ReadFile(filepath.Join(dir, "leases.json"))
	must(t, err)
	var file []Lease
	must(t, json.Unmarshal(data, &file))
	var order []string
	for _, l := range file {
		order = append(order, l.IP.String())
	}
	if !slices.Equal(order, []string{"10.8.0.10", "10.9.0.10", "10.9.0.11", "10.9.0.12", "10.9.0.50"}) {
		t.Fatalf("file order %v", order)
	}
	// The network renumbered: its stored leases no longer apply.
	moved := NewServer(Config{Network: "n", Gateway: netip.MustParsePrefix("10.7.0.1/24"),
		RangeStart: netip.MustParseAddr("10.7.0.10"), RangeEnd: netip.MustParseAddr("10.7.0.20")}, st2)
	if got := moved.Leases(); len(got) != 0 {
		t.Fatalf("leases of the old prefix kept: %+v", got)
	}
}

func TestOpenStoreErrors(t *testing.T) {
	dir := t.TempDir()
	// The state directory cannot be made: a file is in the way.
	must(t, os.WriteFile(filepath.Join(dir, "f"), nil, 0o644))
	if _, err := OpenStore(filepath.Join(dir, "f", "state")); err == nil || !strings.HasPrefix(err.Error(), "lease store: ") {
		t.Fatalf("under a file: %v", err)
	}
	// leases.json unreadable (a directory).
	must(t, os.MkdirAll(filepath.Join(dir, "d", "leases.json"), 0o755))
	if _, err := OpenStore(filepath.Join(dir, "d")); err == nil || !strings.HasPrefix(err.Error(), "lease store: ") {
		t.Fatalf("unreadable: %v", err)
	}
	// Corrupt: refused, with the path and what to do.
	must(t, os.MkdirAll(filepath.Join(dir, "c"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "c", "leases.json"), []byte("[{"), 0o644))
	_, err := OpenStore(filepath.Join(dir, "c"))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "c", "leases.json")) || !strings.Contains(err.Error(), "move it aside") {
		t.Fatalf("corrupt: %v", err)
	}
	// Absent: empty, and the directory is made.
	st, err := OpenStore(filepath.Join(dir, "new", "state"))
	if err != nil || len(st.Load("n")) != 0 {
		t.Fatalf("absent: %v %v", st, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "new", "state")); err != nil || !fi.IsDir() {
		t.Fatalf("state directory not made: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// reopen opens dir afresh, as the next run of vswitch would.
func reopen(t *testing.T, dir string) *Store {
	t.Helper()
	st, err := OpenStore(dir)
	must(t, err)
	return st
}

// sameLeases fails unless stored, read back from disk, are the server's
// leases served, field for field.
func sameLeases(t *testing.T, stored, served []Lease) {
	t.Helper()
	if got, want := keys(stored), keys(served); !slices.Equal(got, want) {
		t.Fatalf("stored %+v, server has %+v", got, want)
	}
}

// TestBoundAt: a lease is bound at now only in state bound and only
// before its expiry (at the expiry instant it has ended).
func TestBoundAt(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		state  string
		expiry time.Time
		want   bool
	}{
		{"bound", now.Add(time.Second), true},
		{"bound", now, false},
		{"bound", now.Add(-time.Second), false},
		{"released", now.Add(time.Hour), false},
		{"", now.Add(time.Hour), false},
	} {
		l := Lease{State: c.state, Expiry: c.expiry}
		if got := l.BoundAt(now); got != c.want {
			t.Errorf("%q until %v: BoundAt %v, want %v", c.state, c.expiry.Sub(now), got, c.want)
		}
	}
}
