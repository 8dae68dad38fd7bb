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

// superFrame is a TCP super-frame of payload as a vnet_hdr port hands it
// over: one header, a GSO type and size, and a partial checksum (the
// pseudo-header sum in the field). tag, if non-zero, is an 802.1Q TCI put
// in the buffer, and the offsets count it.
func superFrame(t *testing.T, v6 bool, payload []byte, mss uint16, tag uint16) memFrame {
	b := tcpFrame(t, v6, 100, 1000, true, true, false, payload)
	l4, gso := uint16(14+20), uint8(pkt.VirtioNetHdrGSOTCPv4)
	var ph uint16
	if v6 {
		l4, gso = 14+40, pkt.VirtioNetHdrGSOTCPv6
		ph = pkt.PseudoHeaderChecksum(pkt.ProtoTCP, b[22:38], b[38:54], uint16(len(b)-54))
	} else {
		ph = pkt.PseudoHeaderChecksum(pkt.ProtoTCP, b[26:30], b[30:34], uint16(len(b)-34))
	}
	binary.BigEndian.PutUint16(b[l4+16:], ph)
	h := pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, GSOType: gso, HdrLen: l4 + 32, GSOSize: mss, CsumStart: l4, CsumOffset: 16}
	if tag != 0 {
		b = withTCI(b, tag)
		h.Shift(pkt.VLANTagLen)
	}
	return memFrame{b: b, vnet: h}
}

// TestGSOToPortWithoutVNetHdr sends TCP super-frames across the switch.
// A port that takes the vnet header gets the super-frame whole, header and
// all; a port that does not gets MSS-sized segments, each within a
// 1500-byte MTU, identical to what a reference encoder makes of them (so
// every checksum verifies), tagged with the ingress PCP on a trunk.
func TestGSOToPortWithoutVNetHdr(t *testing.T) {
	payload := make([]byte, 5000)
	for i := range payload {
		payload[i] = byte(i*13 + 1)
	}
	const mss, tci = 1500 - 20 - 32, 5<<13 | 10
	for _, v6 := range []bool{false, true} {
		const mtu = 1514 // a 1500-byte IP packet in an untagged frame
		s := newTestSwitch(t, Config{}, trunk("src", 0, 10))
		plain := s.addPort(t, access("plain", 10), 0)
		plainTrunk := s.addPort(t, trunk("plaintrunk", 0, 10), 0)
		vnet := s.addPort(t, access("vnet", 10), FeatVNetHdr)
		vnet.hdrs = make(chan pkt.VirtioNetHdr, 16)
		segMSS := uint16(mss)
		if v6 {
			segMSS = 1500 - 40 - 32
		}
		sf := superFrame(t, v6, payload, segMSS, tci)
		s.ports["src"].inMeta <- sf

		var got []byte
		n := (len(payload) + int(segMSS) - 1) / int(segMSS)
		for i := range n {
			seg := plain.expect(t)
			if len(seg) > mtu {
				t.Fatalf("v6=%v segment %d is %d bytes, over the MTU", v6, i, len(seg))
			}
			checkSegmentSums(t, seg)
			off := i * int(segMSS)
			end := min(off+int(segMSS), len(payload))
			last := i == n-1
			want := tcpFrame(t, v6, 100+uint16(i), 1000+uint32(off), last, last, false, payload[off:end])
			if !bytes.Equal(seg, want) {
				t.Fatalf("v6=%v segment %d:\n got % x\nwant % x", v6, i, seg[:74], want[:74])
			}
			if tseg := plainTrunk.expect(t); !bytes.Equal(tseg, withTCI(want, tci)) {
				t.Fatalf("v6=%v trunk segment %d:\n got % x\nwant % x", v6, i, tseg[:78], withTCI(want, tci)[:78])
			}
			got = append(got, seg[len(seg)-(end-off):]...)
		}
		plain.expectNone(t)
		plainTrunk.expectNone(t)
		if !bytes.Equal(got, payload) {
			t.Fatalf("v6=%v: segments do not add up to the payload", v6)
		}
		// The vnet port gets the super-frame untagged, with the offsets
		// moved back by the tag.
		whole := vnet.expect(t)
		wantHdr := sf.vnet
		wantHdr.Shift(-pkt.VLANTagLen)
		if h := <-vnet.hdrs; h != wantHdr {
			t.Fatalf("v6=%v vnet header %+v, want %+v", v6, h, wantHdr)
		}
		if untag := append(append([]byte(nil), sf.b[:12]...), sf.b[16:]...); !bytes.Equal(whole, untag) {
			t.Fatalf("v6=%v: the vnet port got a changed super-frame", v6)
		}
		for _, p := range []string{"plain", "plaintrunk", "vnet"} {
			if st, _ := s.Port(p); st.Drops != ([NumDropReasons]uint64{}) {
				t.Fatalf("port %s drops %v", p, st.Drops)
			}
		}
	}
}

