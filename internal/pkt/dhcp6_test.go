package pkt

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// dhclientSolicit is a SOLICIT as isc-dhcp-client 4.4 sends it: client
// id (DUID-LLT), ORO, elapsed time, IA_NA with no address.
var dhclientSolicit = mustHex("01c0ffee" +
	"0001000e00010001" + "2a5b6c7d" + "525400123456" +
	"0006000400170018" +
	"000800020000" +
	"0003000c" + "5400123400000e1000001518")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestDHCPv6Parse(t *testing.T) {
	m := DHCPv6(dhclientSolicit)
	if !m.Valid() || m.Type() != DHCPv6Solicit || m.TransactionID() != 0xc0ffee {
		t.Fatalf("header: valid %v type %d xid %x", m.Valid(), m.Type(), m.TransactionID())
	}
	o := m.ParseOptions()
	if o.Malformed || len(o.ClientID) != 14 || o.ServerID != nil || o.NumIANA != 1 || o.RapidCommit {
		t.Fatalf("options: %+v", o)
	}
	if o.IANA.IAID() != 0x54001234 || o.IANA.T1() != 3600 || o.IANA.T2() != 5400 || len(o.IANA.Options()) != 0 {
		t.Fatalf("IA_NA: %x", []byte(o.IANA))
	}
	if !bytes.Equal(o.ORO, []byte{0, 23, 0, 24}) {
		t.Fatalf("ORO %x", o.ORO)
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"option header cut", append(bytes.Clone(dhclientSolicit), 0, 1, 0)},
		{"option data cut", append(bytes.Clone(dhclientSolicit), 0, 1, 0, 5, 1, 2)},
		{"length wraps", append(bytes.Clone(dhclientSolicit), 0, 1, 0xff, 0xff)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DHCPv6(tc.b).ParseOptions()
			if !o.Malformed || DHCPv6(tc.b).Options().Valid() {
				t.Fatalf("not malformed: %+v", o)
			}
		})
	}
}

