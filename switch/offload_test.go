package vswitch

import (
	"bytes"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vswitch/vswitch/internal/pkt"
)

// tcpFrame serializes one TCP/IPv4 or IPv6 frame with gopacket, the
// reference encoder, with correct lengths and checksums.
func tcpFrame(t *testing.T, v6 bool, id uint16, seq uint32, fin, psh, cwr bool, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 2}}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: seq, Ack: 77, ACK: true, FIN: fin, PSH: psh, CWR: cwr, Window: 500,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)}}}
	var l3 gopacket.SerializableLayer
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, HopLimit: 64,
			SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}
		tcp.SetNetworkLayerForChecksum(ip)
		l3 = ip
	} else {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: id, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP,
			SrcIP: net.IPv4(10, 0, 0, 1), DstIP: net.IPv4(10, 0, 0, 2)}
		tcp.SetNetworkLayerForChecksum(ip)
		l3 = ip
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, l3, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSegmentTCPMatchesReference(t *testing.T) {
	payload := make([]byte, 5000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	const mss = 1448
	for _, v6 := range []bool{false, true} {
		super := tcpFrame(t, v6, 100, 1000, true, true, true, payload)
		f := NewBigFrame()
		f.SetData(super)
		l4 := uint16(14 + 20)
		gso := uint8(pkt.VirtioNetHdrGSOTCPv4)
		if v6 {
			l4, gso = 14+40, pkt.VirtioNetHdrGSOTCPv6
		}
		// A partial checksum as the kernel hands it: the field holds the
		// pseudo-header sum only. Segmentation must not depend on it.
		f.VNet = pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, GSOType: gso, HdrLen: l4 + 32, GSOSize: mss, CsumStart: l4, CsumOffset: 16}
		var segs [][]byte
		p := &swPort{}
		segmentTCP(f, func(s *Frame) { segs = append(segs, append([]byte(nil), s.Bytes()...)); s.Release() }, p)
		if len(segs) != 4 {
			t.Fatalf("v6=%v: %d segments, want 4", v6, len(segs))
		}
		for i, seg := range segs {
			off := i * mss
			end := min(off+mss, len(payload))
			last := i == len(segs)-1
			want := tcpFrame(t, v6, 100+uint16(i), 1000+uint32(off), last, last, i == 0, payload[off:end])
			if !bytes.Equal(seg, want) {
				t.Fatalf("v6=%v segment %d differs from the reference\n got % x\nwant % x", v6, i, seg[:74], want[:74])
			}
		}
		f.Release()
	}
}

func TestFinishChecksum(t *testing.T) {
	full := tcpFrame(t, false, 1, 1, false, true, false, []byte("hello, world"))
	partial := append([]byte(nil), full...)
	// Replace the checksum by the pseudo-header sum, as CHECKSUM_PARTIAL does.
	tcpLen := uint16(len(full) - 34)
	ph := pkt.PseudoHeaderChecksum(6, full[26:30], full[30:34], tcpLen)
	partial[34+16], partial[34+17] = byte(ph>>8), byte(ph)
	h := pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, CsumStart: 34, CsumOffset: 16}
	if !finishChecksum(partial, h) {
		t.Fatal("refused")
	}
	if !bytes.Equal(partial, full) {
		t.Fatalf("checksum % x, want % x", partial[50:52], full[50:52])
	}
	if finishChecksum(partial[:40], h) {
		t.Fatal("accepted a checksum field past the end")
	}
}

func FuzzSegmentTCP(f *testing.F) {
	f.Add(make([]byte, 200), uint16(34), uint16(100), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, csumStart, gsoSize uint16, gsoType uint8) {
		if len(b) > BigDataLen {
			return
		}
		fr := NewBigFrame()
		fr.SetData(b)
		fr.VNet = pkt.VirtioNetHdr{Flags: 1, GSOType: gsoType, GSOSize: gsoSize, CsumStart: csumStart, CsumOffset: 16}
		p := &swPort{}
		total := 0
		segmentTCP(fr, func(s *Frame) { total += s.n; s.Release() }, p)
		finishChecksum(fr.Bytes(), fr.VNet)
		fr.Release()
		_ = total
	})
}
