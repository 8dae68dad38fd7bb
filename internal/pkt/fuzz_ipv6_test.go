package pkt

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	v6src = netip.MustParseAddr("fd00:122::10")
	v6dst = netip.MustParseAddr("fe80::5054:ff:fe00:1")
)

// ip6Packet builds an IPv6 packet: the header, then rest (extension
// headers and upper layer, whose first protocol is next) with the ICMPv6
// checksum set when the upper layer at off is ICMPv6.
func ip6Packet(next uint8, rest []byte) []byte {
	b := make([]byte, IPv6Len+len(rest))
	IPv6(b).Encode(&IPv6Fields{PayloadLen: uint16(len(rest)), NextHeader: next, HopLimit: 255, Src: v6src, Dst: v6dst, FlowLabel: 0xabcde, TrafficClass: 0x12})
	copy(b[IPv6Len:], rest)
	ip := IPv6(b)
	if p, off, ok := ip.UpperLayer(); ok && p == ProtoICMPv6 && len(b)-off >= ICMPv6Len {
		c := ICMPv6(b[off:])
		c.SetChecksum(ip.PseudoHeaderChecksum(ProtoICMPv6, uint16(len(c))))
	}
	return b
}

func icmp6Echo() []byte {
	c := make([]byte, 16)
	ICMPv6(c).EncodeHeader(ICMPv6EchoRequest, 0, 0x12340001)
	copy(c[8:], "pingdata")
	return c
}

func ndpNS() []byte {
	c := make([]byte, NDPNeighSolicitLen+NDPLLAOptLen)
	NDPNeighSolicit(c).Encode(v6src)
	w := NDPOptionWriter{B: c, N: NDPNeighSolicitLen}
	w.AddLinkLayerAddr(NDPOptSourceLLA, MAC{0x52, 0x54, 0, 0, 0, 1})
	return c
}

func ndpRA() []byte {
	c := make([]byte, NDPRouterAdvertLen+NDPLLAOptLen+NDPPrefixOptLen+NDPMTUOptLen+24)
	NDPRouterAdvert(c).Encode(&NDPRouterAdvertFields{CurHopLimit: 64, Flags: NDPRAOther, RouterLifetime: 1800})
	w := NDPOptionWriter{B: c, N: NDPRouterAdvertLen}
	w.AddLinkLayerAddr(NDPOptSourceLLA, MAC{0x52, 0x54, 0, 0, 0, 1})
	w.AddPrefixInfo(netip.MustParsePrefix("fd00:122::/64"), NDPPrefixOnLink|NDPPrefixAuto, 86400, 14400)
	w.AddMTU(1500)
	w.AddRDNSS(600, netip.MustParseAddr("fd00:122::1"))
	return c
}

// extHdr is an extension header of 8*(n+1) bytes naming next.
func extHdr(next uint8, n int) []byte {
	h := make([]byte, 8*(n+1))
	h[0], h[1] = next, uint8(n)
	if n == 0 {
		h[2], h[3] = 1, 2 // a PadN option for hop-by-hop and destination options
	}
	return h
}

