package pkt

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// dhcpMsg is a DHCP message of DHCPOptionsOff bytes plus opts, with every
// header field set to a distinct value.
func dhcpMsg(opts ...byte) []byte {
	b := make([]byte, DHCPOptionsOff, DHCPOptionsOff+len(opts))
	b[0], b[1], b[2], b[3] = BOOTReply, 1, 6, 2
	binary.BigEndian.PutUint32(b[4:], 0x01020304)
	binary.BigEndian.PutUint16(b[8:], 7)
	binary.BigEndian.PutUint16(b[10:], DHCPFlagBroadcast)
	copy(b[12:], []byte{10, 0, 0, 12, 10, 0, 0, 16, 10, 0, 0, 20, 10, 0, 0, 24})
	copy(b[28:], []byte{0x52, 0x54, 0, 0xab, 0xcd, 0xef, 0x99})
	binary.BigEndian.PutUint32(b[236:], DHCPCookie)
	return append(b, opts...)
}

func TestDHCPValid(t *testing.T) {
	m := dhcpMsg()
	bad := dhcpMsg()
	bad[239]++
	checkValid(t, func(b []byte) bool { return DHCP(b).Valid() }, []validCase{
		{"exactly the fixed part", m, true},
		{"one byte short", m[:DHCPMinLen-1], false},
		{"with options", dhcpMsg(OptEnd), true},
		{"wrong cookie", bad, false},
		{"empty", nil, false},
	})
}

func TestDHCPHeader(t *testing.T) {
	d := DHCP(dhcpMsg())
	if d.Op() != BOOTReply || d.HType() != 1 || d.HLen() != 6 || d.XID() != 0x01020304 || d.Flags() != DHCPFlagBroadcast {
		t.Fatalf("op %d htype %d hlen %d xid %#x flags %#x", d.Op(), d.HType(), d.HLen(), d.XID(), d.Flags())
	}
	if d.CIAddr() != netip.MustParseAddr("10.0.0.12") || d.YIAddr() != netip.MustParseAddr("10.0.0.16") ||
		d.GIAddr() != netip.MustParseAddr("10.0.0.24") {
		t.Fatalf("ciaddr %v yiaddr %v giaddr %v", d.CIAddr(), d.YIAddr(), d.GIAddr())
	}
	if d.CHAddr() != (MAC{0x52, 0x54, 0, 0xab, 0xcd, 0xef}) {
		t.Fatalf("chaddr %v", d.CHAddr())
	}
}

// TestDHCPEncode: Encode over a dirty buffer writes dhcpMsg's header byte
// for byte, less what it always zeroes (hops, secs, siaddr); chaddr is
// copied as given, all 16 bytes when it is a CHAddrField.
func TestDHCPEncode(t *testing.T) {
	want := dhcpMsg()
	want[3] = 0             // hops
	want[8], want[9] = 0, 0 // secs
	clear(want[20:24])      // siaddr
	b := bytes.Repeat([]byte{0xee}, DHCPOptionsOff)
	DHCP(b).Encode(&DHCPFields{Op: BOOTReply, XID: 0x01020304, Flags: DHCPFlagBroadcast,
		CIAddr: netip.MustParseAddr("10.0.0.12"), YIAddr: netip.MustParseAddr("10.0.0.16"), GIAddr: netip.MustParseAddr("10.0.0.24"),
		CHAddr: DHCP(dhcpMsg()).CHAddrField()})
	if !bytes.Equal(b, want) {
		t.Fatalf("encoded\n% x\nwant\n% x", b, want)
	}
	// Unset fields are zero, not left as they were.
	DHCP(b).Encode(&DHCPFields{Op: BOOTRequest})
	want = make([]byte, DHCPOptionsOff)
	want[0], want[1], want[2] = BOOTRequest, 1, 6
	binary.BigEndian.PutUint32(want[236:], DHCPCookie)
	if !bytes.Equal(b, want) {
		t.Fatalf("encoded\n% x\nwant\n% x", b, want)
	}
}

func TestDHCPOptions(t *testing.T) {
	for _, c := range []struct {
		name      string
		opts      []byte
		want      []dhcpOpt
		malformed bool
	}{
		{"none", nil, nil, false},
		{"only pads", []byte{OptPad, OptPad}, nil, false},
		{"only end", []byte{OptEnd, OptMessageType, 1, 1}, nil, false},
		{"pads, two options, end, trailing",
			[]byte{OptPad, OptMessageType, 1, DHCPAck, OptPad, OptRouter, 4, 10, 0, 0, 1, OptEnd, OptDNS, 4, 1, 1, 1, 1},
			[]dhcpOpt{{OptMessageType, []byte{DHCPAck}}, {OptRouter, []byte{10, 0, 0, 1}}}, false},
		{"empty option", []byte{OptHostname, 0, OptEnd}, []dhcpOpt{{OptHostname, []byte{}}}, false},
		{"last option exactly fills, no end", []byte{OptRouter, 4, 10, 0, 0, 1}, []dhcpOpt{{OptRouter, []byte{10, 0, 0, 1}}}, false},
		{"last option one byte short", []byte{OptMessageType, 1, DHCPAck, OptRouter, 4, 10, 0, 0},
			[]dhcpOpt{{OptMessageType, []byte{DHCPAck}}}, true},
		{"code with no length", []byte{OptRouter}, nil, true},
		{"empty option at the very end", []byte{OptHostname, 0}, []dhcpOpt{{OptHostname, []byte{}}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, malformed := ourOptions(DHCP(dhcpMsg(c.opts...)))
			if malformed != c.malformed {
				t.Fatalf("Malformed %v, want %v", malformed, c.malformed)
			}
			sameOptions(t, got, c.want)
		})
	}
}

