package main

import (
	"encoding/json"
	"flag"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestParsePortAdd(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    string // the JSON spec
		wantErr string
	}{
		{"tap", []string{"vm1", "--type", "tap"}, `{"name":"vm1","type":"tap"}`, ""},
		{"afpacket access", []string{"vm3", "--type", "afpacket", "--device", "vnet3", "--vlan", "10"},
			`{"name":"vm3","type":"afpacket","vlan":10,"device":"vnet3"}`, ""},
		{"flags first", []string{"--type=afpacket", "-device", "vnet3", "vm3"},
			`{"name":"vm3","type":"afpacket","device":"vnet3"}`, ""},
		{"trunk", []string{"t", "--type", "afpacket", "--device", "eth1", "--trunk", "10,20", "--native", "1"},
			`{"name":"t","type":"afpacket","trunk":[10,20],"native":1,"device":"eth1"}`, ""},
		{"trunk spaces", []string{"t", "--type", "afpacket", "--trunk", " 10, 20 "}, `{"name":"t","type":"afpacket","trunk":[10,20]}`, ""},
		{"qemu socket", []string{"vm", "--type", "qemu", "--socket", "/run/vm.sock", "--vlan", "4094"},
			`{"name":"vm","type":"qemu","vlan":4094,"socket":"/run/vm.sock"}`, ""},
		{"qemu listen", []string{"vm", "--type", "qemu", "--listen", "127.0.0.1:5555"},
			`{"name":"vm","type":"qemu","listen":"127.0.0.1:5555"}`, ""},
		{"everything tap", []string{"vm1", "--type", "tap", "--netns", "h1", "--max-macs", "4", "--mtu", "9000", "--mac", "52:54:00:00:00:01", "--queue", "512"},
			`{"name":"vm1","type":"tap","netns":"h1","max_macs":4,"mtu":9000,"mac":"52:54:00:00:00:01","queue":512}`, ""},
		{"no MAC limit", []string{"vm1", "--type", "tap", "--max-macs", "0"}, `{"name":"vm1","type":"tap","max_macs":0}`, ""},
		{"group limit", []string{"vm1", "--type", "tap", "--max-groups", "8"}, `{"name":"vm1","type":"tap","max_groups":8}`, ""},
		{"no group limit", []string{"vm1", "--type", "tap", "--max-groups", "0"}, `{"name":"vm1","type":"tap","max_groups":0}`, ""},
		{"negative max-groups", []string{"t", "--type", "tap", "--max-groups", "-1"}, "", "--max-groups -1 is negative"},
		{"bad trunk", []string{"t", "--type", "afpacket", "--trunk", "10,x"}, "", `"x" is not a VLAN ID`},
		{"trunk empty item", []string{"t", "--type", "afpacket", "--trunk", "10,,20"}, "", `"" is not a VLAN ID`},
		{"trunk empty", []string{"t", "--type", "afpacket", "--trunk", ""}, "", "no VLANs"},
		{"trunk zero", []string{"t", "--type", "afpacket", "--trunk", "0"}, "", `"0" is not a VLAN ID`},
		{"trunk 4095", []string{"t", "--type", "afpacket", "--trunk", "10,4095"}, "", `"4095" is not a VLAN ID`},
		{"trunk twice", []string{"t", "--type", "afpacket", "--trunk", "10,20,10"}, "", "VLAN 10 listed twice"},
		{"vlan 0", []string{"t", "--type", "tap", "--vlan", "0"}, "", "VLAN IDs are 1-4094"},
		{"vlan 5000", []string{"t", "--type", "tap", "--vlan", "5000"}, "", "VLAN IDs are 1-4094"},
		{"native 4095", []string{"t", "--type", "tap", "--trunk", "10", "--native", "4095"}, "", "VLAN IDs are 1-4094"},
		{"vlan not a number", []string{"t", "--type", "tap", "--vlan", "ten"}, "", "invalid value"},
		{"vlan and trunk", []string{"t", "--type", "tap", "--vlan", "3", "--trunk", "10"}, "", "exclude each other"},
		{"native alone", []string{"t", "--type", "tap", "--native", "3"}, "", "--native needs --trunk"},
		{"negative max-macs", []string{"t", "--type", "tap", "--max-macs", "-1"}, "", "--max-macs -1 is negative"},
		{"no type", []string{"t"}, "", "needs --type"},
		{"no name", []string{"--type", "tap"}, "", "needs a NAME"},
		{"two names", []string{"a", "b", "--type", "tap"}, "", "one NAME"},
		{"unknown flag", []string{"a", "--type", "tap", "--vlans", "3"}, "", "-vlans"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, err := parsePortAdd(globals{}, tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				if _, ok := err.(*usageError); !ok {
					t.Fatalf("%T is not a usage error (exit 2)", err)
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

func TestParsePortAddConfigFlag(t *testing.T) {
	_, cfg, err := parsePortAdd(globals{}, []string{"a", "--type", "tap", "-c", "/etc/vswitch.yaml"})
	if err != nil || cfg != "/etc/vswitch.yaml" {
		t.Fatalf("%q %v", cfg, err)
	}
}

func TestParseTrunk(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []uint16
		err  string
	}{
		{"10", []uint16{10}, ""},
		{"10,20,4094,1", []uint16{10, 20, 4094, 1}, ""},
		{"10, 20", []uint16{10, 20}, ""},
		{"", nil, "no VLANs"},
		{" ", nil, "no VLANs"},
		{"10,", nil, `"" is not a VLAN ID`},
		{"-5", nil, `"-5" is not a VLAN ID`},
		{"10-20", nil, `"10-20" is not a VLAN ID`},
		{"1,1", nil, "listed twice"},
	} {
		got, err := parseTrunk(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%q: %v %v, want %v", tt.in, got, err, tt.want)
		}
	}
}

// Both the top-level usage and `help port` list every flag of port add.
func TestUsageListsPortAddFlags(t *testing.T) {
	var s portSpec
	fs := newPortAddFlags(&s, globals{}).fs
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		dash := "--"
		if f.Name == "c" {
			dash = "-" // -c FILE, as the global flag is spelled
		}
		re := regexp.MustCompile(`(^|[\s\[|])` + regexp.QuoteMeta(dash+f.Name) + `[\s\]=]`)
		for name, text := range map[string]string{"vswitch help": usage, "vswitch help port": portUsage} {
			if !re.MatchString(text) {
				t.Errorf("%s does not mention %s%s", name, dash, f.Name)
			}
		}
	})
	if n != 14 {
		t.Fatalf("port add has %d flags; this test expects 14", n)
	}
}