func fragHdr(next uint8, offset uint16, more bool) []byte {
	h := make([]byte, 8)
	h[0] = next
	v := offset << 3
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(h[2:], v)
	binary.BigEndian.PutUint32(h[4:], 0xcafe)
	return h
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func seedIPv6(f *testing.F) {
	f.Add(ip6Packet(ProtoICMPv6, icmp6Echo()))
	f.Add(ip6Packet(ProtoICMPv6, ndpNS()))
	f.Add(ip6Packet(ProtoICMPv6, ndpRA()))
	f.Add(ip6Packet(ProtoHopByHop, cat(extHdr(ProtoICMPv6, 0), icmp6Echo())))
	f.Add(ip6Packet(ProtoHopByHop, cat(extHdr(ProtoDestOpts, 0), extHdr(ProtoRouting, 1), extHdr(ProtoFragment, 0), fragHdr(ProtoICMPv6, 0, false), icmp6Echo())))
	f.Add(ip6Packet(ProtoFragment, cat(fragHdr(ProtoUDP, 0, true), make([]byte, 16))))
	f.Add(ip6Packet(ProtoFragment, cat(fragHdr(ProtoUDP, 5, false), make([]byte, 16))))
	f.Add(ip6Packet(ProtoDestOpts, cat(extHdr(ProtoHopByHop, 0), icmp6Echo()))) // hop-by-hop not first
	f.Add(ip6Packet(ProtoRouting, extHdr(ProtoICMPv6, 3)[:20]))                 // runs past the payload
	f.Add(ip6Packet(ProtoNoNext, nil))
	long := []byte{}
	for range IPv6MaxExtHeaders + 1 {
		long = append(long, extHdr(ProtoDestOpts, 0)...)
	}
	f.Add(ip6Packet(ProtoDestOpts, long))
	f.Add(append(ip6Packet(ProtoICMPv6, icmp6Echo()), 0, 0, 0, 0)) // Ethernet padding
	f.Add(ip6Packet(ProtoICMPv6, icmp6Echo())[:39])
}

// refWalk is the extension-header walk done with gopacket's layers: the
// protocols stepped over, where the upper layer starts, and whether the
// chain was malformed by our rules (gopacket itself has no bound and does
// not insist on hop-by-hop first).
func refWalk(b []byte, payloadEnd int) (steps []uint8, upper uint8, off int, bad bool) {
	next, off := layers.IPProtocol(b[6]), IPv6Len
	data := b[:payloadEnd]
	for IsIPv6ExtHeader(uint8(next)) {
		if len(steps) == IPv6MaxExtHeaders || (next == layers.IPProtocolIPv6HopByHop && len(steps) > 0) {
			return steps, 0, 0, true
		}
		if next == layers.IPProtocolIPv6Fragment {
			var fr layers.IPv6Fragment
			if fr.DecodeFromBytes(data[off:], gopacket.NilDecodeFeedback) != nil {
				return steps, 0, 0, true
			}
			steps = append(steps, uint8(next))
			off += 8
			if fr.NextLayerType() == gopacket.LayerTypeFragment {
				return steps, ProtoFragment, off, false
			}
			next = fr.NextHeader
			continue
		}
		var sk layers.IPv6ExtensionSkipper
		if sk.DecodeFromBytes(data[off:], gopacket.NilDecodeFeedback) != nil {
			return steps, 0, 0, true
		}
		steps = append(steps, uint8(next))
		off += len(sk.Contents)
		next = sk.NextHeader
	}
	return steps, uint8(next), off, false
}

// FuzzIPv6 compares the header fields with gopacket's IPv6 decoder, the
// extension-header walk with a walk by gopacket's extension layers, and
// checks that the setters read back and keep an ICMPv6 checksum valid.
func FuzzIPv6(f *testing.F) {
	seedIPv6(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		ip := IPv6(b)
		valid := ip.Valid()
		if want := len(b) >= IPv6Len && b[0]>>4 == 6 && IPv6Len+int(binary.BigEndian.Uint16(b[4:])) <= len(b); valid != want {
			t.Fatalf("Valid %v, want %v", valid, want)
		}
		if !valid {
			return
		}
		var ref layers.IPv6
		// gopacket fills the fixed fields before it looks at anything
		// that can fail.
		_ = ref.DecodeFromBytes(b, gopacket.NilDecodeFeedback)
		{
			if ip.Version() != ref.Version || ip.TrafficClass() != ref.TrafficClass || ip.FlowLabel() != ref.FlowLabel || ip.PayloadLen() != int(ref.Length) ||
				ip.NextHeader() != uint8(ref.NextHeader) || ip.HopLimit() != ref.HopLimit ||
				ip.Src() != addr6(ref.SrcIP) || ip.Dst() != addr6(ref.DstIP) {
				t.Fatalf("header %d %#x %d %d %d %v %v, gopacket %+v", ip.TrafficClass(), ip.FlowLabel(), ip.PayloadLen(),
					ip.NextHeader(), ip.HopLimit(), ip.Src(), ip.Dst(), ref)
			}
		}
		if !bytes.Equal(ip.Rest(), b[IPv6Len:IPv6Len+ip.PayloadLen()]) {
			t.Fatal("Rest is not the payload")
		}

		steps, wantUpper, wantOff, wantBad := refWalk(b, ip.Len())
		it := ip.ExtHeaders()
		var got []uint8
		at := IPv6Len
		for it.Next() {
			got = append(got, it.Proto())
			if len(it.Data()) < 8 || !bytes.Equal(it.Data(), b[at:at+len(it.Data())]) {
				t.Fatalf("step %d data % x", len(got), it.Data())
			}
			at += len(it.Data())
		}
		if !bytes.Equal(got, steps) || it.Malformed() != wantBad {
			t.Fatalf("walk %v malformed %v, reference %v %v", got, it.Malformed(), steps, wantBad)
		}
		proto, off, ok := ip.UpperLayer()
		if ok != !wantBad {
			t.Fatalf("UpperLayer ok %v, reference bad %v", ok, wantBad)
		}
		if !ok {
			if ip.PayloadProtocol() != ProtoNoNext || len(ip.Payload()) != 0 {
				t.Fatal("malformed chain has a payload")
			}
		} else {
			if proto != wantUpper || off != wantOff || off > ip.Len() {
				t.Fatalf("upper %d at %d, reference %d at %d", proto, off, wantUpper, wantOff)
			}
			if ip.PayloadProtocol() != proto || !bytes.Equal(ip.Payload(), b[off:ip.Len()]) {
				t.Fatal("PayloadProtocol/Payload disagree with UpperLayer")
			}
			if ip.IsFragment() != (proto == ProtoFragment) {
				t.Fatal("IsFragment")
			}
			if proto == ProtoICMPv6 {
				checkICMPv6(t, ip, ICMPv6(ip.Payload()))
			}
		}
		checkIPv6Setters(t, b)
	})
}

