package pkt

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func seedDHCP() []byte {
	b := make([]byte, 300)
	DHCP(b).Encode(&DHCPFields{Op: BOOTRequest, XID: 0xdeadbeef, CHAddr: []byte{0x52, 0x54, 0, 0, 0, 1}})
	w := DHCPOptionWriter{B: b, N: DHCPOptionsOff}
	w.Add(OptMessageType, DHCPDiscover)
	w.Add(OptParamRequest, 1, 3, 6, 15, 26)
	w.AddAddr(OptRequestedIP, netip.MustParseAddr("192.168.122.50"))
	w.Add(OptClientID, 1, 0x52, 0x54, 0, 0, 0, 1)
	w.End()
	return b[:w.N]
}

// dhcpOpt is one option as both decoders see it.
type dhcpOpt struct {
	code uint8
	data []byte
}

// ourOptions collects what the iterator yields, copying the data.
func ourOptions(d DHCP) ([]dhcpOpt, bool) {
	var got []dhcpOpt
	it := d.Options()
	for it.Next() {
		got = append(got, dhcpOpt{it.Code(), append([]byte(nil), it.Data()...)})
	}
	return got, it.Malformed()
}

// refOptions is gopacket's option list without the pad options, which our
// iterator skips rather than yields.
func refOptions(ref *layers.DHCPv4) []dhcpOpt {
	var want []dhcpOpt
	for _, o := range ref.Options {
		if o.Type != layers.DHCPOptPad {
			want = append(want, dhcpOpt{uint8(o.Type), o.Data})
		}
	}
	return want
}

func sameOptions(t *testing.T, got, want []dhcpOpt) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d options, want %d: %v vs %v", len(got), len(want), got, want)
	}
	for i := range got {
		if got[i].code != want[i].code || !bytes.Equal(got[i].data, want[i].data) {
			t.Fatalf("option %d: %d % x, want %d % x", i, got[i].code, got[i].data, want[i].code, want[i].data)
		}
	}
}

func addr4(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}

// FuzzDHCP compares every field of the view and every option of the
// iterator with gopacket's DHCPv4 decoder.
func FuzzDHCP(f *testing.F) {
	f.Add(seedDHCP())
	f.Add(seedDHCP()[:241])
	f.Add(seedDHCP()[:240])
	f.Add(seedDHCP()[:239])
	// Pads between options, data after the end option.
	padded := seedDHCP()
	padded = append(padded[:len(padded)-1], OptPad, OptPad, OptRouter, 4, 10, 0, 0, 1, OptEnd, OptDNS, 4, 1, 1, 1, 1)
	f.Add(padded)
	// A last option whose length runs past the end, and one with no length.
	f.Add(append(seedDHCP()[:len(seedDHCP())-1], OptDNS, 8, 1, 2, 3))
	f.Add(append(seedDHCP()[:len(seedDHCP())-1], OptDNS))
	// Option overload with options in sname and file, which we ignore.
	over := seedDHCP()
	over = append(over[:len(over)-1], OptOverload, 1, 3, OptEnd)
	copy(over[44:], []byte{OptHostname, 2, 'h', 'i', OptEnd})
	copy(over[108:], []byte{OptDomain, 1, 'x', OptEnd})
	f.Add(over)
	// A hardware length beyond the 16-byte chaddr field.
	long := seedDHCP()
	long[2] = 200
	f.Add(long)
	f.Fuzz(func(t *testing.T, b []byte) {
		d := DHCP(b)
		if want := len(b) >= 240 && binary.BigEndian.Uint32(b[236:]) == DHCPCookie; d.Valid() != want {
			t.Fatalf("Valid %v on %d bytes, want %v", d.Valid(), len(b), want)
		}
		if !d.Valid() {
			return
		}
		got, malformed := ourOptions(d)
		// gopacket follows option overload into sname and file (we do
		// not) and refuses a hardware length over 16 (we do not read it):
		// give it a copy with those fields zeroed, so they hold only pad
		// options, and with a 16-byte chaddr.
		c := append([]byte(nil), b...)
		clear(c[44:236])
		c[2] = 16
		var ref layers.DHCPv4
		err := ref.DecodeFromBytes(c, gopacket.NilDecodeFeedback)
		if (err != nil) != malformed {
			t.Fatalf("malformed %v, gopacket error %v", malformed, err)
		}
		if err != nil {
			return
		}
		if d.Op() != uint8(ref.Operation) || d.HType() != uint8(ref.HardwareType) || d.HLen() != b[2] ||
			d.XID() != ref.Xid || d.Flags() != ref.Flags {
			t.Fatalf("header: op %d htype %d hlen %d xid %#x flags %#x, gopacket %+v",
				d.Op(), d.HType(), d.HLen(), d.XID(), d.Flags(), ref)
		}
		if d.CIAddr() != addr4(ref.ClientIP) || d.YIAddr() != addr4(ref.YourClientIP) || d.GIAddr() != addr4(ref.RelayAgentIP) {
			t.Fatalf("addresses %v %v %v, gopacket %v %v %v", d.CIAddr(), d.YIAddr(), d.GIAddr(),
				ref.ClientIP, ref.YourClientIP, ref.RelayAgentIP)
		}
		if ch := d.CHAddr(); !bytes.Equal(ch[:], ref.ClientHWAddr[:6]) {
			t.Fatalf("chaddr %v, gopacket %v", ch, ref.ClientHWAddr)
		}
		sameOptions(t, got, refOptions(&ref))
		sameOptionSet(t, d.ParseOptions(), refOptions(&ref))
	})
}