func TestDHCPv6Writer(t *testing.T) {
	b := make([]byte, 200)
	w := DHCPv6Writer{B: b}
	w.Header(DHCPv6Advertise, 0xc0ffee)
	w.Option(DHCPv6OptClientID, []byte{0, 3, 0, 1, 1, 2, 3, 4, 5, 6})
	ia := w.Begin(DHCPv6OptIANA)
	w.U32(7)
	w.U32(1800)
	w.U32(2880)
	ad := w.Begin(DHCPv6OptIAAddr)
	w.Addr(netip.MustParseAddr("fd00::10"))
	w.U32(3600)
	w.U32(3600)
	w.End(ad)
	w.End(ia)
	w.Status(DHCPv6NoAddrsAvail, "none")
	dl := w.Begin(DHCPv6OptDomainList)
	if !w.DomainName("lab.example") {
		t.Fatal("domain refused")
	}
	w.End(dl)
	if w.Short {
		t.Fatal("short")
	}
	var d layers.DHCPv6
	if err := d.DecodeFromBytes(b[:w.N], gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if d.MsgType != DHCPv6Advertise || !bytes.Equal(d.TransactionID, []byte{0xc0, 0xff, 0xee}) || len(d.Options) != 4 {
		t.Fatalf("gopacket sees %v", d)
	}
	want := mustHex("00000007" + "00000708" + "00000b40" + "00050018" + "fd000000000000000000000000000010" + "00000e10" + "00000e10")
	if !bytes.Equal(d.Options[1].Data, want) {
		t.Fatalf("IA_NA %x, want %x", d.Options[1].Data, want)
	}
	if !bytes.Equal(d.Options[2].Data, append([]byte{0, 2}, "none"...)) {
		t.Fatalf("status %x", d.Options[2].Data)
	}
	if !bytes.Equal(d.Options[3].Data, append(append([]byte{3}, "lab"...), append([]byte{7}, "example\x00"...)...)) {
		t.Fatalf("domain %q", d.Options[3].Data)
	}
	short := DHCPv6Writer{B: make([]byte, 10)}
	short.Header(DHCPv6Reply, 1)
	short.Option(DHCPv6OptClientID, make([]byte, 10))
	if !short.Short {
		t.Fatal("overflow not flagged")
	}
	if (&DHCPv6Writer{B: make([]byte, 64)}).DomainName("a..b") {
		t.Fatal("empty label accepted")
	}
}

func TestDHCPv6ParseAllocs(t *testing.T) {
	var o DHCPv6OptionSet
	if n := testing.AllocsPerRun(100, func() { o = DHCPv6(dhclientSolicit).ParseOptions() }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
	_ = o
}

// FuzzDHCPv6 checks the option walk against gopacket's DHCPv6 layer: the
// same verdict on whether the options fit, the same options in order, and
// that writing them back gives the same bytes.
func FuzzDHCPv6(f *testing.F) {
	f.Add(dhclientSolicit)
	f.Add(mustHex("0b123456" + "0001000a00030001525400aabbcc" + "000600020017"))
	f.Add(mustHex("03000001" + "0003002800000001000000000000000000050018fd000000000000000000000000000100000000000000000000"))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := DHCPv6(b)
		var d layers.DHCPv6
		err := d.DecodeFromBytes(b, gopacket.NilDecodeFeedback)
		if !m.Valid() {
			if err == nil {
				t.Fatal("gopacket decoded a message shorter than the header")
			}
			return
		}
		o := m.ParseOptions() // no panic, whatever the type
		if m.Type() == DHCPv6RelayForw || m.Type() == DHCPv6RelayRepl {
			return // another header: not this view's
		}
		if (err == nil) == o.Malformed || (err == nil) != m.Options().Valid() {
			t.Fatalf("gopacket err %v, malformed %v", err, o.Malformed)
		}
		if err != nil {
			return
		}
		if m.TransactionID() != uint32(d.TransactionID[0])<<16|uint32(d.TransactionID[1])<<8|uint32(d.TransactionID[2]) {
			t.Fatal("transaction id differs")
		}
		w := DHCPv6Writer{B: make([]byte, len(b))}
		w.Header(m.Type(), m.TransactionID())
		it, i := m.Options().Iter(), 0
		for ; it.Next(); i++ {
			if i >= len(d.Options) || uint16(d.Options[i].Code) != it.Code() || !bytes.Equal(d.Options[i].Data, it.Data()) {
				t.Fatalf("option %d differs from gopacket's", i)
			}
			w.Option(it.Code(), it.Data())
			if it.Code() == DHCPv6OptIANA && DHCPv6IANA(it.Data()).Valid() {
				DHCPv6IANA(it.Data()).Options().Valid()
			}
		}
		if i != len(d.Options) {
			t.Fatalf("%d options, gopacket %d", i, len(d.Options))
		}
		if w.Short || !bytes.Equal(b, b[:w.N]) || w.N != len(b) || !bytes.Equal(w.B[:w.N], b) {
			t.Fatal("re-encoding differs")
		}
	})
}

// TestDHCPv6Bounds: the fixed header and an option header are accepted
// at exactly their length and refused a byte short; a server id of 1
// and of DHCPv6MaxDUIDLen bytes is kept, one of 0 or one byte more is
// not.
func TestDHCPv6Bounds(t *testing.T) {
	if !DHCPv6(make([]byte, DHCPv6HeaderLen)).Valid() || DHCPv6(make([]byte, DHCPv6HeaderLen-1)).Valid() {
		t.Fatal("Valid at 4 / 3 bytes")
	}
	if !DHCPv6Options([]byte{0, 14, 0, 0}).Valid() || DHCPv6Options([]byte{0, 14, 0}).Valid() {
		t.Fatal("an empty option at 4 / 3 bytes")
	}
	for _, c := range []struct {
		n    int
		kept bool
	}{{0, false}, {1, true}, {DHCPv6MaxDUIDLen, true}, {DHCPv6MaxDUIDLen + 1, false}} {
		m := make([]byte, DHCPv6HeaderLen+dhcp6OptHdrLen+c.n)
		w := DHCPv6Writer{B: m}
		w.Header(DHCPv6Request, 1)
		w.Option(DHCPv6OptServerID, bytes.Repeat([]byte{7}, c.n))
		if w.Short {
			t.Fatalf("server id of %d bytes did not fit its buffer", c.n)
		}
		if o := DHCPv6(m).ParseOptions(); (o.ServerID != nil) != c.kept || c.kept && len(o.ServerID) != c.n {
			t.Errorf("server id of %d bytes: kept %d bytes, want kept %v", c.n, len(o.ServerID), c.kept)
		}
	}
}

