package pkt

import (
	"net/netip"
	"reflect"
	"testing"
)

func dhcpWith(opts ...byte) DHCP {
	m := make([]byte, DHCPOptionsOff, DHCPOptionsOff+len(opts)+1)
	copy(m[236:], []byte{0x63, 0x82, 0x53, 0x63})
	return DHCP(append(append(m, opts...), OptEnd))
}

func TestParseOptions(t *testing.T) {
	m := dhcpWith(
		OptMessageType, 1, DHCPAck,
		OptRequestedIP, 4, 10, 0, 0, 9,
		OptServerID, 4, 10, 0, 0, 1,
		OptRouter, 8, 10, 0, 0, 254, 10, 0, 0, 253,
		OptSubnetMask, 4, 255, 255, 240, 0,
		OptLeaseTime, 4, 0, 0, 0x0e, 0x10,
		OptMaxSize, 2, 0x05, 0xdc,
		OptClientID, 3, 1, 2, 3,
		OptHostname, 3, 'w', 'e', 'b',
		OptParamRequest, 2, 1, 3,
		OptRelayAgent, 6, 1, 4, 'p', 'o', 'r', 't',
		0, // a pad byte in between
	)
	got := m.ParseOptions()
	want := DHCPOptionSet{
		Type: DHCPAck, RequestedIP: netip.MustParseAddr("10.0.0.9"), ServerID: netip.MustParseAddr("10.0.0.1"),
		Router: netip.MustParseAddr("10.0.0.254"), MaskBits: 20, LeaseTime: 3600, MaxSize: 1500,
		ClientID: []byte{1, 2, 3}, Hostname: []byte("web"), ParamRequest: []byte{1, 3}, HasParams: true,
		RelayAgent: []byte{1, 4, 'p', 'o', 'r', 't'},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

// Options of the wrong length are ignored as if absent; the last of a
// repeated option wins; a walk past the end is Malformed.
func TestParseOptionsBadLengths(t *testing.T) {
	got := dhcpWith(
		OptMessageType, 2, 1, 1,
		OptRequestedIP, 3, 10, 0, 0,
		OptServerID, 5, 10, 0, 0, 1, 1,
		OptRouter, 3, 10, 0, 0,
		OptSubnetMask, 3, 255, 255, 255,
		OptLeaseTime, 2, 0, 1,
		OptMaxSize, 1, 5,
		OptClientID, 0,
		OptParamRequest, 0,
		OptMessageType, 1, DHCPDiscover,
		OptMessageType, 1, DHCPRequest,
	).ParseOptions()
	want := DHCPOptionSet{Type: DHCPRequest, MaskBits: -1, Hostname: nil, ParamRequest: []byte{}, HasParams: true}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if o := dhcpWith(OptMessageType, 1, DHCPDiscover, OptHostname, 9, 'x')[:DHCPOptionsOff+5].ParseOptions(); !o.Malformed || o.Type != DHCPDiscover {
		t.Fatalf("truncated: %+v", o)
	}
	if o := dhcpWith(OptSubnetMask, 4, 0, 0, 0, 0).ParseOptions(); o.MaskBits != 0 {
		t.Fatalf("mask 0.0.0.0: %d bits", o.MaskBits)
	}
	if o := dhcpWith(OptSubnetMask, 4, 255, 255, 255, 255).ParseOptions(); o.MaskBits != 32 {
		t.Fatalf("mask /32: %d bits", o.MaskBits)
	}
}
