package pkt

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Kinds of packet FuzzRewrite builds.
const (
	rwTCP = iota
	rwUDP
	rwUDPNoChecksum // UDP with checksum 0: none
	rwICMP
	rwKinds
)

// rwPacket builds the packet FuzzRewrite starts from with gopacket, from
// fuzzed fields: IPv4 with nIPOpt NOP options, then TCP (with nTCPOpt NOP
// options), UDP or ICMPv4, then payload. Checksums are complete.
func rwPacket(t *testing.T, kind int, src, dst uint32, sport, dport uint16, seq, ack uint32, flags, ttl uint8,
	id uint16, nIPOpt, nTCPOpt int, payload []byte) []byte {
	var s, d [4]byte
	binary.BigEndian.PutUint32(s[:], src)
	binary.BigEndian.PutUint32(d[:], dst)
	ip := &layers.IPv4{Version: 4, TTL: ttl, Id: id, SrcIP: s[:], DstIP: d[:]}
	for range nIPOpt {
		ip.Options = append(ip.Options, layers.IPv4Option{OptionType: 1})
	}
	var l4 gopacket.SerializableLayer
	switch kind {
	case rwTCP:
		ip.Protocol = layers.IPProtocolTCP
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Ack: ack,
			FIN: flags&TCPFlagFIN != 0, SYN: flags&TCPFlagSYN != 0, RST: flags&TCPFlagRST != 0, PSH: flags&TCPFlagPSH != 0,
			ACK: flags&TCPFlagACK != 0, URG: flags&TCPFlagURG != 0, ECE: flags&TCPFlagECE != 0, CWR: flags&TCPFlagCWR != 0,
			Window: uint16(seq), Urgent: uint16(ack)}
		for range nTCPOpt {
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindNop})
		}
		l4 = tcp
	case rwUDP, rwUDPNoChecksum:
		ip.Protocol = layers.IPProtocolUDP
		l4 = &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	default:
		ip.Protocol = layers.IPProtocolICMPv4
		l4 = &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(flags, uint8(seq)), Id: sport, Seq: dport}
	}
	b := refPacket(t, ip, l4, payload)
	if kind == rwUDPNoChecksum {
		hl := IPv4(b).HeaderLen()
		b[hl+6], b[hl+7] = 0, 0
	}
	return b
}

// naivePseudo is the obvious sum of the IPv4 pseudo-header.
func naivePseudo(src, dst []byte, proto uint8, n int) uint16 {
	b := append(append([]byte(nil), src...), dst...)
	b = append(b, 0, proto)
	return checksumRef(binary.BigEndian.AppendUint16(b, uint16(n)))
}