// optionLenOK are the lengths at which DHCPOptionSet documents taking
// each option it reads; at any other length the option is ignored.
var optionLenOK = map[uint8]func(n int) bool{
	OptMessageType:  func(n int) bool { return n == 1 },
	OptRequestedIP:  func(n int) bool { return n == 4 },
	OptServerID:     func(n int) bool { return n == 4 },
	OptSubnetMask:   func(n int) bool { return n == 4 },
	OptLeaseTime:    func(n int) bool { return n == 4 },
	OptRouter:       func(n int) bool { return n >= 4 },
	OptMaxSize:      func(n int) bool { return n == 2 },
	OptClientID:     func(n int) bool { return n > 0 },
	OptHostname:     func(int) bool { return true },
	OptParamRequest: func(int) bool { return true },
	OptRelayAgent:   func(int) bool { return true },
}

// sameOptionSet checks ParseOptions against the reference decoder's option
// list read by the rules DHCPOptionSet documents: wrong lengths ignored,
// the last valid occurrence wins.
func sameOptionSet(t *testing.T, o DHCPOptionSet, opts []dhcpOpt) {
	t.Helper()
	last := map[uint8][]byte{} // each option's last valid occurrence
	for _, op := range opts {
		if ok := optionLenOK[op.code]; ok != nil && ok(len(op.data)) {
			last[op.code] = op.data
		}
	}
	addr := func(code uint8) netip.Addr {
		if v, ok := last[code]; ok {
			return netip.AddrFrom4([4]byte(v[:4]))
		}
		return netip.Addr{}
	}
	num := func(code uint8) uint64 { // big-endian; 0 if absent
		var n uint64
		for _, c := range last[code] {
			n = n<<8 | uint64(c)
		}
		return n
	}
	want := DHCPOptionSet{MaskBits: -1, RequestedIP: addr(OptRequestedIP), ServerID: addr(OptServerID), Router: addr(OptRouter),
		LeaseTime: uint32(num(OptLeaseTime)), MaxSize: int(num(OptMaxSize)), ClientID: last[OptClientID],
		Hostname: last[OptHostname], ParamRequest: last[OptParamRequest], RelayAgent: last[OptRelayAgent]}
	if v, ok := last[OptMessageType]; ok {
		want.Type = v[0]
	}
	if _, ok := last[OptSubnetMask]; ok {
		want.MaskBits = bits.LeadingZeros32(^uint32(num(OptSubnetMask)))
	}
	_, want.HasParams = last[OptParamRequest]
	if (o.RelayAgent == nil) != (want.RelayAgent == nil) || !bytes.Equal(o.RelayAgent, want.RelayAgent) {
		t.Fatalf("option 82 % x, want % x", o.RelayAgent, want.RelayAgent)
	}
	if o.Malformed || o.Type != want.Type || o.RequestedIP != want.RequestedIP || o.ServerID != want.ServerID ||
		o.Router != want.Router || o.MaskBits != want.MaskBits || o.LeaseTime != want.LeaseTime || o.MaxSize != want.MaxSize ||
		!bytes.Equal(o.ClientID, want.ClientID) || !bytes.Equal(o.Hostname, want.Hostname) ||
		!bytes.Equal(o.ParamRequest, want.ParamRequest) || o.HasParams != want.HasParams {
		t.Fatalf("ParseOptions %+v\nwant %+v", o, want)
	}
}