// TestOffloadToPortWithoutVNetHdr covers the other frames that need work
// before a port without a vnet header can take them: a partial checksum is
// finished, and what cannot be made complete is dropped as bad_offload.
func TestOffloadToPortWithoutVNetHdr(t *testing.T) {
	full := tcpFrame(t, false, 1, 1, false, true, false, []byte("hello, world"))
	partial := append([]byte(nil), full...)
	ph := pkt.PseudoHeaderChecksum(pkt.ProtoTCP, full[26:30], full[30:34], uint16(len(full)-34))
	binary.BigEndian.PutUint16(partial[50:], ph)
	csum := pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, CsumStart: 34, CsumOffset: 16}
	tests := []struct {
		name string
		in   memFrame
		want []byte // nil: dropped as bad_offload on the plain port
	}{
		{"partial checksum finished", memFrame{b: partial, vnet: csum}, full},
		{"data-valid flag only", memFrame{b: full, vnet: pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFDataValid}}, full},
		{"checksum field past the end", memFrame{b: partial, vnet: pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, CsumStart: 34, CsumOffset: uint16(len(partial) - 35)}}, nil},
		{"checksum start past the end", memFrame{b: partial, vnet: pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, CsumStart: uint16(len(partial)), CsumOffset: 0}}, nil},
		{"UDP GSO", memFrame{b: full, vnet: pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, GSOType: pkt.VirtioNetHdrGSOUDPL4, GSOSize: 8, CsumStart: 34, CsumOffset: 6}}, nil},
		{"GSO size 0", memFrame{b: full, vnet: pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, GSOType: pkt.VirtioNetHdrGSOTCPv4, CsumStart: 34, CsumOffset: 16}}, nil},
		{"GSO over UDP", memFrame{b: func() []byte { b := append([]byte(nil), full...); b[23] = pkt.ProtoUDP; return b }(),
			vnet: pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, GSOType: pkt.VirtioNetHdrGSOTCPv4, GSOSize: 4, CsumStart: 34, CsumOffset: 16}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSwitch(t, Config{}, access("src", 1))
			plain := s.addPort(t, access("plain", 1), 0)
			vnet := s.addPort(t, access("vnet", 1), FeatVNetHdr)
			s.ports["src"].inMeta <- tt.in
			if got := vnet.expect(t); !bytes.Equal(got, tt.in.b) {
				t.Fatalf("vnet port got % x, want it unchanged", got)
			}
			if tt.want == nil {
				s.waitDrop(t, "plain", DropBadOffload, 1)
				plain.expectNone(t)
				return
			}
			if got := plain.expect(t); !bytes.Equal(got, tt.want) {
				t.Fatalf("plain port got % x\nwant % x", got, tt.want)
			}
			if st, _ := s.Port("plain"); st.Drops[DropBadOffload] != 0 {
				t.Fatalf("bad_offload %d", st.Drops[DropBadOffload])
			}
		})
	}
}