// rwModel recomputes, naively, every checksum of the packet m (header
// length hl, L4 bytes m[hl:end]) as it should be after a rewrite.
func rwModel(m []byte, hl, end, kind int, partial bool) {
	binary.BigEndian.PutUint16(m[10:], naiveIPv4Checksum(m[:hl]))
	seg := m[hl:end]
	src, dst := m[12:16], m[16:20]
	switch kind {
	case rwTCP, rwUDP:
		off, proto := TCPChecksumOffset, uint8(ProtoTCP)
		if kind == rwUDP {
			off, proto = UDPChecksumOffset, ProtoUDP
		}
		if partial {
			binary.BigEndian.PutUint16(seg[off:], naivePseudo(src, dst, proto, len(seg)))
			return
		}
		seg[off], seg[off+1] = 0, 0
		c := ^checksumRef(append(binary.BigEndian.AppendUint16(append(append([]byte(nil), src...), dst...), uint16(proto)),
			append(binary.BigEndian.AppendUint16(nil, uint16(len(seg))), seg...)...))
		if c == 0 && kind == rwUDP {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(seg[off:], c)
	case rwICMP:
		seg[2], seg[3] = 0, 0
		binary.BigEndian.PutUint16(seg[2:], ^checksumRef(seg))
	}
}

// FuzzRewrite builds a valid IPv4 packet carrying TCP, UDP (with or
// without a checksum) or ICMPv4 from fuzzed fields with gopacket, the L4
// checksum complete or (partial) the pseudo-header sum a virtio-net
// header's NEEDS_CSUM leaves, and applies a fuzzed sequence of setter
// calls. A model copy gets the same fields written raw and every checksum
// recomputed in full the naive way: the two must be equal byte for byte,
// so every checksum is exactly the full recomputation and no other byte
// moved. gopacket then verifies the checksums as a second opinion, and a
// partial sum, once finished, must equal the complete checksum.
func FuzzRewrite(f *testing.F) {
	nat := []byte{0, 203, 0, 113, 7, 6, 0, 0, 0xee, 0x48, 1, 10, 0, 0, 1, 7, 0, 0, 0x1f, 0x90}
	f.Add(uint8(rwTCP), false, uint32(0x0a000001), uint32(0x08080808), uint16(40000), uint16(443), uint32(1), uint32(2),
		uint8(TCPFlagSYN), uint8(64), uint16(7), uint8(0x21), []byte("hello"), nat)
	f.Add(uint8(rwTCP), true, uint32(0x0a000001), uint32(0x08080808), uint16(40000), uint16(443), uint32(1), uint32(2),
		uint8(TCPFlagACK|TCPFlagPSH), uint8(64), uint16(7), uint8(0), make([]byte, 1400), nat)
	// A segment cut from a super-frame: new seq, flags and window.
	f.Add(uint8(rwTCP), false, uint32(0x0a000001), uint32(0x08080808), uint16(40000), uint16(443), uint32(1), uint32(2),
		uint8(TCPFlagACK|TCPFlagPSH|TCPFlagFIN), uint8(64), uint16(7), uint8(0x30), make([]byte, 100),
		[]byte{9, 0, 0, 5, 0xdc, 11, 0, 0, 0, TCPFlagACK, 12, 0, 0, 0xff, 0xff, 10, 0xff, 0xff, 0xff, 0xff, 5, 0, 0, 0, 140})
	f.Add(uint8(rwUDP), false, uint32(0xc0a80102), uint32(0x01010101), uint16(5353), uint16(53), uint32(0), uint32(0),
		uint8(0), uint8(1), uint16(0), uint8(3), []byte{1, 2, 3}, []byte{3, 0, 0, 0, 0, 2, 0, 0, 0, 0, 4, 0, 0, 0xff, 0xff})
	f.Add(uint8(rwUDP), true, uint32(0xc0a80102), uint32(0x01010101), uint16(5353), uint16(53), uint32(0), uint32(0),
		uint8(0), uint8(1), uint16(0), uint8(0), []byte{1, 2, 3}, nat)
	f.Add(uint8(rwUDPNoChecksum), false, uint32(0xc0a80102), uint32(0x01010101), uint16(68), uint16(67), uint32(0), uint32(0),
		uint8(0), uint8(2), uint16(0), uint8(0), []byte("dhcp"), append(nat, 3, 0, 0, 0, 0, 5, 0, 0, 0, 40, 8, 0, 0, 0, 0))
	f.Add(uint8(rwICMP), false, uint32(0x0a000001), uint32(0x08080808), uint16(0x1234), uint16(1), uint32(0), uint32(0),
		uint8(ICMPEchoRequest), uint8(64), uint16(0), uint8(0), []byte("ping"), nat)
	// An echo reply that becomes all zeros: checksum 0xffff, not 0.
	f.Add(uint8(rwICMP), false, uint32(0x0a000001), uint32(0x08080808), uint16(0x1234), uint16(0), uint32(0), uint32(0),
		uint8(ICMPEchoReply), uint8(64), uint16(0), uint8(0), []byte{}, []byte{6, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, kindIn uint8, partial bool, src, dst uint32, sport, dport uint16, seq, ack uint32,
		flags, ttl uint8, id uint16, opts uint8, payload, ops []byte) {
		kind := int(kindIn % rwKinds)
		if kind != rwTCP && kind != rwUDP {
			partial = false // only TCP and UDP checksums cover a pseudo-header
		}
		if len(payload) > 2000 {
			payload = payload[:2000]
		}
		b := rwPacket(t, kind, src, dst, sport, dport, seq, ack, flags, ttl, id, int(opts&0xf%11), int(opts>>4%11), payload)
		ip := IPv4(b)
		if !ip.Valid() || !ip.HeaderChecksumOK() {
			t.Fatalf("gopacket built an invalid packet: % x", b)
		}
		hl, end := ip.HeaderLen(), ip.TotalLen()
		seg := b[hl:end] // fixed here: SetTotalLen moves the IP payload, not the L4 view
		var l4 Transport
		switch kind {
		case rwTCP:
			l4 = TCP(seg)
		case rwUDP, rwUDPNoChecksum:
			l4 = UDP(seg)
		}
		if partial {
			off := TCPChecksumOffset
			if kind == rwUDP {
				off = UDPChecksumOffset
			}
			binary.BigEndian.PutUint16(seg[off:], ip.PseudoHeaderChecksum(ip.Protocol(), uint16(len(seg))))
		}
		m := append([]byte(nil), b...)
		mseg := m[hl:end]
		totalChanged := false
		for ; len(ops) >= 5; ops = ops[5:] {
			arg := binary.BigEndian.Uint32(ops[1:])
			switch ops[0] % 13 {
			case 0, 1:
				a := netip.AddrFrom4([4]byte(ops[1:5]))
				off := 12 + 4*int(ops[0]%13)
				old := netip.AddrFrom4([4]byte(b[off : off+4]))
				if off == 12 {
					ip.SetSrc(a)
				} else {
					ip.SetDst(a)
				}
				if l4 != nil {
					l4.UpdateChecksumPseudoHeaderAddress(old, a, !partial)
				}
				copy(m[off:off+4], ops[1:5])
			case 2:
				ip.SetTTL(uint8(arg))
				m[8] = uint8(arg)
			case 3:
				want := m[8] > 1
				if got := ip.DecTTL(); got != want {
					t.Fatalf("DecTTL at TTL %d: %v", m[8], got)
				}
				if want {
					m[8]--
				}
			case 4:
				ip.SetID(uint16(arg))
				binary.BigEndian.PutUint16(m[4:], uint16(arg))
			case 5:
				ip.SetTotalLen(uint16(arg))
				binary.BigEndian.PutUint16(m[2:], uint16(arg))
				totalChanged = true
			case 6, 7:
				off := 2 * int(ops[0]%13-6)
				switch {
				case l4 != nil && off == 0:
					l4.SetSrcPort(uint16(arg), !partial)
				case l4 != nil:
					l4.SetDstPort(uint16(arg), !partial)
				case off == 0:
					ICMPv4(seg).SetIdent(uint16(arg))
				default:
					ICMPv4(seg).SetSeq(uint16(arg))
				}
				if l4 == nil {
					off += 4
				}
				binary.BigEndian.PutUint16(mseg[off:], uint16(arg))
			case 8:
				ip.SetChecksum()
			case 9, 10, 11, 12:
				if kind != rwTCP {
					break
				}
				s := TCP(seg)
				switch ops[0] % 13 {
				case 9:
					s.SetSeq(arg, !partial)
					binary.BigEndian.PutUint32(mseg[4:], arg)
				case 10:
					s.SetAck(arg, !partial)
					binary.BigEndian.PutUint32(mseg[8:], arg)
				case 11:
					s.SetFlags(uint8(arg), !partial)
					mseg[13] = uint8(arg)
				default:
					s.SetWindow(uint16(arg), !partial)
					binary.BigEndian.PutUint16(mseg[14:], uint16(arg))
				}
			}
		}
		model := kind
		if kind == rwUDPNoChecksum {
			model = -1 // the L4 checksum stays 0
		}
		rwModel(m, hl, end, model, partial)
		if !bytes.Equal(b, m) {
			i := 0
			for b[i] == m[i] {
				i++
			}
			t.Fatalf("byte %d (header length %d) differs:\n% x\nwant\n% x", i, hl, b, m)
		}
		if kind == rwUDPNoChecksum && UDP(seg).Checksum() != 0 {
			t.Fatal("no checksum became one")
		}
		if partial {
			// Finish it as a NIC would: the complement of the sum from the
			// L4 header on, with the pseudo-header sum in the field.
			full := l4.ComputeChecksum(ip.PseudoHeaderChecksum(ip.Protocol(), uint16(len(seg))))
			fin := ^Checksum(seg, 0)
			if kind == rwUDP && fin == 0 {
				fin = 0xffff
			}
			if fin != full {
				t.Fatalf("partial sum finishes to %#04x, complete checksum %#04x", fin, full)
			}
			return
		}
		if totalChanged {
			return // gopacket would cut the packet at the new length
		}
		p := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.Default)
		for _, l := range p.Layers() {
			if n, ok := l.(interface {
				SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
			}); ok {
				if err := n.SetNetworkLayerForChecksum(p.NetworkLayer()); err != nil {
					t.Fatal(err)
				}
			}
			v, ok := l.(interface {
				VerifyChecksum() (error, gopacket.ChecksumVerificationResult)
			})
			if !ok || (kind == rwUDPNoChecksum && l.LayerType() == layers.LayerTypeUDP) {
				continue
			}
			if err, res := v.VerifyChecksum(); err != nil || !res.Valid {
				t.Fatalf("%v: gopacket: %v %+v", l.LayerType(), err, res)
			}
		}
	})
}
