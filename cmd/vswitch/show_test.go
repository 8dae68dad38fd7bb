package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/vswitch/vswitch/control"
)

// samePrint fails t unless what a command printed (got) is exactly want.
func samePrint(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestPortsTable(t *testing.T) {
	var b bytes.Buffer
	printPorts(&b, []control.PortStatus{
		{Name: "vm1", Type: "tap", Mode: "access", VLAN: 10, Up: true, MACs: 1, MaxMACs: 4, RxPackets: 12, RxBytes: 1500,
			TxPackets: 3, TxBytes: 180, QueueCap: 1024, Drops: map[string]uint64{}},
		{Name: "trunk0", Type: "afpacket", Mode: "trunk", Trunk: []uint16{10, 20}, Native: 1, MACs: 23, QueueLen: 5, QueueCap: 1024,
			Drops: map[string]uint64{"vlan_not_allowed": 2, "queue_full": 1, "runt": 0}},
	})
	want := `NAME    TYPE      VLANS                 UP   MACS  RX-PKTS  RX-BYTES  TX-PKTS  TX-BYTES  QUEUE   DROPS
vm1     tap       10                    yes  1/4   12       1500      3        180       0/1024  -
trunk0  afpacket  trunk 10,20 native 1  no   23    0        0         0        0         5/1024  queue_full=1,vlan_not_allowed=2
`
	samePrint(t, b.String(), want)
}

func TestFDBTable(t *testing.T) {
	var b bytes.Buffer
	printFDB(&b, []control.FDBEntry{
		{VLAN: 20, MAC: "52:54:00:00:00:01", Port: "b", AgeSeconds: 3.4},
		{VLAN: 10, MAC: "52:54:00:00:00:0b", Port: "a", AgeSeconds: 301},
		{VLAN: 10, MAC: "52:54:00:00:00:0A", Port: "c", Static: true},
	})
	want := `VLAN  MAC                PORT  AGE   STATIC
10    52:54:00:00:00:0A  c     -     yes
10    52:54:00:00:00:0b  a     5m1s  no
20    52:54:00:00:00:01  b     3s    no
`
	samePrint(t, b.String(), want)
}

// Memberships then router ports, a permanent one (the gateway) with "-".
func TestMDBTable(t *testing.T) {
	var b bytes.Buffer
	printMDB(&b, []control.MDBEntry{
		{VLAN: 10, Group: "239.1.2.3", Port: "vm1", ExpiresSeconds: 259.6},
		{VLAN: 10, Group: "ff02::1:ff00:2", Port: "vm2", ExpiresSeconds: 12},
		{VLAN: 10, Port: "gw-default", Router: true},
		{VLAN: 10, Port: "trunk0", Router: true, ExpiresSeconds: 200},
	})
	want := `VLAN  GROUP           PORT        EXPIRES
10    239.1.2.3       vm1         4m20s
10    ff02::1:ff00:2  vm2         12s
10    router          gw-default  -
10    router          trunk0      3m20s
`
	samePrint(t, b.String(), want)
}

// A tunnel port's entries name their VTEP; the others get "-".
func TestFDBTableRemote(t *testing.T) {
	var b bytes.Buffer
	printFDB(&b, []control.FDBEntry{
		{VLAN: 10, MAC: "52:54:00:00:00:02", Port: "vx", AgeSeconds: 2, Remote: "10.0.0.6"},
		{VLAN: 10, MAC: "52:54:00:00:00:01", Port: "a", AgeSeconds: 1},
	})
	want := `VLAN  MAC                PORT  AGE  STATIC  REMOTE
10    52:54:00:00:00:01  a     1s   no      -
10    52:54:00:00:00:02  vx    2s   no      10.0.0.6
`
	samePrint(t, b.String(), want)
}

func TestLeasesTable(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	printLeases(&b, []control.Lease{
		{Network: "lab", MAC: "52:54:00:00:00:03", IP: "10.0.0.10", Expiry: now.Add(-time.Second), State: "bound"},
		{Network: "default", MAC: "52:54:00:00:00:02", IP: "192.168.122.10", Hostname: "web", Expiry: now.Add(time.Hour), State: "bound", Static: true},
		{Network: "default", MAC: "52:54:00:00:00:01", IP: "192.168.122.9", Expiry: now.Add(90 * time.Second), State: "bound"},
		{Network: "lab", MAC: "52:54:00:00:00:04", IP: "10.0.0.11", Expiry: now, State: "bound"},
		{Network: "lab", MAC: "52:54:00:00:00:05", IP: "10.0.0.12", State: "offered"},
		{Network: "lab", MAC: "52:54:00:00:00:06", IP: "fd00:122::100", Expiry: now.Add(time.Hour), State: "bound", Family: "ipv6", ClientID: "00030001525400000006/1"},
	}, now)
	want := `NETWORK  IP              MAC                HOSTNAME  STATE    EXPIRES    STATIC  DUID/IAID
default  192.168.122.9   52:54:00:00:00:01  -         bound    in 1m30s   no      -
default  192.168.122.10  52:54:00:00:00:02  web       bound    in 1h0m0s  yes     -
lab      10.0.0.10       52:54:00:00:00:03  -         bound    expired    no      -
lab      10.0.0.11       52:54:00:00:00:04  -         bound    expired    no      -
lab      10.0.0.12       52:54:00:00:00:05  -         offered  -          no      -
lab      fd00:122::100   52:54:00:00:00:06  -         bound    in 1h0m0s  no      00030001525400000006/1
`
	samePrint(t, b.String(), want)
}

func TestConntrackTable(t *testing.T) {
	var b bytes.Buffer
	printConntrack(&b, []control.ConnEntry{
		{Proto: "udp", Inside: "10.0.0.2:53000 -> 8.8.8.8:53", Outside: "192.0.2.1:61001 -> 8.8.8.8:53", TranslatedPort: 61001, AgeSeconds: 2},
		{Proto: "tcp", Inside: "10.0.0.2:40000 -> 1.1.1.1:80", Outside: "192.0.2.1:61000 -> 1.1.1.1:80", State: "established",
			TranslatedPort: 61000, AgeSeconds: 65, PacketsOut: 10, PacketsIn: 9, BytesOut: 800, BytesIn: 12000},
		{Proto: "icmp", Inside: "10.0.0.2 -> 9.9.9.9", Outside: "192.0.2.1 -> 9.9.9.9", AgeSeconds: 0.4, PacketsOut: 1, BytesOut: 84},
	})
	want := `PROTO  INSIDE                        OUTSIDE                        NAT-PORT  STATE        AGE   PKTS-OUT  PKTS-IN  BYTES-OUT  BYTES-IN
icmp   10.0.0.2 -> 9.9.9.9           192.0.2.1 -> 9.9.9.9           -         -            0s    1         0        84         0
tcp    10.0.0.2:40000 -> 1.1.1.1:80  192.0.2.1:61000 -> 1.1.1.1:80  61000     established  1m5s  10        9        800        12000
udp    10.0.0.2:53000 -> 8.8.8.8:53  192.0.2.1:61001 -> 8.8.8.8:53  61001     -            2s    0         0        0          0
`
	samePrint(t, b.String(), want)
}

func TestEmptyTables(t *testing.T) {
	var b bytes.Buffer
	printFDB(&b, nil)
	if b.String() != "VLAN  MAC  PORT  AGE  STATIC\n" {
		t.Fatalf("%q", b.String())
	}
}
