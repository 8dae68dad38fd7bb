package pkt

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func seedDHCP() []byte {
	b := make([]byte, 300)
	b[0], b[1], b[2] = BOOTRequest, 1, 6
	binary.BigEndian.PutUint32(b[4:], 0xdeadbeef)
	copy(b[28:], []byte{0x52, 0x54, 0, 0, 0, 1})
	binary.BigEndian.PutUint32(b[236:], DHCPCookie)
	w := DHCPOptionWriter{B: b, N: DHCPOptionsOff}
	w.Add(OptMessageType, DHCPDiscover)
	w.Add(OptParamRequest, 1, 3, 6, 15, 26)
	w.AddAddr(OptRequestedIP, netip.MustParseAddr("192.168.122.50"))
	w.Add(OptClientID, 1, 0x52, 0x54, 0, 0, 0, 1)
	w.End()
	return b[:w.N]
}

// FuzzDHCP compares the view and option iterator with gopacket's DHCPv4
// decoder on messages both accept.
func FuzzDHCP(f *testing.F) {
	f.Add(seedDHCP())
	f.Add(seedDHCP()[:241])
	f.Fuzz(func(t *testing.T, b []byte) {
		d := DHCP(b)
		if !d.Valid() {
			return
		}
		var opts [][]byte
		var codes []uint8
		it := d.Options()
		for it.Next() {
			codes = append(codes, it.Code())
			opts = append(opts, append([]byte(nil), it.Data()...))
			if len(it.Data()) > len(b) {
				t.Fatal("option longer than the message")
			}
		}
		var ref layers.DHCPv4
		if err := ref.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil || it.Malformed() {
			return // the reference rejects more (and differently); no panic is the property here
		}
		if ref.Xid != d.XID() || !bytes.Equal(ref.ClientHWAddr[:min(6, len(ref.ClientHWAddr))], d.CHAddr().slice()[:min(6, len(ref.ClientHWAddr))]) {
			t.Fatalf("header differs: xid %x vs %x", ref.Xid, d.XID())
		}
		var rc []uint8
		for _, o := range ref.Options {
			if o.Type == layers.DHCPOptPad || o.Type == layers.DHCPOptEnd {
				continue
			}
			rc = append(rc, uint8(o.Type))
		}
		if len(rc) == len(codes) {
			for i := range rc {
				if rc[i] != codes[i] {
					t.Fatalf("option %d: %d vs reference %d", i, codes[i], rc[i])
				}
			}
		}
	})
}

func FuzzARP(f *testing.F) {
	a := make([]byte, ARPLen)
	ARP(a).Encode(&ARPFields{Op: ARPRequest, SenderMAC: MAC{0x52, 0x54, 0, 0, 0, 1},
		SenderIP: netip.MustParseAddr("10.0.0.1"), TargetIP: netip.MustParseAddr("10.0.0.2")})
	f.Add(a)
	f.Fuzz(func(t *testing.T, b []byte) {
		v := ARP(b)
		if !v.Valid() {
			return
		}
		var ref layers.ARP
		if err := ref.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
			t.Fatalf("reference rejects a valid ARP: %v", err)
		}
		s, tg := v.SenderIP().As4(), v.TargetIP().As4()
		if ref.Operation != v.Op() || !bytes.Equal(ref.SourceProtAddress, s[:]) || !bytes.Equal(ref.DstProtAddress, tg[:]) ||
			!bytes.Equal(ref.SourceHwAddress, v.SenderMAC().slice()) {
			t.Fatal("fields differ from the reference")
		}
		out := make([]byte, ARPLen)
		ARP(out).Encode(&ARPFields{Op: v.Op(), SenderMAC: v.SenderMAC(), TargetMAC: v.TargetMAC(), SenderIP: v.SenderIP(), TargetIP: v.TargetIP()})
		if !bytes.Equal(out, b[:ARPLen]) {
			t.Fatal("re-encode differs")
		}
	})
}

func FuzzIPv4UDP(f *testing.F) {
	b := make([]byte, 48)
	EncodeUDP(b[20:], netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 68, 67, 20)
	IPv4(b).Encode(&IPv4Fields{TotalLen: 48, TTL: 64, Protocol: ProtoUDP, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		ip := IPv4(b)
		if !ip.Valid() {
			return
		}
		var ref layers.IPv4
		if err := ref.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
			return
		}
		if int(ref.Length) != ip.TotalLen() || uint8(ref.Protocol) != ip.Protocol() || int(ref.IHL)*4 != ip.HeaderLen() {
			t.Fatalf("ipv4 differs: %d %d", ref.Length, ip.TotalLen())
		}
		if ip.Protocol() == ProtoUDP {
			u := UDP(ip.Payload())
			if u.Valid() {
				_ = u.Payload()
			}
		}
	})
}

func TestIPv4EncodeChecksum(t *testing.T) {
	b := make([]byte, 20)
	IPv4(b).Encode(&IPv4Fields{TotalLen: 20, TTL: 64, Protocol: ProtoICMP, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")})
	if !IPv4(b).Valid() || !IPv4(b).HeaderChecksumOK() {
		t.Fatal("encoded header invalid")
	}
	var ref layers.IPv4
	if err := ref.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil || ref.Checksum != binary.BigEndian.Uint16(b[10:]) {
		t.Fatal(err)
	}
}
