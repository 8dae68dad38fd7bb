package dhcp

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// appendLease writes exactly what encoding/json writes for a Lease (the
// reference), and the file reads back as the leases written.
func checkEncode(t *testing.T, ls []Lease) {
	t.Helper()
	for i := range ls {
		want, err := json.Marshal(ls[i])
		if err != nil {
			return // a time encoding/json refuses (year past 9999): not a lease vswitch makes
		}
		if got := appendLease(nil, &ls[i]); !bytes.Equal(got, want) {
			t.Fatalf("lease %+v\n got %s\nwant %s", ls[i], got, want)
		}
	}
	var back []Lease
	if err := json.Unmarshal(appendLeases(nil, ls), &back); err != nil {
		t.Fatalf("file does not parse: %v\n%s", err, appendLeases(nil, ls))
	}
	if len(back) != len(ls) {
		t.Fatalf("%d leases back, wrote %d", len(back), len(ls))
	}
}

func TestAppendLeases(t *testing.T) {
	exp := time.Date(2026, 11, 30, 3, 4, 5, 123456789, time.UTC)
	ls := []Lease{
		{Network: "default", ClientID: "mac:52:54:00:00:00:01", MAC: "52:54:00:00:00:01", IP: netip.MustParseAddr("10.9.0.10"),
			Hostname: "vm1", Expiry: exp, State: "bound"},
		{Network: "n", ClientID: "01525400000002", MAC: "52:54:00:00:00:02", IP: netip.MustParseAddr("10.9.0.11"),
			Expiry: exp.In(time.FixedZone("x", 3600)), State: "released", Static: true},
		{Network: "a\"b\\c<d>&e\x00\x1f\n\r\t\u2028\u2029\xffé", ClientID: "", Expiry: time.Time{}},
	}
	checkEncode(t, ls)
	if got := string(appendLeases(nil, nil)); got != "[\n]\n" {
		t.Fatalf("empty: %q", got)
	}
	var back []Lease
	must(t, json.Unmarshal(appendLeases(nil, ls[:2]), &back))
	if !slices.Equal(keys(back), keys(ls[:2])) {
		t.Fatalf("read back %+v", back)
	}
}

func FuzzAppendLease(f *testing.F) {
	f.Add("default", "mac:52:54:00:00:00:01", "vm1", "bound", int64(1_700_000_000_000_000_000), []byte{10, 9, 0, 1}, true)
	f.Add("a\"<\u2028\xff", "\x00", "", "", int64(-1), []byte{}, false)
	f.Fuzz(func(t *testing.T, network, id, host, state string, ns int64, ip []byte, static bool) {
		a, _ := netip.AddrFromSlice(ip)
		checkEncode(t, []Lease{{Network: network, ClientID: id, MAC: id, IP: a, Hostname: host,
			Expiry: time.Unix(0, ns).UTC(), State: state, Static: static}})
	})
}