// TestDHCPOptionsStick checks that Next keeps returning false, with the
// same verdict, once the walk has ended.
func TestDHCPOptionsStick(t *testing.T) {
	it := DHCP(dhcpMsg(OptRouter, 9, 1)).Options()
	for range 3 {
		if it.Next() || !it.Malformed() {
			t.Fatal("a malformed walk resumed")
		}
	}
}

func TestDHCPOptionWriter(t *testing.T) {
	buf := make([]byte, DHCPOptionsOff+40)
	w := DHCPOptionWriter{B: buf, N: DHCPOptionsOff}
	w.Add(OptMessageType, DHCPOffer)
	w.AddAddr(OptDNS, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"))
	w.AddUint32(OptLeaseTime, 3600)
	w.Add(OptHostname)
	w.End()
	want := []byte{
		OptMessageType, 1, DHCPOffer,
		OptDNS, 8, 10, 0, 0, 1, 10, 0, 0, 2,
		OptLeaseTime, 4, 0, 0, 0x0e, 0x10,
		OptHostname, 0,
		OptEnd,
	}
	if w.N != DHCPOptionsOff+len(want) || !bytes.Equal(buf[DHCPOptionsOff:w.N], want) {
		t.Fatalf("N %d, % x\nwant % x", w.N, buf[DHCPOptionsOff:w.N], want)
	}
	if !bytes.Equal(buf[w.N:], make([]byte, len(buf)-w.N)) {
		t.Fatal("wrote past N")
	}
}

// TestDHCPOptionWriterFull checks the room test: an option goes in only if
// the end option still fits after it.
func TestDHCPOptionWriterFull(t *testing.T) {
	for _, c := range []struct {
		name    string
		room    int // bytes after DHCPOptionsOff
		data    int // option data length
		written bool
	}{
		{"option and end fit exactly", 2 + 3 + 1, 3, true},
		{"one byte short for the end", 2 + 3, 3, false},
		{"255 bytes of data", 2 + 255 + 1, 255, true},
		{"256 bytes of data", 2 + 256 + 1, 256, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			buf := make([]byte, DHCPOptionsOff+c.room)
			w := DHCPOptionWriter{B: buf, N: DHCPOptionsOff}
			data := bytes.Repeat([]byte{0xaa}, c.data)
			w.Add(OptHostname, data...)
			if !c.written {
				if w.N != DHCPOptionsOff || !bytes.Equal(buf, make([]byte, len(buf))) {
					t.Fatalf("wrote an option that does not fit: N %d", w.N)
				}
				return
			}
			if w.N != DHCPOptionsOff+2+c.data || buf[DHCPOptionsOff] != OptHostname ||
				buf[DHCPOptionsOff+1] != uint8(c.data) || !bytes.Equal(buf[DHCPOptionsOff+2:w.N], data) {
				t.Fatalf("N %d, % x", w.N, buf[DHCPOptionsOff:w.N])
			}
		})
	}
}

func TestDHCPOptionWriterEnd(t *testing.T) {
	buf := make([]byte, DHCPOptionsOff+1)
	w := DHCPOptionWriter{B: buf, N: DHCPOptionsOff}
	w.End()
	if w.N != DHCPOptionsOff+1 || buf[DHCPOptionsOff] != OptEnd {
		t.Fatalf("End with one byte left: N %d, byte %d", w.N, buf[DHCPOptionsOff])
	}
	w.End() // full: must neither write nor move
	if w.N != DHCPOptionsOff+1 {
		t.Fatalf("End on a full buffer moved N to %d", w.N)
	}
}

func TestDHCPOptionWriterAddrLimit(t *testing.T) {
	addrs := make([]netip.Addr, 17)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})
	}
	for _, n := range []int{0, 1, 16, 17} {
		buf := make([]byte, 512)
		w := DHCPOptionWriter{B: buf, N: DHCPOptionsOff}
		w.AddAddr(OptDNS, addrs[:n]...)
		kept := min(n, 16) // the option holds at most 16 addresses
		want := []byte{OptDNS, byte(4 * kept)}
		for _, a := range addrs[:kept] {
			a4 := a.As4()
			want = append(want, a4[:]...)
		}
		if !bytes.Equal(buf[DHCPOptionsOff:w.N], want) {
			t.Fatalf("%d addresses: % x\nwant % x", n, buf[DHCPOptionsOff:w.N], want)
		}
	}
}
