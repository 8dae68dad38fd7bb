package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/vswitch/vswitch/control"
)

// numbered is a capture stream of 60-byte frames numbered 1, 2, ...; after
// max it gives nothing more and waits for its context.
type numbered struct {
	n, max  int
	dropped uint64
}

func (s *numbered) Next(ctx context.Context) (time.Time, []byte, error) {
	if s.n >= s.max {
		<-ctx.Done()
		return time.Time{}, nil, ctx.Err()
	}
	s.n++
	b := make([]byte, 60)
	b[59] = byte(s.n)
	return time.Unix(int64(s.n), 0), b, nil
}
func (s *numbered) Dropped() uint64 { return s.dropped }
func (s *numbered) Close()          {}

type captureDaemon struct {
	fakeDaemon
	max     int
	dropped uint64
}

func (d *captureDaemon) StartCapture(port string) (control.CaptureStream, error) {
	return &numbered{max: d.max, dropped: d.dropped}, nil
}

func startCaptureAPI(t *testing.T, max int, dropped uint64) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "vswitch.sock")
	s := control.NewServer(&captureDaemon{max: max, dropped: dropped}, nil)
	if err := s.Listen(sock); err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Close() })
	return sock
}

// records reads a pcap stream and returns the last byte of each record.
func records(t *testing.T, b []byte) []byte {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not pcap (%d bytes): %v", len(b), err)
	}
	var out []byte
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			return out
		}
		if len(data) != 60 {
			t.Fatalf("record of %d bytes", len(data))
		}
		out = append(out, data[59])
	}
}

func TestCaptureCommand(t *testing.T) {
	sock := startCaptureAPI(t, 1000, 0)
	// --count N: exactly N records on stdout (the stream has more).
	for _, args := range [][]string{{"capture", "vm1", "--count", "3"}, {"capture", "vm1", "--count", "3", "-w", "-"}} {
		code, out, errs := cli(append([]string{"--control", sock}, args...)...)
		if code != 0 || !bytes.Equal(records(t, []byte(out)), []byte{1, 2, 3}) || errs != "vswitch: 3 frames captured from vm1\n" {
			t.Fatalf("%q: %d %q", args, code, errs)
		}
	}
	// -w FILE: the file has them, stdout nothing.
	file := filepath.Join(t.TempDir(), "x.pcap")
	code, out, errs := cli("--control", sock, "capture", "vm1", "--count", "2", "-w", file)
	b, _ := os.ReadFile(file)
	if code != 0 || out != "" || !bytes.Equal(records(t, b), []byte{1, 2}) || errs != "vswitch: 2 frames captured from vm1\n" {
		t.Fatalf("-w FILE: %d %q %q", code, out, errs)
	}
}

// Frames the server's capture dropped are reported after the count.
func TestCaptureDropped(t *testing.T) {
	sock := startCaptureAPI(t, 4, 9)
	code, out, errs := cli("--control", sock, "capture", "vm1", "--count", "4")
	want := "vswitch: 4 frames captured from vm1\nvswitch: 9 more frames dropped: the reader was too slow\n"
	if code != 0 || !bytes.Equal(records(t, []byte(out)), []byte{1, 2, 3, 4}) || errs != want {
		t.Fatalf("%d %q", code, errs)
	}
}

func TestParseFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		pos  string
		json bool
		err  string
	}{
		{[]string{"fdb"}, "fdb", false, ""},
		{[]string{"--json", "fdb"}, "fdb", true, ""},
		{[]string{"fdb", "--json"}, "fdb", true, ""},
		{[]string{"a", "--json", "b"}, "a b", true, ""},
		{[]string{"--", "--json"}, "--json", false, ""},
		{[]string{"--json", "--", "-x", "y"}, "-x y", true, ""},
		{[]string{"--json", "fdb", "-x"}, "", false, "show: flag provided but not defined: -x"},
		{[]string{"fdb", "--jsno"}, "", false, "show: flag provided but not defined: -jsno"},
	} {
		fs := flag.NewFlagSet("show", flag.ContinueOnError)
		json := fs.Bool("json", false, "")
		pos, err := parseFlags(fs, tt.args)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%q: %v, want %s", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || strings.Join(pos, " ") != tt.pos || *json != tt.json {
			t.Errorf("%q: %q %v %v, want %q %v", tt.args, pos, *json, err, tt.pos, tt.json)
		}
	}
}
