package e2e

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// synFlood starts N connections to ADDR PORT at once and holds them until
// killed. In a guest that drops every SYN-ACK it gets, none completes: its
// kernel keeps retransmitting the SYNs instead, as a SYN flood does.
const synFlood = `import socket,sys,time
dst=(sys.argv[1], int(sys.argv[2])); ss=[]
for i in range(int(sys.argv[3])):
    s=socket.socket(); s.setblocking(False); s.connect_ex(dst); ss.append(s)
time.sleep(3600)`

// TestUserUplinkSynFlood: a guest starts 128 connections through the
// user uplink and answers none of the SYN-ACKs. It used to hold all 128
// of the stack's half-open slots for the two minutes gVisor retransmits a
// SYN-ACK, so no other guest could connect. Now one guest holds half the
// slots (64; the other SYNs are ignored, counted as user_half_open_source,
// and retried by its kernel), each for 10 s (then aborted, counted as
// user_handshake_timeout), and an honest guest downloads a file whole
// meanwhile.
func TestUserUplinkSynFlood(t *testing.T) {
	requireE2E(t, "python3", "udhcpc", "curl", "nft")
	l := newFloodLab(t, "s", "192.168.245", 1)
	hostNS, bad, good, addr, sum := l.hostNS, l.bad, l.good, l.addr, l.sum
	got := filepath.Join(t.TempDir(), "got")
	downloadChecked(t, good, "http://10.243.0.1:8000/blob", got, sum, 20*time.Second, "10", "the honest download before the flood")
	drops := func(reason string) float64 {
		m := hostNS.Run("curl", "-sf", "http://"+addr+"/metrics")
		return metric(t, m, "vswitch_uplink_drops_total", `reason="`+reason+`",uplink="host"`)
	}

	// The hostile guest's kernel never sees a SYN-ACK.
	bad.Run("nft", "add table ip vsflood")
	bad.Run("nft", "add chain ip vsflood in { type filter hook input priority 0 ; }")
	bad.Run("nft", "add rule ip vsflood in tcp flags & (syn | ack) == syn | ack drop")
	flood := bad.Start("python3", "-c", synFlood, "10.243.0.1", "9000", "128")
	defer flood.Process.Kill()
	testnet.WaitFor(t, 5*time.Second, "the flood's SYNs past its half ignored", func() bool { return drops("user_half_open_source") >= 64 })
	start := time.Now()
	downloadChecked(t, good, "http://10.243.0.1:8000/blob", got, sum, 5*time.Second, "4", "the honest download during the flood")
	t.Logf("the honest download took %v during the flood", time.Since(start).Round(time.Millisecond))
	// The 64 handshakes it holds end together, 10 s after they began; its
	// ignored SYNs are retried 15 s after the first, so none has begun
	// another handshake yet.
	testnet.WaitFor(t, 20*time.Second, "the flood's handshakes aborted", func() bool { return drops("user_handshake_timeout") >= 64 })
	if v := drops("user_handshake_timeout"); v != 64 {
		t.Fatalf("user_handshake_timeout %v, want 64", v)
	}
	if v := drops("user_half_open_full"); v != 0 {
		t.Fatalf("user_half_open_full %v: the flood took slots that were not its own", v)
	}
}
