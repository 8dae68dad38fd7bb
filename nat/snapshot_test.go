package nat

import (
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// snapTable is a table with one flow of each kind: an established TCP
// flow remapped off its port (another guest held it), a UDP flow, an ICMP
// echo, and a port forward's flow.
func snapTable(t *testing.T) *Table {
	t.Helper()
	tb := New(Config{})
	tb.AddForward(protoTCP, 8080, netip.AddrPortFrom(guest2, 80))
	for _, g := range []netip.Addr{guest2, guest} { // guest's 40000 is taken: remapped
		tb.Outbound(Packet{IP: build(t, protoTCP, g, remote, 40000, 80, "syn")}, uplink, now)
	}
	_, e := tb.Outbound(Packet{IP: build(t, protoTCP, guest, remote, 40000, 80, "syn")}, uplink, now)
	tb.Inbound(Packet{IP: build(t, protoTCP, remote, uplink, 80, e.Outside.Src.Port(), "synack")}, now)
	tb.Outbound(Packet{IP: build(t, protoTCP, guest, remote, 40000, 80, "ack")}, uplink, now)
	tb.Outbound(Packet{IP: build(t, protoUDP, guest, remote, 5353, 53, "")}, uplink, now)
	tb.Outbound(Packet{IP: build(t, protoICMP, guest, remote, 7, 7, "")}, uplink, now)
	tb.Inbound(Packet{IP: build(t, protoTCP, remote, uplink, 50000, 8080, "syn")}, now)
	if tb.Len() != 5 {
		t.Fatalf("setup: %d flows, want 5", tb.Len())
	}
	return tb
}

func sortedFlows(s Snapshot) []Flow {
	f := slices.Clone(s.Flows)
	slices.SortFunc(f, func(a, b Flow) int {
		return strings.Compare(a.InSrc.String()+a.InDst.String(), b.InSrc.String()+b.InDst.String())
	})
	return f
}

// TestSnapshotRoundTrip: a table exported, sent as JSON and imported
// into an empty one is the same table, and an established flow's next
// packet leaves with the outside port it had, not a fresh one.
func TestSnapshotRoundTrip(t *testing.T) {
	old := snapTable(t)
	b, err := json.Marshal(old.Export())
	if err != nil {
		t.Fatal(err)
	}
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	nu := New(Config{})
	if n, err := nu.Import(s, now+1); n != 5 || err != nil {
		t.Fatalf("import: %d, %v; want 5, nil", n, err)
	}
	if got, want := sortedFlows(nu.Export()), sortedFlows(old.Export()); !slices.Equal(got, want) {
		t.Fatalf("imported table:\n%+v\nwant\n%+v", got, want)
	}
	p := build(t, protoTCP, guest, remote, 40000, 80, "ack")
	v, e := nu.Outbound(Packet{IP: p}, uplink, now+1)
	if v != Translated || e.Outside.Src != netip.AddrPortFrom(uplink, 32768) || e.State() != "established" {
		t.Fatalf("established flow after import: %v %v %s; want its remapped port 32768, established", v, e.Outside.Src, e.State())
	}
	if v, e := nu.Inbound(Packet{IP: build(t, protoTCP, remote, uplink, 80, 32768, "ack")}, now+1); v != Translated || e.Inside.Src != netip.AddrPortFrom(guest, 40000) {
		t.Fatalf("reply after import: %v, want it to reach the guest", v)
	}
	if nu.Stats().Created != 5 || nu.Len() != 5 {
		t.Fatalf("after import: %d flows, %+v", nu.Len(), nu.Stats())
	}
}

// TestSnapshotImportRefuses: each bad record is refused with its reason;
// the flows before it stay, expired ones are skipped silently.
func TestSnapshotImportRefuses(t *testing.T) {
	good := snapTable(t).Export()
	first := sortedFlows(good)[0]
	for _, tc := range []struct {
		name    string
		cfg     Config
		edit    func(s *Snapshot)
		wantN   int
		wantErr error
		wantMsg string
	}{
		{"version", Config{}, func(s *Snapshot) { s.Version = 2 }, 0, ErrSnapshotVersion, "version"},
		{"duplicate inside", Config{}, func(s *Snapshot) {
			d := first
			d.OutSrc = netip.AddrPortFrom(uplink, 1)
			s.Flows = []Flow{first, d}
		}, 1, ErrSnapshotFlow, "inside tuple taken twice"},
		{"duplicate outside", Config{}, func(s *Snapshot) {
			d := first
			d.InSrc = netip.AddrPortFrom(guest2, 9)
			s.Flows = []Flow{first, d}
		}, 1, ErrSnapshotFlow, "outside tuple taken twice"},
		{"max entries", Config{MaxEntries: 3}, func(*Snapshot) {}, 3, ErrSnapshotFlow, "max_entries"},
		{"max per source", Config{MaxPerSource: 1}, func(s *Snapshot) { s.Flows = sortedFlows(*s) }, 1, ErrSnapshotFlow, "max_per_source"},
		{"bad state", Config{}, func(s *Snapshot) { s.Flows = []Flow{first}; s.Flows[0].State = 99 }, 0, ErrSnapshotFlow, "state 99"},
		{"missing address", Config{}, func(s *Snapshot) { s.Flows = []Flow{first}; s.Flows[0].OutSrc = netip.AddrPort{} }, 0, ErrSnapshotFlow, "missing"},
		{"other remote", Config{}, func(s *Snapshot) {
			s.Flows = []Flow{first}
			s.Flows[0].OutDst = netip.AddrPortFrom(guest2, 1)
		}, 0, ErrSnapshotFlow, "different remotes"},
		{"expired skipped", Config{}, func(s *Snapshot) {
			s.Flows = []Flow{first, first}
			s.Flows[1].LastSeen = now - TimeoutTCPEstablished - 1
		}, 1, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := good
			s.Flows = slices.Clone(good.Flows)
			tc.edit(&s)
			tb := New(tc.cfg)
			n, err := tb.Import(s, now)
			if n != tc.wantN || tb.Len() != tc.wantN {
				t.Fatalf("imported %d (table %d), want %d", n, tb.Len(), tc.wantN)
			}
			if !errors.Is(err, tc.wantErr) || tc.wantErr != nil && !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err %v, want %v with %q", err, tc.wantErr, tc.wantMsg)
			}
		})
	}
}

