package pkt

import (
	"encoding/binary"
	"net/netip"
)

// NDP message geometry (RFC 4861 4): the offset of the options in each
// message, counted from the ICMPv6 type byte, is also its minimum length.
const (
	NDPRouterSolicitLen = 8
	NDPRouterAdvertLen  = 16
	NDPNeighSolicitLen  = 24
	NDPNeighAdvertLen   = 24
	NDPRedirectLen      = 40
)

// NDP option types (RFC 4861 4.6, RFC 8106 5.1) and flags.
const (
	NDPOptSourceLLA  = 1
	NDPOptTargetLLA  = 2
	NDPOptPrefixInfo = 3
	NDPOptRedirected = 4
	NDPOptMTU        = 5
	NDPOptRDNSS      = 25

	NDPRAManaged    = 0x80 // RA M: addresses from DHCPv6
	NDPRAOther      = 0x40 // RA O: other configuration from DHCPv6
	NDPNARouter     = 0x80 // NA R
	NDPNASolicited  = 0x40 // NA S
	NDPNAOverride   = 0x20 // NA O
	NDPPrefixOnLink = 0x80 // prefix information L
	NDPPrefixAuto   = 0x40 // prefix information A: SLAAC

	NDPLLAOptLen    = 8
	NDPPrefixOptLen = 32
	NDPMTUOptLen    = 8
)

// NDPOptionsOffset is where the options of an NDP message of type typ
// start, which is also its minimum length; 0 for a type that is not NDP.
func NDPOptionsOffset(typ uint8) int {
	switch typ {
	case ICMPv6RouterSolicit:
		return NDPRouterSolicitLen
	case ICMPv6RouterAdvert:
		return NDPRouterAdvertLen
	case ICMPv6NeighSolicit:
		return NDPNeighSolicitLen
	case ICMPv6NeighAdvert:
		return NDPNeighAdvertLen
	case ICMPv6Redirect:
		return NDPRedirectLen
	}
	return 0
}

// NDPOptions iterates over the options of c, an NDP message; none when
// c is not one or is shorter than its fixed part.
func (c ICMPv6) NDPOptions() NDPOptions {
	off := NDPOptionsOffset(c[0])
	if off == 0 || len(c) < off {
		return NDPOptions{}
	}
	return NDPOptions{b: c[off:]}
}

// NDPRouterSolicit is a view of a router solicitation (the whole ICMPv6
// message); check Valid first.
type NDPRouterSolicit []byte

func (m NDPRouterSolicit) Valid() bool         { return len(m) >= NDPRouterSolicitLen }
func (m NDPRouterSolicit) Options() NDPOptions { return NDPOptions{b: m[NDPRouterSolicitLen:]} }

// NDPRouterAdvert is a view of a router advertisement; check Valid first.
type NDPRouterAdvert []byte

func (m NDPRouterAdvert) Valid() bool        { return len(m) >= NDPRouterAdvertLen }
func (m NDPRouterAdvert) CurHopLimit() uint8 { return m[4] }
func (m NDPRouterAdvert) Flags() uint8       { return m[5] }
func (m NDPRouterAdvert) RouterLifetime() uint16 {
	return binary.BigEndian.Uint16(m[6:])
}
func (m NDPRouterAdvert) ReachableTime() uint32 { return binary.BigEndian.Uint32(m[8:]) }
func (m NDPRouterAdvert) RetransTimer() uint32  { return binary.BigEndian.Uint32(m[12:]) }
func (m NDPRouterAdvert) Options() NDPOptions   { return NDPOptions{b: m[NDPRouterAdvertLen:]} }

// NDPRouterAdvertFields describes a router advertisement for Encode.
type NDPRouterAdvertFields struct {
	CurHopLimit    uint8
	Flags          uint8 // NDPRAManaged, NDPRAOther
	RouterLifetime uint16
	ReachableTime  uint32
	RetransTimer   uint32
}

// Encode writes the fixed part with a zero checksum; options follow at
// m[NDPRouterAdvertLen:], then ICMPv6.SetChecksum.
func (m NDPRouterAdvert) Encode(f *NDPRouterAdvertFields) {
	ICMPv6(m).EncodeHeader(ICMPv6RouterAdvert, 0, 0)
	m[4], m[5] = f.CurHopLimit, f.Flags
	binary.BigEndian.PutUint16(m[6:], f.RouterLifetime)
	binary.BigEndian.PutUint32(m[8:], f.ReachableTime)
	binary.BigEndian.PutUint32(m[12:], f.RetransTimer)
}

