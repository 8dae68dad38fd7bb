package pkt

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestTCPEncodeMSS: a SYN-ACK with an MSS option is byte for byte what
// gopacket serializes from the same fields; without MSS the header stays
// 20 bytes.
func TestTCPEncodeMSS(t *testing.T) {
	r := &layers.TCP{SrcPort: 53, DstPort: 40000, Seq: 7, Ack: 9, SYN: true, ACK: true, Window: 0xffff,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xa0}}}}
	want := refPacket(t, refIPv4(layers.IPProtocolTCP, addrA, addrB), r, nil)
	got := append([]byte(nil), want...)
	ip := IPv4(got)
	s := TCP(ip.Payload())
	clear(s)
	f := TCPFields{SrcPort: 53, DstPort: 40000, Seq: 7, Ack: 9, Flags: TCPFlagSYN | TCPFlagACK, Window: 0xffff, MSS: 1440}
	if f.EncodedLen() != 24 || len(s) != 24 {
		t.Fatalf("EncodedLen %d, reference header %d bytes; want 24", f.EncodedLen(), len(s))
	}
	s.Encode(&f)
	s.SetChecksum(ip.PseudoHeaderChecksum(ProtoTCP, uint16(len(s))))
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n% x\nwant\n% x", got, want)
	}
	f.MSS = 0
	if f.EncodedLen() != TCPMinLen {
		t.Fatalf("EncodedLen without MSS %d", f.EncodedLen())
	}
	s.Encode(&f)
	if s.DataOffset() != TCPMinLen || len(s.Options()) != 0 {
		t.Fatalf("without MSS: data offset %d, options % x", s.DataOffset(), s.Options())
	}
}

// TestEncodeUDP6: over IPv6 the checksum covers the IPv6 pseudo-header,
// as gopacket computes it.
func TestEncodeUDP6(t *testing.T) {
	src, dst := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("2001:db8::42")
	ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
	u := &layers.UDP{SrcPort: 547, DstPort: 546}
	if err := u.SetNetworkLayerForChecksum(ip6); err != nil {
		t.Fatal(err)
	}
	payload := []byte{7, 1, 2, 3, 4}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip6, u, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	want := buf.Bytes()[IPv6Len:]
	got := make([]byte, UDPLen+len(payload))
	copy(got[UDPLen:], payload)
	EncodeUDP(got, src, dst, 547, 546, len(payload))
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n% x\nwant\n% x", got, want)
	}
}
