package pkt

import "testing"

func TestMACUint64RoundTrip(t *testing.T) {
	m := MAC{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef}
	if got := MACFromUint64(m.Uint64()); got != m {
		t.Fatalf("%v", got)
	}
	if m.String() != "52:54:00:ab:cd:ef" {
		t.Fatal(m.String())
	}
	if !Broadcast.IsMulticast() || m.IsMulticast() || !(MAC{}).IsZero() {
		t.Fatal("multicast/zero predicates")
	}
}

func TestVirtioRoundTrip(t *testing.T) {
	h := VirtioNetHdr{Flags: 1, GSOType: VirtioNetHdrGSOTCPv4, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	b := make([]byte, VirtioNetHdrLen)
	h.Encode(b)
	// Little-endian on the wire (gVisor's header/virtionet.go mixes the two).
	if b[2] != 66 || b[3] != 0 || b[4] != 0xa8 || b[5] != 5 {
		t.Fatalf("% x", b)
	}
	var g VirtioNetHdr
	g.Decode(b)
	if g != h {
		t.Fatalf("%+v", g)
	}
	if !g.IsGSO() {
		t.Fatal("IsGSO")
	}
}

func TestParseMACErrors(t *testing.T) {
	for _, s := range []string{"", "52:54:00:12:34", "52:54:00:12:34:5g", "52.54.00.12.34.56"} {
		if _, err := ParseMAC(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestMACUint64(t *testing.T) {
	m := MAC{0x01, 0x23, 0x45, 0x67, 0x89, 0xab}
	if m.Uint64() != 0x0123456789ab || MACFromUint64(0xffff0123456789ab) != m {
		t.Fatalf("%#x %v", m.Uint64(), MACFromUint64(0xffff0123456789ab))
	}
	for _, c := range []struct {
		m          MAC
		mcast, nil bool
	}{
		{MAC{}, false, true},
		{MAC{0x01, 0, 0x5e, 0, 0, 1}, true, false},
		{MAC{0x02, 0, 0, 0, 0, 0}, false, false},
		{MAC{0, 0, 0, 0, 0, 1}, false, false},
		{Broadcast, true, false},
	} {
		if c.m.IsMulticast() != c.mcast || c.m.IsZero() != c.nil {
			t.Errorf("%v: multicast %v zero %v", c.m, c.m.IsMulticast(), c.m.IsZero())
		}
	}
}

func TestFromHex(t *testing.T) {
	for c := 0; c < 256; c++ {
		want, ok := byte(0), false
		switch {
		case c >= '0' && c <= '9':
			want, ok = byte(c-'0'), true
		case c >= 'a' && c <= 'f':
			want, ok = byte(c-'a'+10), true
		case c >= 'A' && c <= 'F':
			want, ok = byte(c-'A'+10), true
		}
		if got, gok := fromHex(byte(c)); got != want || gok != ok {
			t.Errorf("fromHex(%q) = %d, %v; want %d, %v", rune(c), got, gok, want, ok)
		}
	}
}

func TestParseMAC(t *testing.T) {
	for _, c := range []struct {
		s    string
		want MAC
		err  string
	}{
		{"52:54:00:ab:cd:ef", MAC{0x52, 0x54, 0, 0xab, 0xcd, 0xef}, ""},
		{"52-54-00-AB-CD-EF", MAC{0x52, 0x54, 0, 0xab, 0xcd, 0xef}, ""},
		{"09:af:AF:90:00:ff", MAC{0x09, 0xaf, 0xaf, 0x90, 0, 0xff}, ""},
		{"", MAC{}, `bad MAC address "": want 6 hex bytes like 52:54:00:12:34:56`},
		{"52:54:00:ab:cd:e", MAC{}, `bad MAC address "52:54:00:ab:cd:e": want 6 hex bytes like 52:54:00:12:34:56`},
		{"52:54:00:ab:cd:efa", MAC{}, `bad MAC address "52:54:00:ab:cd:efa": want 6 hex bytes like 52:54:00:12:34:56`},
		{"52.54:00:ab:cd:ef", MAC{}, `bad MAC address "52.54:00:ab:cd:ef": bytes must be separated by ':'`},
		{"52:54:00:ab:cd.ef", MAC{}, `bad MAC address "52:54:00:ab:cd.ef": bytes must be separated by ':'`},
		{"5254:00:ab:cd:ef:", MAC{}, `bad MAC address "5254:00:ab:cd:ef:": bytes must be separated by ':'`},
		{"g2:54:00:ab:cd:ef", MAC{}, `bad MAC address "g2:54:00:ab:cd:ef": "g2" is not hex`},
		{"52:54:00:ab:cd:eg", MAC{}, `bad MAC address "52:54:00:ab:cd:eg": "eg" is not hex`},
		{"52:54:0 :ab:cd:ef", MAC{}, `bad MAC address "52:54:0 :ab:cd:ef": "0 " is not hex`},
	} {
		m, err := ParseMAC(c.s)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%q: %v, want error %s", c.s, err, c.err)
			}
			continue
		}
		if err != nil || m != c.want {
			t.Errorf("%q: %v, %v; want %v", c.s, m, err, c.want)
		}
	}
}

func TestMACText(t *testing.T) {
	m := MAC{0x52, 0x54, 0, 0xab, 0xcd, 0xef}
	txt, err := m.MarshalText()
	if err != nil || string(txt) != "52:54:00:ab:cd:ef" {
		t.Fatalf("%q %v", txt, err)
	}
	var back MAC
	if err := back.UnmarshalText([]byte("52-54-00-AB-CD-EF")); err != nil || back != m {
		t.Fatalf("%v %v", back, err)
	}
	if err := back.UnmarshalText([]byte("52:54:00:ab:cd")); err == nil || back != m {
		t.Fatalf("bad text: %v, and the value became %v", err, back)
	}
}