// NDPNeighSolicit is a view of a neighbour solicitation; check Valid first.
type NDPNeighSolicit []byte

func (m NDPNeighSolicit) Valid() bool         { return len(m) >= NDPNeighSolicitLen }
func (m NDPNeighSolicit) Target() netip.Addr  { return netip.AddrFrom16([16]byte(m[8:24])) }
func (m NDPNeighSolicit) Options() NDPOptions { return NDPOptions{b: m[NDPNeighSolicitLen:]} }

// Encode writes a solicitation for target with a zero checksum; options
// follow at m[NDPNeighSolicitLen:], then ICMPv6.SetChecksum.
func (m NDPNeighSolicit) Encode(target netip.Addr) {
	ICMPv6(m).EncodeHeader(ICMPv6NeighSolicit, 0, 0)
	t := target.As16()
	copy(m[8:24], t[:])
}

// NDPNeighAdvert is a view of a neighbour advertisement; check Valid first.
type NDPNeighAdvert []byte

func (m NDPNeighAdvert) Valid() bool         { return len(m) >= NDPNeighAdvertLen }
func (m NDPNeighAdvert) Flags() uint8        { return m[4] }
func (m NDPNeighAdvert) Target() netip.Addr  { return netip.AddrFrom16([16]byte(m[8:24])) }
func (m NDPNeighAdvert) Options() NDPOptions { return NDPOptions{b: m[NDPNeighAdvertLen:]} }

// Encode writes an advertisement for target with flags (NDPNARouter ...)
// and a zero checksum; options follow at m[NDPNeighAdvertLen:].
func (m NDPNeighAdvert) Encode(flags uint8, target netip.Addr) {
	ICMPv6(m).EncodeHeader(ICMPv6NeighAdvert, 0, uint32(flags)<<24)
	t := target.As16()
	copy(m[8:24], t[:])
}

// NDPRedirect is a view of a redirect; check Valid first.
type NDPRedirect []byte

func (m NDPRedirect) Valid() bool         { return len(m) >= NDPRedirectLen }
func (m NDPRedirect) Target() netip.Addr  { return netip.AddrFrom16([16]byte(m[8:24])) }
func (m NDPRedirect) Dst() netip.Addr     { return netip.AddrFrom16([16]byte(m[24:40])) }
func (m NDPRedirect) Options() NDPOptions { return NDPOptions{b: m[NDPRedirectLen:]} }

// NDPOptions iterates over the options of an NDP message:
//
//	it := NDPNeighSolicit(c).Options()
//	for it.Next() {
//		if it.Type() == NDPOptSourceLLA { mac, ok := NDPLinkLayerAddr(it.Data()) }
//	}
//	if it.Malformed() { drop (RFC 4861 7.1.1: a zero-length option) }
//
// Data is an option's body after its type and length bytes, as gopacket
// gives it. Every option is at least 8 bytes, so the walk is bounded by
// the message length; it never allocates.
type NDPOptions struct {
	b    []byte
	off  int
	typ  uint8
	data []byte
	bad  bool
}

// Next steps to the next option; false at the end or on a malformed one.
func (it *NDPOptions) Next() bool {
	if it.bad || it.off >= len(it.b) {
		return false
	}
	if it.off+2 > len(it.b) {
		it.bad = true
		return false
	}
	l := int(it.b[it.off+1]) * 8
	if l == 0 || it.off+l > len(it.b) {
		it.bad = true
		return false
	}
	it.typ, it.data = it.b[it.off], it.b[it.off+2:it.off+l]
	it.off += l
	return true
}

func (it *NDPOptions) Type() uint8     { return it.typ }
func (it *NDPOptions) Data() []byte    { return it.data }
func (it *NDPOptions) Malformed() bool { return it.bad }

// NDPLinkLayerAddr reads the Ethernet address of a source or target
// link-layer address option body.
func NDPLinkLayerAddr(data []byte) (MAC, bool) {
	if len(data) < MACLen {
		return MAC{}, false
	}
	return MAC(data[:MACLen]), true
}