// FuzzDHCPEncode builds options with DHCPOptionWriter from a fuzzed
// recipe and reads them back with our iterator and with gopacket; then it
// has gopacket encode the same options and reads those with ours.
//
// The recipe is a list of (kind, code, n, n bytes) records; kind picks
// Add, AddAddr or AddUint32.
func FuzzDHCPEncode(f *testing.F) {
	f.Add(uint32(0xdeadbeef), []byte{0x52, 0x54, 0, 0, 0, 1}, uint16(60),
		[]byte{0, OptMessageType, 1, DHCPOffer, 1, OptRouter, 4, 10, 0, 0, 1, 2, OptLeaseTime, 4, 0, 0, 0x0e, 0x10})
	f.Add(uint32(1), []byte{1, 2, 3, 4, 5, 6}, uint16(9), []byte{0, OptHostname, 7, 'a', 'b', 'c', 'd', 'e', 'f', 'g'})
	f.Add(uint32(2), []byte{}, uint16(0), []byte{0, OptHostname, 0})
	f.Add(uint32(3), []byte{}, uint16(800), bytes.Repeat([]byte{1, OptDNS, 255}, 3))
	f.Fuzz(func(t *testing.T, xid uint32, chaddr []byte, room uint16, recipe []byte) {
		buf := make([]byte, DHCPOptionsOff+int(room%1024))
		DHCP(buf).Encode(&DHCPFields{Op: BOOTRequest, XID: xid, CHAddr: chaddr[:min(len(chaddr), 6)]})
		w := DHCPOptionWriter{B: buf, N: DHCPOptionsOff}
		var want []dhcpOpt
		for len(recipe) >= 3 {
			kind, code, n := recipe[0]%3, recipe[1], int(recipe[2])
			recipe = recipe[3:]
			n = min(n, len(recipe))
			data := recipe[:n]
			recipe = recipe[n:]
			if code == OptPad || code == OptEnd {
				continue // not options with a length; callers never Add them
			}
			var wrote []byte
			before := w.N
			switch kind {
			case 0:
				w.Add(code, data...)
				wrote = data
			case 1:
				var addrs []netip.Addr
				for i := 0; i+4 <= len(data); i += 4 {
					addrs = append(addrs, netip.AddrFrom4([4]byte(data[i:i+4])))
				}
				w.AddAddr(code, addrs...)
				wrote = data[:min(len(addrs), 16)*4] // at most 16 addresses
			case 2:
				var v uint32
				if len(data) >= 4 {
					v = binary.BigEndian.Uint32(data)
				}
				w.AddUint32(code, v)
				wrote = binary.BigEndian.AppendUint32(nil, v)
			}
			fits := before+2+len(wrote)+1 <= len(buf) // room for the end option too
			switch {
			case fits && w.N != before+2+len(wrote):
				t.Fatalf("option %d of %d bytes at %d in %d: N %d", code, len(wrote), before, len(buf), w.N)
			case !fits && w.N != before:
				t.Fatalf("option %d of %d bytes did not fit at %d in %d but N moved to %d", code, len(wrote), before, len(buf), w.N)
			case fits:
				want = append(want, dhcpOpt{code, append([]byte(nil), wrote...)})
			}
		}
		end := w.N
		w.End()
		if end == len(buf) {
			if w.N != end {
				t.Fatalf("End wrote past the buffer: N %d of %d", w.N, len(buf))
			}
		} else if w.N != end+1 || buf[end] != OptEnd {
			t.Fatalf("End: N %d (was %d), byte %d", w.N, end, buf[end])
		}
		msg := DHCP(buf[:w.N])
		got, malformed := ourOptions(msg)
		if malformed {
			t.Fatal("our own encoding reads back malformed")
		}
		sameOptions(t, got, want)

		var ref layers.DHCPv4
		if err := ref.DecodeFromBytes(msg, gopacket.NilDecodeFeedback); err != nil {
			t.Fatalf("gopacket rejects our encoding: %v", err)
		}
		if ref.Xid != xid || !bytes.Equal(ref.ClientHWAddr, buf[28:34]) {
			t.Fatalf("gopacket header xid %#x chaddr %v", ref.Xid, ref.ClientHWAddr)
		}
		sameOptions(t, refOptions(&ref), want)

		// The other way: gopacket encodes, we decode.
		ref.Options = ref.Options[:0]
		for _, o := range want {
			ref.Options = append(ref.Options, layers.NewDHCPOption(layers.DHCPOpt(o.code), o.data))
		}
		sb := gopacket.NewSerializeBuffer()
		if err := ref.SerializeTo(sb, gopacket.SerializeOptions{}); err != nil {
			t.Fatal(err)
		}
		back := DHCP(sb.Bytes())
		if !back.Valid() || back.XID() != xid {
			t.Fatalf("gopacket's encoding: valid %v xid %#x", back.Valid(), back.XID())
		}
		got, malformed = ourOptions(back)
		if malformed {
			t.Fatal("gopacket's encoding reads back malformed")
		}
		sameOptions(t, got, want)
	})
}

