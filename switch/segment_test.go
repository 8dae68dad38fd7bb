package vswitch

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/vswitch/vswitch/internal/pkt"
)

// The segmenter against the reference (gopacket): frames cut from
// super-frames, their bounds, and finished checksums. offload_test.go
// sends super-frames across the switch.

// tcpFrame serializes one TCP/IPv4 or IPv6 frame with gopacket, the
// reference encoder, with correct lengths and checksums.
func tcpFrame(t testing.TB, v6 bool, id uint16, seq uint32, fin, psh, cwr bool, payload []byte) []byte {
	t.Helper()
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: seq, Ack: 77, ACK: true, FIN: fin, PSH: psh, CWR: cwr, Window: 500,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)}}}
	return ipFrame(t, v6, id, layers.IPProtocolTCP, tcp, payload)
}

// udpFrame serializes one UDP/IPv4 or IPv6 frame with gopacket.
func udpFrame(t testing.TB, v6 bool, id uint16, payload []byte) []byte {
	t.Helper()
	return ipFrame(t, v6, id, layers.IPProtocolUDP, &layers.UDP{SrcPort: 40000, DstPort: 4433}, payload)
}

// transportLayer is a gopacket TCP or UDP layer.
type transportLayer interface {
	gopacket.SerializableLayer
	SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
}