// NDPPrefixInfo is a view of a prefix information option body (RFC 4861
// 4.6.2); check Valid first.
type NDPPrefixInfo []byte

func (p NDPPrefixInfo) Valid() bool               { return len(p) >= NDPPrefixOptLen-2 }
func (p NDPPrefixInfo) PrefixLen() uint8          { return p[0] }
func (p NDPPrefixInfo) Flags() uint8              { return p[1] }
func (p NDPPrefixInfo) ValidLifetime() uint32     { return binary.BigEndian.Uint32(p[2:]) }
func (p NDPPrefixInfo) PreferredLifetime() uint32 { return binary.BigEndian.Uint32(p[6:]) }
func (p NDPPrefixInfo) PrefixAddr() netip.Addr    { return netip.AddrFrom16([16]byte(p[14:30])) }

// Prefix is the advertised prefix; invalid for a length over 128.
func (p NDPPrefixInfo) Prefix() netip.Prefix {
	return netip.PrefixFrom(p.PrefixAddr(), int(p.PrefixLen()))
}

// NDPMTU reads an MTU option body (RFC 4861 4.6.4).
func NDPMTU(data []byte) (uint32, bool) {
	if len(data) < 6 {
		return 0, false
	}
	return binary.BigEndian.Uint32(data[2:]), true
}

// NDPRDNSS is a view of a recursive DNS server option body (RFC 8106
// 5.1); check Valid first.
type NDPRDNSS []byte

// Valid: the lifetime and at least one whole address.
func (r NDPRDNSS) Valid() bool      { return len(r) >= 6+16 && (len(r)-6)%16 == 0 }
func (r NDPRDNSS) Lifetime() uint32 { return binary.BigEndian.Uint32(r[2:]) }
func (r NDPRDNSS) Count() int       { return (len(r) - 6) / 16 }

// Addr is the i-th server, 0 <= i < Count().
func (r NDPRDNSS) Addr(i int) netip.Addr {
	return netip.AddrFrom16([16]byte(r[6+16*i : 6+16*i+16]))
}

// NDPOptionWriter appends options to an NDP message in B, from N on; like
// DHCPOptionWriter it stops silently when the buffer is full (the caller
// sizes the buffer for everything it may add).
type NDPOptionWriter struct {
	B []byte
	N int
}

// begin reserves an option of n bytes (a multiple of 8), zeroed, with its
// type and length written; nil when it does not fit.
func (w *NDPOptionWriter) begin(typ uint8, n int) []byte {
	if w.N+n > len(w.B) {
		return nil
	}
	o := w.B[w.N : w.N+n]
	clear(o)
	o[0], o[1] = typ, uint8(n/8)
	w.N += n
	return o
}

// AddLinkLayerAddr writes a source or target link-layer address option.
func (w *NDPOptionWriter) AddLinkLayerAddr(typ uint8, m MAC) {
	if o := w.begin(typ, NDPLLAOptLen); o != nil {
		copy(o[2:], m[:])
	}
}

// AddPrefixInfo writes a prefix information option.
func (w *NDPOptionWriter) AddPrefixInfo(p netip.Prefix, flags uint8, valid, preferred uint32) {
	o := w.begin(NDPOptPrefixInfo, NDPPrefixOptLen)
	if o == nil {
		return
	}
	o[2], o[3] = uint8(p.Bits()), flags
	binary.BigEndian.PutUint32(o[4:], valid)
	binary.BigEndian.PutUint32(o[8:], preferred)
	a := p.Masked().Addr().As16()
	copy(o[16:], a[:])
}

// AddMTU writes an MTU option.
func (w *NDPOptionWriter) AddMTU(mtu uint32) {
	if o := w.begin(NDPOptMTU, NDPMTUOptLen); o != nil {
		binary.BigEndian.PutUint32(o[4:], mtu)
	}
}

// AddRDNSS writes a recursive DNS server option with one server.
func (w *NDPOptionWriter) AddRDNSS(lifetime uint32, server netip.Addr) {
	o := w.begin(NDPOptRDNSS, 24)
	if o == nil {
		return
	}
	binary.BigEndian.PutUint32(o[4:], lifetime)
	s := server.As16()
	copy(o[8:], s[:])
}