// TestDHCPv6WriterFits: each writer call fills a buffer of exactly its
// size without setting Short, and one byte less sets Short instead of
// writing past B.
func TestDHCPv6WriterFits(t *testing.T) {
	for _, c := range []struct {
		name  string
		size  int // of the message with the option
		write func(w *DHCPv6Writer)
	}{
		{"option", 4 + 4 + 3, func(w *DHCPv6Writer) { w.Option(DHCPv6OptPreference, []byte{1, 2, 3}) }},
		{"empty option", 4 + 4, func(w *DHCPv6Writer) { w.Option(DHCPv6OptRapidCommit, nil) }},
		{"status", 4 + 4 + 2 + 5, func(w *DHCPv6Writer) { w.Status(DHCPv6NoBinding, "nope!") }},
		{"domain", 4 + 4 + 1 + 3 + 1 + 7 + 1, func(w *DHCPv6Writer) {
			at := w.Begin(DHCPv6OptDomainList)
			w.DomainName("lab.example")
			w.End(at)
		}},
		{"63-byte label", 4 + 4 + 1 + 63 + 1, func(w *DHCPv6Writer) {
			at := w.Begin(DHCPv6OptDomainList)
			if !w.DomainName(string(bytes.Repeat([]byte{'a'}, 63))) {
				t.Error("a 63-byte label refused")
			}
			w.End(at)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, size := range []int{c.size, c.size - 1} {
				b := make([]byte, size+1) // a guard byte past B
				w := DHCPv6Writer{B: b[:size]}
				w.Header(DHCPv6Reply, 0xabcdef)
				c.write(&w)
				switch {
				case size == c.size && (w.Short || w.N != size):
					t.Fatalf("exact fit: Short %v, N %d of %d", w.Short, w.N, size)
				case size == c.size && (!DHCPv6Options(b[4:size]).Valid() || int(b[6])<<8|int(b[7]) != size-8):
					t.Fatalf("exact fit: option % x does not parse", b[4:size])
				case size < c.size && !w.Short:
					t.Fatalf("one byte short: not Short (N %d)", w.N)
				case w.N > size:
					t.Fatalf("N %d past B (%d bytes)", w.N, size)
				case b[size] != 0:
					t.Fatalf("wrote past B")
				}
			}
		})
	}
	var w DHCPv6Writer
	w.B = make([]byte, DHCPv6HeaderLen-1)
	if w.Header(DHCPv6Reply, 1); !w.Short || w.N != 0 {
		t.Fatal("a header in 3 bytes")
	}
	w = DHCPv6Writer{B: make([]byte, DHCPv6HeaderLen)}
	if w.Header(DHCPv6Reply, 1); w.Short || w.N != DHCPv6HeaderLen {
		t.Fatal("a header in exactly 4 bytes")
	}
	// An option at the very start (no header): End still sets its length.
	w = DHCPv6Writer{B: make([]byte, 6)}
	if w.Option(DHCPv6OptPreference, []byte{9, 9}); w.Short || !bytes.Equal(w.B, []byte{0, DHCPv6OptPreference, 0, 2, 9, 9}) {
		t.Fatalf("an option at offset 0: % x", w.B)
	}
	w = DHCPv6Writer{B: make([]byte, 64)}
	if w.DomainName(string(bytes.Repeat([]byte{'a'}, 64))) {
		t.Fatal("a 64-byte label accepted")
	}
}