// ipFrame serializes Ethernet, IPv4 (with id) or IPv6, l4 and payload.
func ipFrame(t testing.TB, v6 bool, id uint16, proto layers.IPProtocol, l4 transportLayer, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 2}}
	var l3 gopacket.SerializableLayer
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, NextHeader: proto, HopLimit: 64, SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}
		l4.SetNetworkLayerForChecksum(ip)
		l3 = ip
	} else {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: id, Flags: layers.IPv4DontFragment, Protocol: proto,
			SrcIP: net.IPv4(10, 0, 0, 1), DstIP: net.IPv4(10, 0, 0, 2)}
		l4.SetNetworkLayerForChecksum(ip)
		l3 = ip
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, l3, l4, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withIPv4Options returns the IPv4 frame b with 4 bytes of options (NOP,
// NOP, NOP, end) in its IP header, lengths and header checksum fixed; the
// transport checksum stays valid.
func withIPv4Options(b []byte) []byte {
	out := append(append(append([]byte(nil), b[:34]...), 1, 1, 1, 0), b[34:]...)
	out[14] = 0x46
	binary.BigEndian.PutUint16(out[16:], binary.BigEndian.Uint16(out[16:])+4)
	out[24], out[25] = 0, 0
	binary.BigEndian.PutUint16(out[24:], ^pkt.Checksum(out[14:38], 0))
	return out
}

// withHopByHop returns the IPv6 frame b with an 8-byte hop-by-hop header
// (one PadN option) before its transport header; the transport checksum
// stays valid.
func withHopByHop(b []byte) []byte {
	out := append(append(append([]byte(nil), b[:54]...), b[20], 0, 1, 4, 0, 0, 0, 0), b[54:]...)
	out[20] = 0
	binary.BigEndian.PutUint16(out[18:], binary.BigEndian.Uint16(out[18:])+8)
	return out
}

// segmentRef is what a reference encoder makes of payload cut at mss:
// the frames segmentation must produce, byte for byte.
func segmentRef(t testing.TB, v6, udp bool, payload []byte, mss int) [][]byte {
	var segs [][]byte
	for i, off := 0, 0; off < len(payload) || i == 0; i, off = i+1, off+mss {
		end := min(off+mss, len(payload))
		last := end == len(payload)
		if udp {
			segs = append(segs, udpFrame(t, v6, 100+uint16(i), payload[off:end]))
		} else {
			segs = append(segs, tcpFrame(t, v6, 100+uint16(i), 1000+uint32(off), last, last, i == 0, payload[off:end]))
		}
	}
	return segs
}

// TestSegmentMatchesReference cuts TCP and UDP super-frames, in the two
// forms vnet_hdr ports hand them over (a partial checksum with csum_start
// set; GRO'd and DATA_VALID with csum_start 0 and the first segment's
// checksum left in the field), and compares every segment byte for byte
// with what gopacket encodes. A super-frame whose IPv4 header checksum is
// wrong gets segments with right ones: Linux's GSO computes each
// segment's in full too (ip_send_check), it does not update the guest's.
func TestSegmentMatchesReference(t *testing.T) {
	payload := make([]byte, 5000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	const mss = 1448
	for _, tt := range []struct {
		name      string
		v6, udp   bool
		dataValid bool
		badIPSum  bool
	}{
		{"tcp4", false, false, false, false}, {"tcp6", true, false, false, false},
		{"udp4", false, true, false, false}, {"udp6", true, true, false, false},
		{"tcp4 data-valid", false, false, true, false}, {"tcp6 data-valid", true, false, true, false},
		{"udp4 data-valid", false, true, true, false},
		{"tcp4 wrong IP checksum", false, false, false, true}, {"udp4 wrong IP checksum", false, true, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var super []byte
			l4 := uint16(14 + 20)
			if tt.v6 {
				l4 = 14 + 40
			}
			h := pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, GSOSize: mss, CsumStart: l4, CsumOffset: pkt.TCPChecksumOffset, HdrLen: l4 + 32}
			switch {
			case tt.udp:
				super = udpFrame(t, tt.v6, 100, payload)
				h.GSOType, h.CsumOffset, h.HdrLen = pkt.VirtioNetHdrGSOUDPL4, pkt.UDPChecksumOffset, l4+8
			case tt.v6:
				super, h.GSOType = tcpFrame(t, true, 100, 1000, true, true, true, payload), pkt.VirtioNetHdrGSOTCPv6
			default:
				super, h.GSOType = tcpFrame(t, false, 100, 1000, true, true, true, payload), pkt.VirtioNetHdrGSOTCPv4
			}
			if tt.dataValid {
				// As af_packet fills it for a GRO'd skb: hdr_len is the
				// linear part's length, a hint only.
				binary.BigEndian.PutUint16(super[h.CsumStart+h.CsumOffset:], 0x1234)
				h.Flags, h.CsumStart, h.CsumOffset, h.HdrLen = pkt.VirtioNetHdrFDataValid, 0, 0, 128
			} else {
				// The field holds the pseudo-header sum only: segmentation
				// must not depend on it.
				binary.BigEndian.PutUint16(super[int(h.CsumStart+h.CsumOffset):], 0xbeef)
			}
			if tt.badIPSum {
				super[14+pkt.IPv4ChecksumOffset] ^= 0x5a
			}
			f := NewBigFrame()
			defer f.Release()
			f.SetData(super)
			f.VNet = h
			var segs [][]byte
			p := &swPort{}
			segmentGSO(f, func(s *Frame) { segs = append(segs, append([]byte(nil), s.Bytes()...)); s.Release() }, p)
			want := segmentRef(t, tt.v6, tt.udp, payload, mss)
			if len(segs) != len(want) || len(want) != 4 {
				t.Fatalf("%d segments, want %d (4)", len(segs), len(want))
			}
			for i, seg := range segs {
				if !bytes.Equal(seg, want[i]) {
					t.Fatalf("segment %d differs from the reference\n got % x\nwant % x", i, seg[:70], want[i][:70])
				}
			}
			if d := p.stats.drops[DropBadOffload].Load(); d != 0 {
				t.Fatalf("%d bad_offload drops", d)
			}
		})
	}
}