func addr6(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a
}

// checkIPv6Setters writes each field and reads it back, and checks that
// an ICMPv6 checksum that verified still verifies after address changes
// (with the update the type documents) and echo rewrites.
func checkIPv6Setters(t *testing.T, in []byte) {
	b := append([]byte(nil), in...)
	ip := IPv6(b)
	proto, off, ok := ip.UpperLayer()
	var c ICMPv6
	csumOK := false
	if ok && proto == ProtoICMPv6 && ip.Len()-off >= ICMPv6Len {
		c = ICMPv6(b[off:ip.Len()])
		csumOK = c.ChecksumOK(ip.PseudoHeaderChecksum(ProtoICMPv6, uint16(len(c))))
	}
	oldSrc, oldDst := ip.Src(), ip.Dst()
	newSrc := netip.AddrFrom16([16]byte(in[24:40]))
	newDst := netip.AddrFrom16([16]byte(in[8:24]))
	tc, fl, hl, nh := ip.TrafficClass(), ip.FlowLabel(), ip.HopLimit(), ip.NextHeader()
	ip.SetSrc(newSrc)
	ip.SetDst(newDst)
	if c != nil {
		c.UpdateChecksumPseudoHeaderAddress(oldSrc, newSrc)
		c.UpdateChecksumPseudoHeaderAddress(oldDst, newDst)
		c.SetIdent(^c.Ident())
		c.SetSeq(c.Seq() + 1)
		c.SetType(c.Type()^1, c.Code())
	}
	ip.SetTrafficClass(^tc)
	ip.SetFlowLabel(fl + 1)
	ip.SetHopLimit(hl ^ 0x55)
	if ip.Src() != newSrc || ip.Dst() != newDst || ip.TrafficClass() != ^tc || ip.FlowLabel() != (fl+1)&0xfffff ||
		ip.HopLimit() != hl^0x55 || ip.NextHeader() != nh || b[0]>>4 != 6 || ip.PayloadLen() != IPv6(in).PayloadLen() {
		t.Fatalf("setters read back wrong: % x", b[:IPv6Len])
	}
	if c != nil {
		ph := ip.PseudoHeaderChecksum(ProtoICMPv6, uint16(len(c)))
		if c.ChecksumOK(ph) != csumOK {
			t.Fatalf("checksum verified %v before the rewrite, %v after", csumOK, !csumOK)
		}
		if csumOK && c.Checksum() != c.ComputeChecksum(ph) {
			t.Fatalf("incremental checksum %#04x, full %#04x", c.Checksum(), c.ComputeChecksum(ph))
		}
	}
	h := ip.HopLimit()
	if dec := ip.DecHopLimit(); dec != (h > 1) || (dec && ip.HopLimit() != h-1) || (!dec && ip.HopLimit() != h) {
		t.Fatalf("DecHopLimit from %d: %v, now %d", h, dec, ip.HopLimit())
	}
}

