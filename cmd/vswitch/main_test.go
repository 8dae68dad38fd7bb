package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// cli runs the CLI in-process and returns the exit code, stdout, stderr.
func cli(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runMain(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestGlobalFlags(t *testing.T) {
	tests := []struct {
		args          []string
		control, conf string
		rest          string
	}{
		{[]string{"--control", "/x.sock", "show", "fdb"}, "/x.sock", "", "show fdb"},
		{[]string{"show", "fdb", "--control=/x.sock"}, "/x.sock", "", "show fdb"},
		{[]string{"-control", "/x.sock", "show", "fdb"}, "/x.sock", "", "show fdb"},
		{[]string{"show", "--control", "/x.sock", "fdb"}, "/x.sock", "", "show fdb"},
		{[]string{"-c", "/v.yaml", "show", "fdb"}, "", "/v.yaml", "show fdb"},
		{[]string{"--c=/v.yaml", "--control", "/x.sock", "run"}, "/x.sock", "/v.yaml", "run"},
		// After the command, -c is the command's own flag.
		{[]string{"config", "check", "-c", "/v.yaml"}, "", "", "config check -c /v.yaml"},
	}
	for _, tt := range tests {
		g, rest, err := takeGlobalFlags(tt.args)
		if err != nil || g.control != tt.control || g.config != tt.conf || strings.Join(rest, " ") != tt.rest {
			t.Errorf("%q -> %+v %q %v", tt.args, g, rest, err)
		}
	}
	for _, args := range [][]string{{"show", "fdb", "--control"}, {"--control=", "show"}, {"-c"}} {
		if _, _, err := takeGlobalFlags(args); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("control: "+filepath.Join(dir, "cfg.sock")+"\nports:\n  - {name: a, type: tap}\n"), 0o644)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("ports:\n  - name: a\n    type: tap\n    vlna: 10\n  - {name: b, type: tap, vlan: 5000}\n"), 0o644)
	vxlan := filepath.Join(dir, "vxlan.yaml")
	// Were it accepted, run would fail on the port before touching anything
	// but a socket in dir.
	os.WriteFile(vxlan, []byte("control: "+filepath.Join(dir, "vx.sock")+"\nports:\n  - name: v\n    type: vxlan\n"), 0o644)
	nosock := filepath.Join(dir, "none.sock")
	tests := []struct {
		name      string
		args      []string
		code      int
		stdout    string // in stdout
		stderr    string // in stderr
		notStderr string
	}{
		{"no args", nil, 2, "", "Usage:", ""},
		{"unknown", []string{"bogus"}, 2, "", `unknown command "bogus"`, ""},
		{"help", []string{"help"}, 0, "vswitch port add NAME", "", ""},
		{"-h", []string{"-h"}, 0, "Usage:", "", ""},
		{"help port", []string{"help", "port"}, 0, "--max-macs N", "", ""},
		{"help nothing", []string{"help", "nothing"}, 2, "", `no help on "nothing"`, ""},
		{"run -h", []string{"run", "-h"}, 0, "-log-format", "", ""},
		{"show -h", []string{"show", "-h"}, 0, "Usage: vswitch show", "", ""},
		{"show --help", []string{"show", "fdb", "--help"}, 0, "Usage: vswitch show", "", ""},
		{"port add -h", []string{"port", "add", "-h"}, 0, "--trunk LIST", "", ""},
		{"port -h", []string{"port", "-h"}, 0, "port del NAME", "", ""},
		{"capture -h", []string{"capture", "-h"}, 0, "tcpdump -nr -", "", ""},
		{"config -h", []string{"config", "-h"}, 0, "config default", "", ""},
		{"config check -h", []string{"config", "check", "-h"}, 0, "config default", "", ""},
		{"version", []string{"version"}, 0, "vswitch ", "", ""},
		{"version extra", []string{"version", "x"}, 2, "", "no arguments", ""},
		{"config default", []string{"config", "default"}, 0, "vsw0", "", ""},
		{"config check ok", []string{"config", "check", "-c", good}, 0, good + ": ok\n", "", ""},
		{"config check positional", []string{"config", "check", good}, 0, good + ": ok\n", "", ""},
		{"config check bad", []string{"config", "check", "-c", bad}, 2, "", bad + ":4:", "Usage"},
		{"config check missing", []string{"config", "check", "-c", filepath.Join(dir, "nope.yaml")}, 2, "", "nope.yaml", ""},
		{"config check no file", []string{"config", "check"}, 2, "", "needs -c FILE", ""},
		{"config bogus", []string{"config", "bogus"}, 2, "", "unknown subcommand", ""},
		// check refuses what run refuses, with the same line.
		{"config check vxlan", []string{"config", "check", "-c", vxlan}, 2, "", vxlan + ":3: ports[0]: a vxlan port needs vnis: the VLANs it carries and their VNIs, like {10: 1010}\n" + vxlan + ":3: ports[0]: a vxlan port needs remotes: the VTEPs to send to (or evpn: true to learn them)\n", "Usage"},
		{"run vxlan", []string{"run", "-c", vxlan}, 2, "", vxlan + ":3: ports[0]: a vxlan port needs vnis: the VLANs it carries and their VNIs, like {10: 1010}\n" + vxlan + ":3: ports[0]: a vxlan port needs remotes: the VTEPs to send to (or evpn: true to learn them)\n", "Usage"},
		{"run bad config", []string{"run", "-c", bad}, 2, "", bad + ":5:", "Usage"},
		{"run bad level", []string{"run", "-log-level", "loud"}, 2, "", "bad -log-level", ""},
		{"run bad format", []string{"run", "-log-format", "xml"}, 2, "", "bad -log-format", ""},
		{"run stray arg", []string{"run", good}, 2, "", "goes after -c", ""},
		{"run bad flag", []string{"run", "-x"}, 2, "", "flag provided but not defined: -x", ""},
		{"reload stray arg", []string{"reload", "x"}, 2, "", "reload: unexpected \"x\"\nUsage: vswitch reload", ""},
		{"upgrade stray arg", []string{"upgrade", "--binary", "/b", "x"}, 2, "", "upgrade: unexpected \"x\"\nUsage: vswitch upgrade", ""},
		{"config default stray arg", []string{"config", "default", "x"}, 2, "", "config default: unexpected \"x\"\nUsage:\n  vswitch config check", ""},
		{"show nothing", []string{"show"}, 2, "", "ports, fdb, mdb, conntrack, leases, evpn or status?", ""},
		{"show bogus", []string{"show", "bogus"}, 2, "", "ports, fdb, mdb, conntrack, leases, evpn or status?", ""},
		{"show bad flag", []string{"show", "fdb", "--jsno"}, 2, "", "-jsno", ""},
		{"show unreachable", []string{"--control", nosock, "show", "ports"}, 1,
			"", "vswitch: cannot reach vswitch at " + nosock + ": is it running?", "Usage"},
		{"show socket from -c", []string{"show", "fdb", "-c", good}, 1, "", "cannot reach vswitch at " + filepath.Join(dir, "cfg.sock"), ""},
		{"show -c bad config", []string{"show", "fdb", "-c", bad}, 2, "", bad + ":4:", ""},
		{"--control wins over -c", []string{"show", "fdb", "-c", good, "--control", nosock}, 1, "", nosock, ""},
		{"-c before the command", []string{"-c", good, "show", "fdb"}, 1, "", "cannot reach vswitch at " + filepath.Join(dir, "cfg.sock"), ""},
		{"-c before config check", []string{"-c", good, "config", "check"}, 0, good + ": ok\n", "", ""},
		{"-c before run", []string{"-c", bad, "run"}, 2, "", bad + ":4:", ""},
		{"port nothing", []string{"port"}, 2, "", "add or del?", ""},
		{"port add no type", []string{"port", "add", "x"}, 2, "", "needs --type", ""},
		{"port del no name", []string{"port", "del"}, 2, "", "needs one NAME", ""},
		{"port del unreachable", []string{"--control", nosock, "port", "del", "x"}, 1, "", "cannot reach vswitch", ""},
		{"capture no port", []string{"capture"}, 2, "", "needs one PORT", ""},
		{"capture bad count", []string{"capture", "vm1", "--count", "-1"}, 2, "", "negative", ""},
		{"capture unreachable", []string{"--control", nosock, "capture", "vm1"}, 1, "", "cannot reach vswitch", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := cli(tt.args...)
			if code != tt.code || !strings.Contains(out, tt.stdout) || !strings.Contains(errs, tt.stderr) ||
				(tt.notStderr != "" && strings.Contains(errs, tt.notStderr)) {
				t.Fatalf("vswitch %q: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", tt.args, code, tt.code, out, errs)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	if v := versionString(); !regexp.MustCompile(`^vswitch dev(\+[0-9a-f]{1,12}(-dirty)?)? \(go[0-9.]+.*\)$`).MatchString(v) {
		t.Fatalf("version %q", v)
	}
}
