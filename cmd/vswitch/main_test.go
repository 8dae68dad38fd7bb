package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/vswitch/vswitch/control"
)

func TestParsePortAdd(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr string
	}{
		{"afpacket access", []string{"vm3", "--type", "afpacket", "--device", "vnet3", "--vlan", "10"},
			`{"name":"vm3","type":"afpacket","vlan":10,"device":"vnet3"}`, ""},
		{"trunk", []string{"t", "--type", "afpacket", "--device", "eth1", "--trunk", "10,20", "--native", "1"},
			`{"name":"t","type":"afpacket","trunk":[10,20],"native":1,"device":"eth1"}`, ""},
		{"bad trunk", []string{"t", "--type", "afpacket", "--trunk", "10,x"}, "", `"x" is not a VLAN ID`},
		{"vlan and trunk", []string{"t", "--type", "tap", "--vlan", "3", "--trunk", "10"}, "", "exclude each other"},
		{"native alone", []string{"t", "--type", "tap", "--native", "3"}, "", "--native needs --trunk"},
		{"no type", []string{"t"}, "", "needs --type"},
		{"no name", []string{"--type", "tap"}, "", "needs a NAME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parsePortAdd(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(s)
			if string(b) != tt.want {
				t.Fatalf("%s\nwant %s", b, tt.want)
			}
		})
	}
}

func TestControlFlagAnywhere(t *testing.T) {
	for _, args := range [][]string{{"--control", "/x.sock", "show", "fdb"}, {"show", "fdb", "--control=/x.sock"}} {
		c, rest, err := takeControlFlag(args)
		if err != nil || c != "/x.sock" || strings.Join(rest, " ") != "show fdb" {
			t.Fatalf("%v -> %q %v %v", args, c, rest, err)
		}
	}
}

func TestExitCodes(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runMain([]string{"bogus"}, &out, &errb); code != exitUsage {
		t.Fatalf("unknown command: %d", code)
	}
	if code := runMain([]string{"version"}, &out, &errb); code != exitOK || !strings.HasPrefix(out.String(), "vswitch ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	out.Reset()
	if code := runMain([]string{"config", "default"}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "vsw0") {
		t.Fatalf("config default: %d", code)
	}
	if code := runMain([]string{"--control", "/nonexistent/x.sock", "show", "ports"}, &out, &errb); code != exitRuntime {
		t.Fatalf("unreachable daemon: %d", code)
	}
}

func TestPortsTable(t *testing.T) {
	var b bytes.Buffer
	printPorts(&b, []control.PortStatus{{Name: "t0", Type: "afpacket", Mode: "trunk", Trunk: []uint16{10, 20}, Native: 1,
		Drops: map[string]uint64{"vlan_not_allowed": 2, "queue_full": 1}}})
	s := b.String()
	for _, want := range []string{"trunk 10,20 native 1", "queue_full=1,vlan_not_allowed=2"} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
}