// TestFinishChecksumZero covers the one sum that is written differently:
// a UDP checksum that comes out 0 goes on the wire as 0xffff (0 means "no
// checksum"), a TCP one stays 0.
func TestFinishChecksumZero(t *testing.T) {
	for _, tt := range []struct {
		name      string
		udp       bool
		wantField uint16
	}{{"tcp", false, 0}, {"udp", true, 0xffff}} {
		t.Run(tt.name, func(t *testing.T) {
			payload := make([]byte, 20) // the last word is chosen below; no Ethernet padding
			copy(payload, "zero checksum")
			var b []byte
			off := uint16(16) // TCP checksum offset
			if tt.udp {
				eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
				ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IPv4(10, 0, 0, 1), DstIP: net.IPv4(10, 0, 0, 2)}
				udp := &layers.UDP{SrcPort: 5353, DstPort: 53}
				udp.SetNetworkLayerForChecksum(ip)
				buf := gopacket.NewSerializeBuffer()
				if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(payload)); err != nil {
					t.Fatal(err)
				}
				b, off = buf.Bytes(), 6
			} else {
				b = tcpFrame(t, false, 1, 1, false, true, false, payload)
			}
			h := pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, CsumStart: 34, CsumOffset: off}
			ph := pkt.PseudoHeaderChecksum(b[23], b[26:30], b[30:34], uint16(len(b)-34))
			// First an ordinary sum: finished, it is what the reference wrote.
			partial := append([]byte(nil), b...)
			binary.BigEndian.PutUint16(partial[34+off:], ph)
			if !finishChecksum(partial, h) || !bytes.Equal(partial, b) {
				t.Fatalf("checksum % x, want % x", partial[34+off:36+off], b[34+off:36+off])
			}
			// With the last payload word 0 the checksum is c = ^S; putting c
			// in that word makes the sum 0xffff and the checksum 0.
			c := binary.BigEndian.Uint16(b[34+off:])
			binary.BigEndian.PutUint16(b[len(b)-2:], c)
			binary.BigEndian.PutUint16(b[34+off:], ph)
			if !finishChecksum(b, h) {
				t.Fatal("refused")
			}
			if got := binary.BigEndian.Uint16(b[34+off:]); got != tt.wantField {
				t.Fatalf("checksum field %#04x, want %#04x", got, tt.wantField)
			}
		})
	}
}

// TestFinishChecksumBounds: the checksum field may be the frame's last two
// bytes, and not one byte further.
func TestFinishChecksumBounds(t *testing.T) {
	b := pattern(40)
	h := pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, CsumStart: 20, CsumOffset: 18}
	ph := binary.BigEndian.Uint16(b[38:])
	if !finishChecksum(b, h) {
		t.Fatal("refused a field in the last two bytes")
	}
	if sum := onesAdd(sumRef(b[20:]), ph); sum != 0xffff {
		t.Fatalf("sum %#04x", sum)
	}
	h.CsumOffset = 19
	if finishChecksum(b, h) {
		t.Fatal("accepted a field one byte past the end")
	}
	h.CsumStart, h.CsumOffset = 40, 0
	if finishChecksum(pattern(42), h) != true || finishChecksum(b, h) {
		t.Fatal("csum_start at the end of the frame")
	}
}

// TestDataValidGSO sends GRO'd super-frames (DATA_VALID, csum_start 0, a
// stale checksum, hdr_len a mere hint) in on a trunk, tagged. A port
// without a vnet header gets the reference encoder's segments; a vnet port
// gets the super-frame in the partial-checksum form a kernel can segment:
// NEEDS_CSUM, csum_start and hdr_len found from the headers (moved by the
// tag on a trunk), the pseudo-header sum in the field; finishing that sum
// gives the super-frame's true checksum.
func TestDataValidGSO(t *testing.T) {
	payload := pattern(4000)
	const mss, tci = 1400, 3<<13 | 10
	for _, tt := range []struct {
		name    string
		v6, udp bool
	}{{"tcp4", false, false}, {"tcp6", true, false}, {"udp4", false, true}, {"udp6", true, true}} {
		t.Run(tt.name, func(t *testing.T) {
			var b []byte
			l4, off, gso := 34, pkt.TCPChecksumOffset, uint8(pkt.VirtioNetHdrGSOTCPv4)
			if tt.v6 {
				l4, gso = 54, pkt.VirtioNetHdrGSOTCPv6
			}
			if tt.udp {
				b, off, gso = udpFrame(t, tt.v6, 100, payload), pkt.UDPChecksumOffset, pkt.VirtioNetHdrGSOUDPL4
			} else {
				b = tcpFrame(t, tt.v6, 100, 1000, true, true, true, payload)
			}
			hdr := l4 + 32
			if tt.udp {
				hdr = l4 + 8
			}
			trueSum := binary.BigEndian.Uint16(b[l4+off:])
			stale := append([]byte(nil), b...)
			binary.BigEndian.PutUint16(stale[l4+off:], 0x1234)
			in := memFrame{b: withTCI(stale, tci), vnet: pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFDataValid, GSOType: gso, GSOSize: mss, HdrLen: 200}}

			s := newTestSwitch(t, Config{}, trunk("src", 0, 10))
			plain := s.addPort(t, access("plain", 10), 0)
			vnet := s.addPort(t, access("vnet", 10), FeatVNetHdr)
			vnetTrunk := s.addPort(t, trunk("vnettrunk", 0, 10), FeatVNetHdr)
			vnet.hdrs = make(chan pkt.VirtioNetHdr, 4)
			vnetTrunk.hdrs = make(chan pkt.VirtioNetHdr, 4)
			s.ports["src"].inMeta <- in

			for i, want := range segmentRef(t, tt.v6, tt.udp, payload, mss) {
				if got := plain.expect(t); !bytes.Equal(got, want) {
					t.Fatalf("segment %d:\n got % x\nwant % x", i, got[:70], want[:70])
				}
			}
			plain.expectNone(t)

			wantHdr := pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, GSOType: gso, GSOSize: mss, HdrLen: uint16(hdr), CsumStart: uint16(l4), CsumOffset: uint16(off)}
			for _, port := range []struct {
				m      *memPort
				tagged bool
			}{{vnet, false}, {vnetTrunk, true}} {
				got, h := port.m.expect(t), <-port.m.hdrs
				want, wh := append([]byte(nil), b...), wantHdr
				if port.tagged {
					got = append(append([]byte(nil), got[:12]...), got[16:]...)
					wh.Shift(pkt.VLANTagLen)
				}
				if h != wh {
					t.Fatalf("tagged %v: header %+v, want %+v", port.tagged, h, wh)
				}
				field := binary.BigEndian.Uint16(got[l4+off:])
				if sum := ^pkt.Checksum(got[l4:], 0); sum != trueSum {
					t.Fatalf("tagged %v: finishing the partial sum %#04x gives %#04x, want %#04x", port.tagged, field, sum, trueSum)
				}
				binary.BigEndian.PutUint16(want[l4+off:], field)
				if !bytes.Equal(got, want) {
					t.Fatalf("tagged %v: super-frame changed beyond its checksum field", port.tagged)
				}
			}
			for _, p := range []string{"src", "plain", "vnet", "vnettrunk"} {
				if st, _ := s.Port(p); st.Drops != ([NumDropReasons]uint64{}) {
					t.Fatalf("port %s drops %v", p, st.Drops)
				}
			}
		})
	}
}