// checkICMPv6 compares the ICMPv6 view with gopacket's and its checksum
// with the one gopacket computes, then the NDP views with gopacket's NDP
// layers.
func checkICMPv6(t *testing.T, ip IPv6, c ICMPv6) {
	var ref layers.ICMPv6
	err := ref.DecodeFromBytes(c, gopacket.NilDecodeFeedback)
	if !c.Valid() {
		return
	}
	if err != nil || c.Type() != ref.TypeCode.Type() || c.Code() != ref.TypeCode.Code() || c.Checksum() != ref.Checksum {
		t.Fatalf("ICMPv6 %d %d %#x, gopacket %v %v", c.Type(), c.Code(), c.Checksum(), ref, err)
	}
	ph := ip.PseudoHeaderChecksum(ProtoICMPv6, uint16(len(c)))
	var rip layers.IPv6
	rip.SrcIP, rip.DstIP = ip.Src().AsSlice(), ip.Dst().AsSlice()
	r := layers.ICMPv6{TypeCode: ref.TypeCode}
	if err := r.SetNetworkLayerForChecksum(&rip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, &r, gopacket.Payload(c[4:])); err != nil {
		t.Fatal(err)
	}
	want := binary.BigEndian.Uint16(buf.Bytes()[2:])
	if c.ComputeChecksum(ph) != want || c.ChecksumOK(ph) != (c.Checksum() == want) {
		t.Fatalf("checksum %#04x (ok %v), gopacket %#04x, stored %#04x", c.ComputeChecksum(ph), c.ChecksumOK(ph), want, c.Checksum())
	}
	checkNDP(t, c)
}

// ndpOpt is one option as both decoders see it.
type ndpOpt struct {
	typ  uint8
	data []byte
}

func ourNDPOptions(it NDPOptions) ([]ndpOpt, bool) {
	var got []ndpOpt
	for it.Next() {
		got = append(got, ndpOpt{it.Type(), it.Data()})
		checkNDPOption(it.Type(), it.Data())
	}
	return got, it.Malformed()
}

// checkNDPOption runs the option readers, which must not panic on any
// body and must read the bytes where RFC 4861 puts them.
func checkNDPOption(typ uint8, d []byte) {
	switch typ {
	case NDPOptSourceLLA, NDPOptTargetLLA:
		if m, ok := NDPLinkLayerAddr(d); ok && !bytes.Equal(m[:], d[:6]) {
			panic("link-layer address")
		}
	case NDPOptPrefixInfo:
		if p := NDPPrefixInfo(d); p.Valid() {
			_ = p.Prefix()
			if p.ValidLifetime() != binary.BigEndian.Uint32(d[2:]) || p.PrefixAddr().As16() != [16]byte(d[14:30]) {
				panic("prefix information")
			}
		}
	case NDPOptMTU:
		NDPMTU(d)
	case NDPOptRDNSS:
		if r := NDPRDNSS(d); r.Valid() {
			for i := range r.Count() {
				_ = r.Addr(i)
			}
		}
	}
}

func refNDPOptions(o layers.ICMPv6Options) []ndpOpt {
	var want []ndpOpt
	for _, x := range o {
		want = append(want, ndpOpt{uint8(x.Type), x.Data})
	}
	return want
}