// FuzzSnapshotImport: whatever a snapshot says, Import never panics,
// never goes past the table's bound, and leaves a table whose every flow
// is found by both its tuples; a second export and import agree.
func FuzzSnapshotImport(f *testing.F) {
	b, _ := json.Marshal(snapTable(&testing.T{}).Export())
	f.Add(b)
	f.Add([]byte(`{"version":1,"flows":[{"proto":6,"in_src":"1.2.3.4:5","in_dst":"5.6.7.8:9","out_src":"9.9.9.9:1","out_dst":"5.6.7.8:9","state":1,"last_seen":1700000000}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Snapshot
		if json.Unmarshal(data, &s) != nil {
			return
		}
		tb := New(Config{MaxEntries: 8, MaxPerSource: 4})
		n, _ := tb.Import(s, now)
		if n != tb.Len() || n > 8 {
			t.Fatalf("imported %d, table %d, bound 8", n, tb.Len())
		}
		ex := tb.Export()
		for _, fl := range ex.Flows {
			e, ok := tb.byInside.Load(Tuple{fl.Proto, fl.InSrc, fl.InDst})
			r, ok2 := tb.byOutside.Load(Tuple{fl.Proto, fl.OutDst, fl.OutSrc})
			if !ok || !ok2 || e != r {
				t.Fatalf("flow %+v not found by both tuples", fl)
			}
		}
		again := New(Config{MaxEntries: 8, MaxPerSource: 4})
		if m, err := again.Import(ex, now); m != n || err != nil {
			t.Fatalf("re-import: %d, %v; want %d", m, err, n)
		}
	})
}
