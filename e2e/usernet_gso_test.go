package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUserUplinkOffloads: a guest on a TAP (TSO on) behind a user
// uplink downloads 16 MiB from a server on the host namespace's address,
// and a client there downloads 16 MiB from the guest through a port
// forward, both checked by SHA-256. Super-frames cross the user uplink's
// port both ways: what the stack sends the guest (host GSO) and what the
// guest's TSO sends the stack average far above a 1514-byte frame, so
// neither the gateway nor the switch cut them on the way. No port drops
// a frame as bad_offload, tx_error or oversize, and the stack counts no
// bad checksum.
func TestUserUplinkOffloads(t *testing.T) {
	requireE2E(t, "udhcpc", "curl", "busybox", "ethtool", "sha256sum", "dd")
	hostNS, guest := newHost(t, "oh"), newHost(t, "og")
	hostNS.Run("ip", "addr", "add", "10.243.0.1/32", "dev", "lo")
	vs, addr := startUserLab(t, hostNS, "192.168.248", `    forwards: [{proto: tcp, port: 8080, to: "192.168.248.10:8000"}]
`, "", guest)
	requireTAPOffloads(t, guest, tapOf(t, guest))
	dir := t.TempDir()
	sum := randomBlob(t, filepath.Join(dir, "blob"), 16)
	serveBlob(hostNS, "10.243.0.1", dir)
	serveBlob(guest, "192.168.248.10", dir)
	for _, tr := range []struct {
		what   string
		client *host
		url    string
		rx     bool // the super-frames are what the uplink's port reads (from the stack)
	}{
		{"download (the stack's super-frames to the guest)", guest, "10.243.0.1:8000", true},
		{"upload (the guest's TSO frames to the stack, through the forward)", hostNS, "10.243.0.1:8080", false},
	} {
		before := vs.ports()
		downloadChecked(t, tr.client, "http://"+tr.url+"/blob", filepath.Join(t.TempDir(), "got"), sum, 90*time.Second, "60", tr.what)
		n := perFrame(t, before, vs.ports(), "host", tr.rx)
		t.Logf("%s: %d bytes per frame across the user uplink's port", tr.what, n)
		if n <= 1514 {
			t.Errorf("%s: %d bytes per frame: super-frames were cut before the stack", tr.what, n)
		}
	}
	noOffloadDrops(t, vs)
	m := hostNS.Run("curl", "-sf", "http://"+addr+"/metrics")
	for _, r := range []string{"user_bad_checksum", "user_bad_offload"} {
		if v := metric(t, m, "vswitch_uplink_drops_total", `reason="`+r+`",uplink="host"`); v != 0 {
			t.Errorf("%s %v, want 0", r, v)
		}
	}
}

// tapOf is the name of the one TAP device in guest's namespace.
func tapOf(t *testing.T, guest *host) string {
	t.Helper()
	for _, l := range strings.Split(guest.Run("ip", "-o", "link", "show", "type", "tun"), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			return strings.TrimSuffix(f[1], ":")
		}
	}
	t.Fatalf("no TAP device in %s", guest.Name)
	return ""
}
