package pkt

import (
	"encoding/binary"
	"net/netip"
)

// DHCPv4 geometry (RFC 2131): a 236-byte BOOTP header, the magic cookie,
// then options.
const (
	DHCPHeaderLen     = 236
	DHCPOptionsOff    = 240
	DHCPMinLen        = DHCPOptionsOff
	DHCPCookie        = 0x63825363
	DHCPServerPort    = 67
	DHCPClientPort    = 68
	BOOTRequest       = 1
	BOOTReply         = 2
	DHCPFlagBroadcast = 0x8000
)

// DHCP message types (option 53).
const (
	DHCPDiscover = 1
	DHCPOffer    = 2
	DHCPRequest  = 3
	DHCPDecline  = 4
	DHCPAck      = 5
	DHCPNak      = 6
	DHCPRelease  = 7
	DHCPInform   = 8
)

// DHCP option codes vswitch reads or writes (RFC 2132).
const (
	OptPad          = 0
	OptSubnetMask   = 1
	OptRouter       = 3
	OptDNS          = 6
	OptHostname     = 12
	OptDomain       = 15
	OptMTU          = 26
	OptBroadcast    = 28
	OptRequestedIP  = 50
	OptLeaseTime    = 51
	OptOverload     = 52
	OptMessageType  = 53
	OptServerID     = 54
	OptParamRequest = 55
	OptMessage      = 56
	OptMaxSize      = 57
	OptRenewalT1    = 58
	OptRebindingT2  = 59
	OptClientID     = 61
	OptRelayAgent   = 82 // RFC 3046 relay agent information
	OptEnd          = 255
)

// DHCP is a view of a DHCPv4 message (a UDP payload); check Valid first.
type DHCP []byte

// Valid reports whether d holds the fixed header and the magic cookie.
func (d DHCP) Valid() bool {
	return len(d) >= DHCPMinLen && binary.BigEndian.Uint32(d[236:]) == DHCPCookie
}

func (d DHCP) Op() uint8          { return d[0] }
func (d DHCP) HType() uint8       { return d[1] }
func (d DHCP) HLen() uint8        { return d[2] }
func (d DHCP) XID() uint32        { return binary.BigEndian.Uint32(d[4:]) }
func (d DHCP) Flags() uint16      { return binary.BigEndian.Uint16(d[10:]) }
func (d DHCP) CIAddr() netip.Addr { return netip.AddrFrom4([4]byte(d[12:16])) }
func (d DHCP) YIAddr() netip.Addr { return netip.AddrFrom4([4]byte(d[16:20])) }
func (d DHCP) GIAddr() netip.Addr { return netip.AddrFrom4([4]byte(d[24:28])) }
func (d DHCP) CHAddr() MAC        { return MAC(d[28:34]) }

// CHAddrField is the whole 16-byte chaddr field, which a reply echoes
// (RFC 2131 4.3.1) whatever hardware type the client claims.
func (d DHCP) CHAddrField() []byte { return d[28:44] }

// DHCPFields is the fixed header of a message to Encode; an unset address
// is 0.0.0.0.
type DHCPFields struct {
	Op                     uint8 // BOOTRequest or BOOTReply
	XID                    uint32
	Flags                  uint16 // DHCPFlagBroadcast
	CIAddr, YIAddr, GIAddr netip.Addr
	CHAddr                 []byte // at most 16 bytes: a MAC, or a CHAddrField to echo
}

// Encode writes the fixed header for Ethernet (htype 1, hlen 6) and the
// magic cookie: hops, secs, siaddr, sname and file are zero, and so is
// whatever f leaves unset. Options follow at DHCPOptionsOff.
func (d DHCP) Encode(f *DHCPFields) {
	clear(d[:DHCPOptionsOff])
	d[0], d[1], d[2] = f.Op, 1, 6
	binary.BigEndian.PutUint32(d[4:], f.XID)
	binary.BigEndian.PutUint16(d[10:], f.Flags)
	putAddr4(d[12:16], f.CIAddr)
	putAddr4(d[16:20], f.YIAddr)
	putAddr4(d[24:28], f.GIAddr)
	copy(d[28:44], f.CHAddr)
	binary.BigEndian.PutUint32(d[DHCPHeaderLen:], DHCPCookie)
}

// putAddr4 writes a, if it is an IPv4 address, to the 4 bytes of b.
func putAddr4(b []byte, a netip.Addr) {
	if a.Is4() {
		*(*[4]byte)(b) = a.As4()
	}
}

// Options iterates the options field. (Option overload, RFC 2132 52, is
// not followed: options in sname/file are ignored, so a malicious overload
// can neither loop nor read out of bounds.)
func (d DHCP) Options() DHCPOptions { return DHCPOptions{b: d[DHCPOptionsOff:]} }

// DHCPOptions walks TLV options with a sticky error: Next returns false at
// the end option, at the end of the data, or on a malformed option, and Err
// tells which.
type DHCPOptions struct {
	b    []byte
	code uint8
	data []byte
	bad  bool
}

// Next advances to the next option.
func (o *DHCPOptions) Next() bool {
	for len(o.b) > 0 {
		code := o.b[0]
		switch code {
		case OptPad:
			o.b = o.b[1:]
			continue
		case OptEnd:
			o.b = nil
			return false
		}
		if len(o.b) < 2 || int(o.b[1])+2 > len(o.b) {
			o.bad, o.b = true, nil
			return false
		}
		n := int(o.b[1])
		o.code, o.data = code, o.b[2:2+n]
		o.b = o.b[2+n:]
		return true
	}
	return false
}

func (o *DHCPOptions) Code() uint8  { return o.code }
func (o *DHCPOptions) Data() []byte { return o.data }

// Malformed reports an option whose length ran past the end.
func (o *DHCPOptions) Malformed() bool { return o.bad }

// DHCPOptionWriter appends options into a buffer in place.
type DHCPOptionWriter struct {
	B []byte // the whole message buffer
	N int    // bytes written so far (starts at DHCPOptionsOff)
}

// Add writes one option; it silently stops when the buffer is full (the
// caller sizes the buffer for everything it may add).
func (w *DHCPOptionWriter) Add(code uint8, data ...byte) {
	if len(data) > 255 || w.N+2+len(data)+1 > len(w.B) {
		return
	}
	w.B[w.N], w.B[w.N+1] = code, uint8(len(data))
	copy(w.B[w.N+2:], data)
	w.N += 2 + len(data)
}

// AddAddr writes an option of IPv4 addresses.
func (w *DHCPOptionWriter) AddAddr(code uint8, addrs ...netip.Addr) {
	var buf [4 * 16]byte
	n := 0
	for _, a := range addrs {
		if n+4 > len(buf) {
			break
		}
		a4 := a.As4()
		n += copy(buf[n:], a4[:])
	}
	w.Add(code, buf[:n]...)
}

// AddUint32 writes a 4-byte option (times).
func (w *DHCPOptionWriter) AddUint32(code uint8, v uint32) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	w.Add(code, b[:]...)
}

// End writes the end option.
func (w *DHCPOptionWriter) End() {
	if w.N < len(w.B) {
		w.B[w.N] = OptEnd
		w.N++
	}
}
