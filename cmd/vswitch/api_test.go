package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vswitch/vswitch/control"
)

// fakeDaemon is a control.Backend recording the specs it was given.
type fakeDaemon struct {
	mu    sync.Mutex
	specs []string
	ports []control.PortStatus
}

func (f *fakeDaemon) Ports() []control.PortStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]control.PortStatus(nil), f.ports...)
}

func (f *fakeDaemon) FDB() []control.FDBEntry {
	return []control.FDBEntry{
		{VLAN: 20, MAC: "52:54:00:00:00:02", Port: "vm2", AgeSeconds: 1.5},
		{VLAN: 10, MAC: "52:54:00:00:00:01", Port: "vm1", AgeSeconds: 12},
	}
}

func (f *fakeDaemon) AddPort(spec json.RawMessage) (control.PortStatus, error) {
	var p struct {
		Name string
		Type string
		VLAN uint16
	}
	json.Unmarshal(spec, &p)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.specs = append(f.specs, string(spec))
	if p.Type == "bogus" {
		return control.PortStatus{}, &control.BadRequestError{Err: errors.New(`port.type: unknown port type "bogus"`)}
	}
	ps := control.PortStatus{Name: p.Name, Type: p.Type, Mode: "access", VLAN: p.VLAN, Up: true, QueueCap: 1024}
	f.ports = append(f.ports, ps)
	return ps, nil
}

func (f *fakeDaemon) DeletePort(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, p := range f.ports {
		if p.Name == name {
			f.ports = append(f.ports[:i], f.ports[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("no port named %q: %w", name, control.ErrNotFound)
}

func startAPI(t *testing.T) (*fakeDaemon, string) {
	t.Helper()
	f := &fakeDaemon{}
	sock := filepath.Join(t.TempDir(), "vswitch.sock")
	s := control.NewServer(f, nil)
	if err := s.Listen(sock); err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Close() })
	return f, sock
}

// The CLI against a real control server with a fake daemon behind it.
func TestCLIAgainstAPI(t *testing.T) {
	f, sock := startAPI(t)
	code, out, errs := cli("--control", sock, "port", "add", "vm1", "--type", "tap", "--vlan", "10")
	if code != 0 || !strings.Contains(out, "vm1") || !strings.Contains(out, "TX-BYTES") {
		t.Fatalf("port add: %d\n%s%s", code, out, errs)
	}
	if got := f.specs[0]; got != `{"name":"vm1","type":"tap","vlan":10}` {
		t.Fatalf("spec sent: %s", got)
	}
	// The daemon refusing the spec is bad usage, as the README says: exit 2.
	code, _, errs = cli("--control", sock, "port", "add", "x", "--type", "bogus")
	if code != 2 || errs != "vswitch: port.type: unknown port type \"bogus\"\n" {
		t.Fatalf("refused port add: %d %q", code, errs)
	}

	code, out, _ = cli("show", "ports", "--control", sock)
	if code != 0 || !strings.Contains(out, "vm1   tap   10     yes") {
		t.Fatalf("show ports: %d\n%s", code, out)
	}
	// Sorted by VLAN: vm1 (VLAN 10) before vm2 (VLAN 20), both there.
	code, out, _ = cli("--control", sock, "show", "fdb")
	wantFDB := `VLAN  MAC                PORT  AGE  STATIC
10    52:54:00:00:00:01  vm1   12s  no
20    52:54:00:00:00:02  vm2   2s   no
`
	if code != 0 || out != wantFDB {
		t.Fatalf("show fdb (sorted by VLAN): %d\n%s\nwant\n%s", code, out, wantFDB)
	}
	// --json is the API's array of FDBEntry objects, in the API's order.
	code, out, _ = cli("--control", sock, "show", "--json", "fdb")
	var fdb []control.FDBEntry
	if err := json.Unmarshal([]byte(out), &fdb); code != 0 || err != nil || len(fdb) != 2 || fdb[0] != (f.FDB()[0]) {
		t.Fatalf("show fdb --json: %d %v\n%s", code, err, out)
	}
	if !strings.Contains(out, `"age_seconds": 1.5`) {
		t.Fatalf("show fdb --json is not the API's JSON:\n%s", out)
	}
	for _, what := range []string{"leases", "conntrack"} {
		code, out, _ = cli("--control", sock, "show", what, "--json")
		if code != 0 || out != "[]\n" {
			t.Fatalf("show %s --json without the backend: %d %q", what, code, out)
		}
		if code, out, _ = cli("--control", sock, "show", what); code != 0 || strings.Count(out, "\n") != 1 {
			t.Fatalf("show %s: %d %q", what, code, out)
		}
	}

	code, out, _ = cli("--control", sock, "port", "del", "vm1")
	if code != 0 || out != "port vm1 deleted\n" {
		t.Fatalf("port del: %d %q", code, out)
	}
	code, _, errs = cli("--control", sock, "port", "del", "vm1")
	if code != 1 || !strings.Contains(errs, `no port named "vm1": not found`) {
		t.Fatalf("second port del: %d %q", code, errs)
	}
	// This backend cannot capture: the server's 501 message, exit 1.
	code, out, errs = cli("--control", sock, "capture", "vm1", "--count", "3", "-w", filepath.Join(t.TempDir(), "x.pcap"))
	if code != 1 || out != "" || !strings.Contains(errs, "capture is not supported") {
		t.Fatalf("capture: %d %q %q", code, out, errs)
	}
}