func sameNDPOptions(t *testing.T, got []ndpOpt, bad bool, want []ndpOpt, err error) {
	t.Helper()
	if bad != (err != nil) {
		t.Fatalf("malformed %v, gopacket %v", bad, err)
	}
	if bad {
		return
	}
	if len(got) != len(want) {
		t.Fatalf("%d options, gopacket %d", len(got), len(want))
	}
	for i := range got {
		if got[i].typ != want[i].typ || !bytes.Equal(got[i].data, want[i].data) {
			t.Fatalf("option %d: %d % x, gopacket %d % x", i, got[i].typ, got[i].data, want[i].typ, want[i].data)
		}
	}
}

// checkNDP compares the NDP view of c with gopacket's: its fixed fields,
// then its options. gopacket's layers decode from after the 4-byte
// ICMPv6 header.
func checkNDP(t *testing.T, c ICMPv6) {
	var (
		opts NDPOptions
		ref  layers.ICMPv6Options
		err  error
		body = c[4:]
		nf   = gopacket.NilDecodeFeedback
	)
	switch c.Type() {
	case ICMPv6RouterSolicit:
		var r layers.ICMPv6RouterSolicitation
		err, ref, opts = r.DecodeFromBytes(body, nf), r.Options, NDPRouterSolicit(c).Options()
	case ICMPv6RouterAdvert:
		m := NDPRouterAdvert(c)
		var r layers.ICMPv6RouterAdvertisement
		if err, ref = r.DecodeFromBytes(body, nf), r.Options; !m.Valid() {
			return
		}
		if m.CurHopLimit() != r.HopLimit || m.Flags() != r.Flags || m.RouterLifetime() != r.RouterLifetime ||
			m.ReachableTime() != r.ReachableTime || m.RetransTimer() != r.RetransTimer {
			t.Fatalf("RA fields, gopacket %+v", r)
		}
		opts = m.Options()
	case ICMPv6NeighSolicit:
		m := NDPNeighSolicit(c)
		var r layers.ICMPv6NeighborSolicitation
		if err, ref = r.DecodeFromBytes(body, nf), r.Options; !m.Valid() {
			return
		}
		if m.Target() != addr6(r.TargetAddress) {
			t.Fatalf("NS target %v, gopacket %v", m.Target(), r.TargetAddress)
		}
		opts = m.Options()
	case ICMPv6NeighAdvert:
		m := NDPNeighAdvert(c)
		var r layers.ICMPv6NeighborAdvertisement
		if err, ref = r.DecodeFromBytes(body, nf), r.Options; !m.Valid() {
			return
		}
		if m.Target() != addr6(r.TargetAddress) || m.Flags() != r.Flags {
			t.Fatalf("NA target %v flags %#x, gopacket %v %#x", m.Target(), m.Flags(), r.TargetAddress, r.Flags)
		}
		opts = m.Options()
	case ICMPv6Redirect:
		m := NDPRedirect(c)
		var r layers.ICMPv6Redirect
		if err, ref = r.DecodeFromBytes(body, nf), r.Options; !m.Valid() {
			return
		}
		if m.Target() != addr6(r.TargetAddress) || m.Dst() != addr6(r.DestinationAddress) {
			t.Fatalf("redirect %v %v, gopacket %+v", m.Target(), m.Dst(), r)
		}
		opts = m.Options()
	default:
		return
	}
	got, bad := ourNDPOptions(opts)
	sameNDPOptions(t, got, bad, refNDPOptions(ref), err)
	if again, bad2 := ourNDPOptions(c.NDPOptions()); bad2 != bad || len(again) != len(got) {
		t.Fatalf("ICMPv6.NDPOptions gives %d options (malformed %v), the type's view %d (%v)", len(again), bad2, len(got), bad)
	}
}

// FuzzNDPOptions feeds arbitrary option bytes to the iterator and the
// option readers, against gopacket's option decoder.
func FuzzNDPOptions(f *testing.F) {
	f.Add(ndpRA()[NDPRouterAdvertLen:])
	f.Add(ndpNS()[NDPNeighSolicitLen:])
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{25, 3, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r layers.ICMPv6Options
		err := r.DecodeFromBytes(b, gopacket.NilDecodeFeedback)
		got, bad := ourNDPOptions(NDPOptions{b: b})
		sameNDPOptions(t, got, bad, refNDPOptions(r), err)
	})
}
