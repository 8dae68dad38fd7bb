package testnet

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

func TestDHCPv6Client(t *testing.T) {
	duid := []byte{0, 3, 0, 1, 2, 2, 2, 2, 2, 2}
	sid := []byte{0, 3, 0, 1, 9, 9, 9, 9, 9, 9}
	addr := netip.MustParseAddr("fd00::1")
	for _, tc := range []struct {
		name string
		got  []byte
		want []byte
	}{
		{"request", DHCPv6Client(pkt.DHCPv6Request, 0x010203, duid, sid, true, 7, addr), cat(
			[]byte{3, 1, 2, 3},
			[]byte{0, 1, 0, 10}, duid,
			[]byte{0, 2, 0, 10}, sid,
			[]byte{0, 14, 0, 0},
			[]byte{0, 3, 0, 40, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0},
			[]byte{0, 5, 0, 24}, addr.AsSlice(), make([]byte, 8))},
		{"solicit", DHCPv6Client(pkt.DHCPv6Solicit, 9, duid, nil, false, 1, netip.Addr{}), cat(
			[]byte{1, 0, 0, 9},
			[]byte{0, 1, 0, 10}, duid,
			[]byte{0, 3, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0})},
		{"information-request", DHCPv6Client(pkt.DHCPv6InfoRequest, 9, duid, nil, false, 1, addr), cat(
			[]byte{11, 0, 0, 9},
			[]byte{0, 1, 0, 10}, duid)},
	} {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("%s:\n got % x\nwant % x", tc.name, tc.got, tc.want)
		}
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