func FuzzARP(f *testing.F) {
	a := make([]byte, ARPLen)
	ARP(a).Encode(&ARPFields{Op: ARPRequest, SenderMAC: MAC{0x52, 0x54, 0, 0, 0, 1},
		SenderIP: netip.MustParseAddr("10.0.0.1"), TargetIP: netip.MustParseAddr("10.0.0.2")})
	f.Add(a)
	f.Add(a[:ARPLen-1])
	f.Add(append(a, 0, 0))
	for _, i := range []int{1, 3, 4, 5} { // each geometry byte wrong
		bad := append([]byte(nil), a...)
		bad[i]++
		f.Add(bad)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v := ARP(b)
		var ref layers.ARP
		err := ref.DecodeFromBytes(b, gopacket.NilDecodeFeedback)
		want := err == nil && ref.AddrType == layers.LinkTypeEthernet && ref.Protocol == layers.EthernetTypeIPv4 &&
			ref.HwAddressSize == 6 && ref.ProtAddressSize == 4
		if v.Valid() != want {
			t.Fatalf("Valid %v, gopacket %v (err %v) on % x", v.Valid(), want, err, b)
		}
		if !want {
			return
		}
		sm, tm := v.SenderMAC(), v.TargetMAC()
		if v.Op() != ref.Operation || !bytes.Equal(sm[:], ref.SourceHwAddress) || !bytes.Equal(tm[:], ref.DstHwAddress) ||
			v.SenderIP() != addr4(ref.SourceProtAddress) || v.TargetIP() != addr4(ref.DstProtAddress) {
			t.Fatalf("op %d %v %v -> %v %v, gopacket %+v", v.Op(), sm, v.SenderIP(), tm, v.TargetIP(), ref)
		}
		out := make([]byte, ARPLen)
		ARP(out).Encode(&ARPFields{Op: v.Op(), SenderMAC: sm, TargetMAC: tm, SenderIP: v.SenderIP(), TargetIP: v.TargetIP()})
		if !bytes.Equal(out, b[:ARPLen]) {
			t.Fatalf("re-encode % x, want % x", out, b[:ARPLen])
		}
	})
}