// BenchmarkSendOffload: egress work per 64 KiB super-frame (SetData's
// copy included).
func BenchmarkSendOffload(b *testing.B) {
	for _, c := range offloadCases(b) {
		b.Run(c.name, func(b *testing.B) {
			p := newSwPort(PortConfig{Name: "out", Queue: 256}, &memPort{feat: c.feat})
			b.ReportAllocs()
			b.SetBytes(int64(len(c.b)))
			for b.Loop() {
				c.send(p)
			}
		})
	}
}

type offloadCase struct {
	name string
	feat Features
	b    []byte
	h    pkt.VirtioNetHdr
}

// offloadCases are 64 KiB super-frames as egress meets them.
func offloadCases(t testing.TB) []offloadCase {
	payload := pattern(65000)
	tcp := tcpFrame(t, false, 1, 1, false, true, false, payload)
	udp := udpFrame(t, false, 1, payload)
	ph := pkt.PseudoHeaderChecksum(pkt.ProtoTCP, tcp[26:30], tcp[30:34], uint16(len(tcp)-34))
	binary.BigEndian.PutUint16(tcp[50:], ph)
	return []offloadCase{
		{"tcp4 segmented", 0, tcp, pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, GSOType: pkt.VirtioNetHdrGSOTCPv4, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}},
		{"udp4 segmented", 0, udp, pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFNeedsCsum, GSOType: pkt.VirtioNetHdrGSOUDPL4, HdrLen: 42, GSOSize: 1472, CsumStart: 34, CsumOffset: 6}},
		{"tcp4 data-valid to vnet", FeatVNetHdr, tcp, pkt.VirtioNetHdr{Flags: pkt.VirtioNetHdrFDataValid, GSOType: pkt.VirtioNetHdrGSOTCPv4, GSOSize: 1448}},
	}
}

// send puts a copy of the case's super-frame through p's egress and
// releases what comes out.
func (c offloadCase) send(p *swPort) {
	f := NewBigFrame()
	f.SetData(c.b)
	f.VNet = c.h
	p.sendOffload(f, egressUntagged)
	var out [BatchSize]*Frame
	for n := p.q.Take(out[:]); n > 0; n = p.q.Take(out[:]) {
		for _, s := range out[:n] {
			s.Release()
		}
	}
}
