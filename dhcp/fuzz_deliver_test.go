package dhcp

import (
	"maps"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// FuzzDeliver runs FuzzHandle's scripts through two servers on their own
// stores, one writing in Handle and one with Deliver, waiting for each ACK
// before the next message: the replies (bytes and addressee), the leases
// and the counters must be the same, and the file must hold each lease
// when its ACK is delivered, and at the end every lease the server lists.
// (The files themselves may differ: a RELEASE's write is made when the
// store goroutine gets to it, after changes the pool makes without a
// write, such as reusing a released address.)
func FuzzDeliver(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, sel uint8, script []byte) {
		cfgs := fuzzConfigs()
		cfg := cfgs[int(sel)%len(cfgs)]
		noSync := func(*os.File) error { return nil } // the file is written; only the fsync is left out
		dirS, dirA := t.TempDir(), t.TempDir()
		stS, err := OpenStore(dirS)
		must(t, err)
		stA, err := OpenStore(dirA)
		must(t, err)
		stS.sync, stA.sync = noSync, noSync
		defer stA.Close()
		delivered := make(chan Reply, 1)
		acfg := cfg
		acfg.Deliver = func(rep Reply) {
			rep.Msg = slices.Clone(rep.Msg)
			select {
			case delivered <- rep:
			default:
				t.Error("a second ACK before the first was taken")
			}
		}
		sy, as := NewServer(cfg, stS), NewServer(acfg, stA)
		now := time.Unix(1_700_000_000, 0)
		sy.now = func() time.Time { return now }
		as.now = sy.now
		bufS, bufA := make([]byte, 1500), make([]byte, 1500)
		for i := 0; len(script) > 0 && i < 64; i++ {
			var m []byte
			var adv time.Duration
			m, script, adv = nextMessage(cfg, script)
			now = now.Add(adv)
			want, wantOK := sy.Handle(pkt.DHCP(m), bufS)
			got, ok := as.Handle(pkt.DHCP(m), bufA)
			if wantOK && readRequest(m).typ == pkt.DHCPRequest && fuzzType(want.Msg) == pkt.DHCPAck {
				if ok {
					t.Fatalf("step %d: ACK returned by Handle", i)
				}
				select {
				case got = <-delivered:
					ok = true
				case <-time.After(10 * time.Second):
					t.Fatalf("step %d: ACK never delivered", i)
				}
				ip := pkt.DHCP(got.Msg).YIAddr()
				j := slices.IndexFunc(as.Leases(), func(l Lease) bool { return l.IP == ip })
				if j < 0 || !onDisk(t, dirA, as.Leases()[j]) {
					t.Fatalf("step %d: ACK for %v delivered, file does not hold the lease", i, ip)
				}
			}
			if ok != wantOK || string(got.Msg) != string(want.Msg) || got.Broadcast != want.Broadcast || got.DstMAC != want.DstMAC || got.DstIP != want.DstIP {
				t.Fatalf("step %d:\nDeliver %v %+v\nsync    %v %+v", i, ok, got, wantOK, want)
			}
			if !slices.Equal(keys(as.Leases()), keys(sy.Leases())) || as.Active() != sy.Active() {
				t.Fatalf("step %d: leases\nDeliver %+v\nsync    %+v", i, as.Leases(), sy.Leases())
			}
			if as.Drops() != sy.Drops() || !maps.Equal(as.Messages(), sy.Messages()) {
				t.Fatalf("step %d: counters\nDeliver %v %v\nsync    %v %v", i, as.Drops(), as.Messages(), sy.Drops(), sy.Messages())
			}
		}
		stA.Close() // writes the RELEASEs and DECLINEs still queued
		if len(delivered) != 0 {
			t.Fatalf("an ACK no REQUEST waited for: %+v", <-delivered)
		}
		for _, l := range as.Leases() {
			if !onDisk(t, dirA, l) {
				t.Fatalf("lease %+v not in the file after Close", l)
			}
		}
	})
}

// onDisk reports whether dir's lease file holds l exactly.
func onDisk(t *testing.T, dir string, l Lease) bool {
	st, err := OpenStore(dir)
	must(t, err)
	return slices.Contains(keys(st.Load(l.Network)), keys([]Lease{l})[0])
}

// fuzzType is a reply's option 53.
func fuzzType(b []byte) uint8 {
	it := pkt.DHCP(b).Options()
	for it.Next() {
		if it.Code() == pkt.OptMessageType && len(it.Data()) == 1 {
			return it.Data()[0]
		}
	}
	return 0
}