// TestSegmentBound: a super-frame that would cut into more segments than
// 64 KiB makes at the least MSS Linux sends (48) is dropped whole and
// counted, before any segment is made; one at exactly that MSS is cut.
func TestSegmentBound(t *testing.T) {
	for _, tt := range []struct {
		name     string
		udp      bool
		mss      uint16
		wantSegs int // 0: dropped as bad_offload
	}{
		{"tcp mss 1", false, 1, 0},
		{"tcp mss 47", false, 47, 0},
		{"tcp mss 48", false, 48, 1365},
		{"udp mss 1", true, 1, 0},
		{"udp mss 8", true, 8, 0},
		{"udp mss 48", true, 48, 1365},
	} {
		t.Run(tt.name, func(t *testing.T) {
			payload := pattern(65520)
			var b []byte
			h := pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, GSOSize: tt.mss, CsumStart: 34}
			if tt.udp {
				b, h.GSOType, h.CsumOffset = udpFrame(t, false, 1, payload), pkt.VirtioNetHdrGSOUDPL4, pkt.UDPChecksumOffset
			} else {
				b, h.GSOType, h.CsumOffset = tcpFrame(t, false, 1, 1, false, true, false, payload), pkt.VirtioNetHdrGSOTCPv4, pkt.TCPChecksumOffset
			}
			f := NewBigFrame()
			defer f.Release()
			f.SetData(b)
			f.VNet = h
			p := &swPort{}
			segs := 0
			segmentGSO(f, func(s *Frame) { segs++; s.Release() }, p)
			drops := p.stats.drops[DropBadOffload].Load()
			if tt.wantSegs == 0 && (segs != 0 || drops != 1) || tt.wantSegs != 0 && (segs != tt.wantSegs || drops != 0) {
				t.Fatalf("%d segments, %d drops; want %d segments (0: one drop)", segs, drops, tt.wantSegs)
			}
		})
	}
}

// TestSegmentTruncatedHeaders: a super-frame cut short anywhere in its
// headers (in the IPv6 header, in or right after a hop-by-hop header, in
// IPv4 options, in the TCP or UDP header) is one bad_offload drop and no
// segment, with or without the vnet header on the egress port, and never
// a read past its end; the whole frame, as a positive control, is cut.
func TestSegmentTruncatedHeaders(t *testing.T) {
	tcp6 := withHopByHop(tcpFrame(t, true, 1, 1, false, true, false, pattern(3000)))     // TCP at 62
	udp6 := withHopByHop(udpFrame(t, true, 1, pattern(3000)))                            // UDP at 62
	tcp4 := withIPv4Options(tcpFrame(t, false, 1, 1, false, true, false, pattern(3000))) // TCP at 38
	h6 := pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFDataValid, GSOType: pkt.VirtioNetHdrGSOTCPv6, GSOSize: 1000}
	u6 := pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFDataValid, GSOType: pkt.VirtioNetHdrGSOUDPL4, GSOSize: 1000}
	h4 := pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFDataValid, GSOType: pkt.VirtioNetHdrGSOTCPv4, GSOSize: 1000}
	for _, tt := range []struct {
		name string
		b    []byte
		h    pkt.VirtioNetHdr
		segs int // 0: dropped
	}{
		{"ipv6 header cut", tcp6[:50], h6, 0},
		{"ipv6 header only, hop-by-hop next", tcp6[:54], h6, 0},
		{"one byte of hop-by-hop", tcp6[:55], h6, 0},
		{"hop-by-hop cut", tcp6[:61], h6, 0},
		{"hop-by-hop, no tcp", tcp6[:62], h6, 0},
		{"tcp header cut after hop-by-hop", tcp6[:62+19], h6, 0},
		{"udp header cut after hop-by-hop", udp6[:62+7], u6, 0},
		{"ipv4 options cut", tcp4[:36], h4, 0},
		{"ipv4 options, no tcp", tcp4[:38], h4, 0},
		{"tcp6 whole", tcp6, h6, 3},
		{"udp6 whole", udp6, u6, 3},
		{"tcp4 whole", tcp4, h4, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, feat := range []Features{0, FeatVNetHdr} {
				p := newSwPort(PortConfig{Name: "out", Queue: 64}, &memPort{feat: feat})
				f := NewBigFrame()
				f.SetData(tt.b)
				f.VNet = tt.h
				if got := Segmentable(f); got != (tt.segs > 0) {
					t.Fatalf("Segmentable %v", got)
				}
				p.sendOffload(f, egressUntagged)
				var out [BatchSize]*Frame
				n := p.q.Take(out[:])
				for _, s := range out[:n] {
					s.Release()
				}
				want, drops := tt.segs, uint64(0)
				if feat != 0 && want > 0 {
					want = 1 // a port with the header takes the super-frame whole
				}
				if want == 0 {
					drops = 1
				}
				if d := p.stats.drops[DropBadOffload].Load(); n != want || d != drops {
					t.Fatalf("feat %d: %d frames out, %d bad_offload drops; want %d and %d", feat, n, d, want, drops)
				}
			}
		})
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
