package main

import (
	"bytes"
	"testing"

	"github.com/vswitch/vswitch/control"
)

// TestEVPNTable pins `show evpn`: a type-2 route's IP in its own column,
// "-" where a route carries none.
func TestEVPNTable(t *testing.T) {
	var b bytes.Buffer
	printEVPN(&b, control.EVPN{Enabled: true, ASN: 65001, RouterID: "10.0.0.5", VTEP: "10.0.0.5",
		Sessions: []control.EVPNSession{{Neighbor: "10.0.0.6", ASN: 65001, State: "established", UptimeSeconds: 65}},
		VNIs:     []control.EVPNVNI{{VNI: 1010, VLAN: 10, Flood: []string{"10.0.0.6"}}},
		Routes: []control.EVPNRoute{
			{Type: "imet", VNI: 1010, VTEP: "10.0.0.5", RD: "10.0.0.5:1010", Local: true},
			{Type: "mac", VNI: 1010, MAC: "52:54:00:00:00:01", IP: "192.168.10.100", VTEP: "10.0.0.5", RD: "10.0.0.5:1010", Local: true},
			{Type: "mac", VNI: 1010, MAC: "52:54:00:00:00:02", VTEP: "10.0.0.6", RD: "10.0.0.6:1010"},
		}})
	want := `AS 65001, router ID 10.0.0.5, VTEP 10.0.0.5

NEIGHBOR  ASN    STATE        UPTIME
10.0.0.6  65001  established  1m5s

VNI   VLAN  FLOOD
1010  10    10.0.0.6

VNI   TYPE  MAC                IP              VTEP      RD             ORIGIN
1010  imet  -                  -               10.0.0.5  10.0.0.5:1010  local
1010  mac   52:54:00:00:00:01  192.168.10.100  10.0.0.5  10.0.0.5:1010  local
1010  mac   52:54:00:00:00:02  -               10.0.0.6  10.0.0.6:1010  remote
`
	samePrint(t, b.String(), want)
}