// FuzzIPv4UDP compares the IPv4 and UDP views with gopacket field by
// field, then encodes a header and datagram from the input and checks both
// checksums against a naive recomputation.
func FuzzIPv4UDP(f *testing.F) {
	b := make([]byte, 48)
	EncodeUDP(b[20:], netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 68, 67, 20)
	IPv4(b).Encode(&IPv4Fields{TotalLen: 48, TTL: 64, Protocol: ProtoUDP, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")})
	f.Add(b)
	f.Add(b[:19])
	f.Add(append(b, 1, 2, 3)) // trailing bytes past the total length
	opts := make([]byte, 24)
	copy(opts, b[:20])
	opts[0] = 0x46
	binary.BigEndian.PutUint16(opts[2:], 24)
	opts[20], opts[21], opts[22], opts[23] = 1, 1, 1, 0 // NOP NOP NOP EOL
	f.Add(opts)
	frag := append([]byte(nil), b...)
	binary.BigEndian.PutUint16(frag[6:], IPv4FlagMF|3)
	f.Add(frag)
	f.Fuzz(func(t *testing.T, b []byte) {
		checkIPv4(t, b)
		encodeIPv4UDP(t, b)
	})
}

func checkIPv4(t *testing.T, b []byte) {
	ip := IPv4(b)
	var ref layers.IPv4
	err := ref.DecodeFromBytes(b, gopacket.NilDecodeFeedback)
	valid := ip.Valid()
	switch {
	case valid && err != nil:
		// Only the options, which we do not parse, can upset gopacket.
		if ip.HeaderLen() == IPv4MinLen {
			t.Fatalf("valid without options, gopacket: %v", err)
		}
		return
	case !valid && err == nil && b[0]>>4 == 4 && binary.BigEndian.Uint16(b[2:]) != 0 && int(ref.Length) <= len(b):
		// gopacket reads a zero total length as "the rest" and does not
		// look at the version; otherwise it accepts what we accept.
		t.Fatalf("invalid, gopacket accepts: % x", b)
	}
	if !valid || err != nil {
		return
	}
	if ip.HeaderLen() != int(ref.IHL)*4 || ip.TotalLen() != int(ref.Length) || ip.ID() != ref.Id ||
		ip.FlagsFrag() != uint16(ref.Flags)<<13|ref.FragOffset || ip.TTL() != ref.TTL ||
		ip.Protocol() != uint8(ref.Protocol) || ip.Src() != addr4(ref.SrcIP) || ip.Dst() != addr4(ref.DstIP) {
		t.Fatalf("header %d %d %#x %#x %d %d %v %v, gopacket %+v", ip.HeaderLen(), ip.TotalLen(), ip.ID(),
			ip.FlagsFrag(), ip.TTL(), ip.Protocol(), ip.Src(), ip.Dst(), ref)
	}
	if !bytes.Equal(ip.Payload(), ref.Payload) || len(ip.Payload()) != ip.TotalLen()-ip.HeaderLen() {
		t.Fatalf("payload %d bytes, gopacket %d", len(ip.Payload()), len(ref.Payload))
	}
	frag := ref.Flags&layers.IPv4MoreFragments != 0 || ref.FragOffset != 0
	if ip.IsFragment() != frag {
		t.Fatalf("IsFragment %v, flags %v offset %d", ip.IsFragment(), ref.Flags, ref.FragOffset)
	}
	if ok := checksumRef(b[:ip.HeaderLen()]) == 0xffff; ip.HeaderChecksumOK() != ok {
		t.Fatalf("HeaderChecksumOK %v, naive %v", ip.HeaderChecksumOK(), ok)
	}
	if ip.Protocol() != ProtoUDP {
		return
	}
	u := UDP(ip.Payload())
	var ru layers.UDP
	uerr := ru.DecodeFromBytes(u, gopacket.NilDecodeFeedback)
	uok := uerr == nil && ru.Length >= UDPLen && int(ru.Length) <= len(u)
	if u.Valid() != uok {
		t.Fatalf("UDP Valid %v, gopacket %v (%v)", u.Valid(), uok, uerr)
	}
	if !uok {
		return
	}
	if u.SrcPort() != uint16(ru.SrcPort) || u.DstPort() != uint16(ru.DstPort) || u.Length() != int(ru.Length) ||
		!bytes.Equal(u.Payload(), ru.Payload) || len(u.Payload()) != u.Length()-UDPLen {
		t.Fatalf("UDP %d %d %d, gopacket %+v", u.SrcPort(), u.DstPort(), u.Length(), ru)
	}
}

// encodeIPv4UDP takes header fields from the first 20 bytes of in and the
// rest as a UDP payload, encodes both and checks the result.
func encodeIPv4UDP(t *testing.T, in []byte) {
	if len(in) < 20 {
		return
	}
	f := IPv4Fields{
		ID:       binary.BigEndian.Uint16(in[0:]),
		Flags:    binary.BigEndian.Uint16(in[2:]),
		TTL:      in[4],
		Protocol: ProtoUDP,
		Src:      netip.AddrFrom4([4]byte(in[8:12])),
		Dst:      netip.AddrFrom4([4]byte(in[12:16])),
	}
	sport, dport := binary.BigEndian.Uint16(in[16:]), binary.BigEndian.Uint16(in[18:])
	payload := in[20:]
	if len(payload) > 0xffff-IPv4MinLen-UDPLen {
		payload = payload[:0xffff-IPv4MinLen-UDPLen]
	}
	n := len(payload)
	f.TotalLen = uint16(IPv4MinLen + UDPLen + n)
	b := make([]byte, int(f.TotalLen))
	copy(b[IPv4MinLen+UDPLen:], payload)
	EncodeUDP(b[IPv4MinLen:], f.Src, f.Dst, sport, dport, n)
	IPv4(b).Encode(&f)

	ip := IPv4(b)
	if !ip.Valid() || ip.HeaderLen() != IPv4MinLen || ip.TotalLen() != len(b) || ip.ID() != f.ID || ip.FlagsFrag() != f.Flags ||
		ip.TTL() != f.TTL || ip.Protocol() != ProtoUDP || ip.Src() != f.Src || ip.Dst() != f.Dst || b[1] != 0 {
		t.Fatalf("encoded header reads back wrong: % x", b[:IPv4MinLen])
	}
	if checksumRef(b[:IPv4MinLen]) != 0xffff || !ip.HeaderChecksumOK() {
		t.Fatalf("header checksum does not verify: % x", b[:IPv4MinLen])
	}
	u := UDP(ip.Payload())
	if !u.Valid() || u.SrcPort() != sport || u.DstPort() != dport || u.Length() != UDPLen+n || !bytes.Equal(u.Payload(), payload) {
		t.Fatalf("encoded UDP reads back wrong: % x", b[IPv4MinLen:IPv4MinLen+UDPLen])
	}
	// The naive check: pseudo-header plus datagram sums to 0xffff, and a
	// computed zero is sent as 0xffff (RFC 768).
	s, d := f.Src.As4(), f.Dst.As4()
	ph := make([]byte, 0, 12+len(u))
	ph = append(ph, s[:]...)
	ph = append(ph, d[:]...)
	ph = append(ph, 0, ProtoUDP)
	ph = binary.BigEndian.AppendUint16(ph, uint16(len(u)))
	ph = append(ph, u...)
	if checksumRef(ph) != 0xffff {
		t.Fatalf("UDP checksum %#04x does not verify", binary.BigEndian.Uint16(u[6:]))
	}
	if binary.BigEndian.Uint16(u[6:]) == 0 {
		t.Fatal("UDP checksum sent as 0, which means none")
	}
}

func TestIPv4EncodeChecksum(t *testing.T) {
	b := make([]byte, 20)
	IPv4(b).Encode(&IPv4Fields{TotalLen: 20, TTL: 64, Protocol: ProtoICMP, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")})
	want := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, ProtoICMP, 0x66, 0xe7, 10, 0, 0, 1, 10, 0, 0, 2}
	if !bytes.Equal(b, want) {
		t.Fatalf("% x\nwant % x", b, want)
	}
	var ref layers.IPv4
	if err := ref.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil || ref.Checksum != 0x66e7 {
		t.Fatal(err)
	}
}
