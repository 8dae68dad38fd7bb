package pkt

import (
	"encoding/binary"
	"net/netip"
	"strings"
)

// DHCPv6 (RFC 8415) messages between a client and a server: a one-byte
// type, a three-byte transaction id, then options, each a two-byte code,
// a two-byte length and the data. Relay messages (RELAY-FORW, RELAY-REPL)
// have another header; vswitch's server takes no relayed messages, so
// this view only names their types.

// Ports and the group clients send to (RFC 8415 7.1, 7.2).
const (
	DHCPv6ClientPort = 546
	DHCPv6ServerPort = 547
	DHCPv6HeaderLen  = 4
	dhcp6OptHdrLen   = 4
)

// IPv6AllDHCP is All_DHCP_Relay_Agents_and_Servers, ff02::1:2.
var IPv6AllDHCP = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 13: 1, 15: 2})

// Message types (RFC 8415 7.3).
const (
	DHCPv6Solicit     = 1
	DHCPv6Advertise   = 2
	DHCPv6Request     = 3
	DHCPv6Confirm     = 4
	DHCPv6Renew       = 5
	DHCPv6Rebind      = 6
	DHCPv6Reply       = 7
	DHCPv6Release     = 8
	DHCPv6Decline     = 9
	DHCPv6Reconfigure = 10
	DHCPv6InfoRequest = 11
	DHCPv6RelayForw   = 12
	DHCPv6RelayRepl   = 13
)

// Option codes (RFC 8415 21, RFC 3646).
const (
	DHCPv6OptClientID      = 1
	DHCPv6OptServerID      = 2
	DHCPv6OptIANA          = 3
	DHCPv6OptIATA          = 4
	DHCPv6OptIAAddr        = 5
	DHCPv6OptORO           = 6
	DHCPv6OptPreference    = 7
	DHCPv6OptElapsedTime   = 8
	DHCPv6OptUnicast       = 12
	DHCPv6OptStatusCode    = 13
	DHCPv6OptRapidCommit   = 14
	DHCPv6OptDNSServers    = 23
	DHCPv6OptDomainList    = 24
	DHCPv6OptIAPD          = 25
	DHCPv6OptInfoRefresh   = 32
	DHCPv6OptClientFQDN    = 39
	DHCPv6IANAFixedLen     = 12  // IAID, T1, T2
	DHCPv6IAAddrFixedLen   = 24  // address, preferred and valid lifetimes
	DHCPv6MaxDUIDLen       = 130 // RFC 8415 11.1: 128 octets plus the type
	DHCPv6DUIDTypeLLT      = 1
	DHCPv6DUIDTypeLL       = 3
	DHCPv6HardwareEthernet = 1 // hardware type of a DUID-LL for Ethernet
)

// Status codes (RFC 8415 21.13).
const (
	DHCPv6Success      = 0
	DHCPv6UnspecFail   = 1
	DHCPv6NoAddrsAvail = 2
	DHCPv6NoBinding    = 3
	DHCPv6NotOnLink    = 4
	DHCPv6UseMulticast = 5
)

// DHCPv6 is a view of a client/server DHCPv6 message; check Valid first.
type DHCPv6 []byte

// Valid reports whether the fixed header is there; the options are
// checked as they are walked.
func (m DHCPv6) Valid() bool { return len(m) >= DHCPv6HeaderLen }

// Type is the message type.
func (m DHCPv6) Type() uint8 { return m[0] }

// TransactionID is the 24-bit transaction id.
func (m DHCPv6) TransactionID() uint32 { return uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3]) }

// Options is the option area (for a client/server message).
func (m DHCPv6) Options() DHCPv6Options { return DHCPv6Options(m[DHCPv6HeaderLen:]) }

// DHCPv6Options is a run of options: a message's, or those inside an
// IA_NA or IA Address option.
type DHCPv6Options []byte

// Iter walks the options.
func (o DHCPv6Options) Iter() DHCPv6OptionIter { return DHCPv6OptionIter{b: o} }

// Valid reports whether every option fits in the run.
func (o DHCPv6Options) Valid() bool {
	it := o.Iter()
	for it.Next() {
	}
	return !it.Malformed()
}

// DHCPv6OptionIter walks options without copying: Next, then Code and
// Data, which alias the message. A run that ends inside an option stops
// the walk and sets Malformed (a sticky error, checked once).
type DHCPv6OptionIter struct {
	b    []byte
	code uint16
	data []byte
	bad  bool
}

// Next moves to the next option; false at the end or on a malformed one.
func (it *DHCPv6OptionIter) Next() bool {
	if len(it.b) == 0 || it.bad {
		return false
	}
	if len(it.b) < dhcp6OptHdrLen {
		it.bad = true
		return false
	}
	n := int(binary.BigEndian.Uint16(it.b[2:]))
	if len(it.b)-dhcp6OptHdrLen < n {
		it.bad = true
		return false
	}
	it.code = binary.BigEndian.Uint16(it.b)
	it.data = it.b[dhcp6OptHdrLen : dhcp6OptHdrLen+n]
	it.b = it.b[dhcp6OptHdrLen+n:]
	return true
}

// Code is the current option's code.
func (it *DHCPv6OptionIter) Code() uint16 { return it.code }

// Data is the current option's data.
func (it *DHCPv6OptionIter) Data() []byte { return it.data }

// Malformed reports whether the walk stopped inside an option.
func (it *DHCPv6OptionIter) Malformed() bool { return it.bad }

// DHCPv6IANA is the data of an IA_NA option (RFC 8415 21.4); check Valid.
type DHCPv6IANA []byte

func (ia DHCPv6IANA) Valid() bool            { return len(ia) >= DHCPv6IANAFixedLen }
func (ia DHCPv6IANA) IAID() uint32           { return binary.BigEndian.Uint32(ia) }
func (ia DHCPv6IANA) T1() uint32             { return binary.BigEndian.Uint32(ia[4:]) }
func (ia DHCPv6IANA) T2() uint32             { return binary.BigEndian.Uint32(ia[8:]) }
func (ia DHCPv6IANA) Options() DHCPv6Options { return DHCPv6Options(ia[DHCPv6IANAFixedLen:]) }

// DHCPv6IAAddr is the data of an IA Address option (RFC 8415 21.6);
// check Valid.
type DHCPv6IAAddr []byte

func (a DHCPv6IAAddr) Valid() bool               { return len(a) >= DHCPv6IAAddrFixedLen }
func (a DHCPv6IAAddr) Addr() netip.Addr          { return netip.AddrFrom16([16]byte(a[:16])) }
func (a DHCPv6IAAddr) PreferredLifetime() uint32 { return binary.BigEndian.Uint32(a[16:]) }
func (a DHCPv6IAAddr) ValidLifetime() uint32     { return binary.BigEndian.Uint32(a[20:]) }
func (a DHCPv6IAAddr) Options() DHCPv6Options    { return DHCPv6Options(a[DHCPv6IAAddrFixedLen:]) }

// DHCPv6OptionSet is what the server reads from a message's options in
// one pass. Slices alias the message; an option with a wrong length is
// ignored, as if absent; a walk that runs past the end sets Malformed.
type DHCPv6OptionSet struct {
	ClientID    []byte // the DUID
	ServerID    []byte
	IANA        DHCPv6IANA // the first IA_NA (valid length); nil if none
	NumIANA     int        // IA_NA options present, valid or not
	ORO         []byte
	RapidCommit bool
	FQDN        []byte // option 39 as sent
	Malformed   bool
}

// ParseOptions reads the options of a valid message. It allocates nothing.
func (m DHCPv6) ParseOptions() DHCPv6OptionSet {
	var o DHCPv6OptionSet
	it := m.Options().Iter()
	for it.Next() {
		v := it.Data()
		switch it.Code() {
		case DHCPv6OptClientID:
			if len(v) > 0 && len(v) <= DHCPv6MaxDUIDLen {
				o.ClientID = v
			}
		case DHCPv6OptServerID:
			if len(v) > 0 && len(v) <= DHCPv6MaxDUIDLen {
				o.ServerID = v
			}
		case DHCPv6OptIANA:
			o.NumIANA++
			if o.IANA == nil && DHCPv6IANA(v).Valid() {
				o.IANA = DHCPv6IANA(v)
			}
		case DHCPv6OptORO:
			o.ORO = v
		case DHCPv6OptRapidCommit:
			o.RapidCommit = true
		case DHCPv6OptClientFQDN:
			o.FQDN = v
		}
	}
	o.Malformed = it.Malformed()
	return o
}

// DHCPv6Writer appends a message to B[:N]; an option that does not fit
// is left out and sets Short (sticky), so a caller checks once.
type DHCPv6Writer struct {
	B     []byte
	N     int
	Short bool
}

// Header writes the type and transaction id at the start of B.
func (w *DHCPv6Writer) Header(typ uint8, xid uint32) {
	if len(w.B) < DHCPv6HeaderLen {
		w.Short = true
		return
	}
	w.B[0], w.B[1], w.B[2], w.B[3] = typ, byte(xid>>16), byte(xid>>8), byte(xid)
	w.N = DHCPv6HeaderLen
}

// Begin starts an option whose data the next calls write; End closes it.
// It returns where the option starts (-1 when it does not fit).
func (w *DHCPv6Writer) Begin(code uint16) int {
	if w.Short || len(w.B)-w.N < dhcp6OptHdrLen {
		w.Short = true
		return -1
	}
	at := w.N
	binary.BigEndian.PutUint16(w.B[at:], code)
	w.N += dhcp6OptHdrLen
	return at
}

// End sets the length of the option Begin started at at.
func (w *DHCPv6Writer) End(at int) {
	if w.Short || at < 0 {
		return
	}
	binary.BigEndian.PutUint16(w.B[at+2:], uint16(w.N-at-dhcp6OptHdrLen))
}

// Bytes appends raw data (inside an option Begin started).
func (w *DHCPv6Writer) Bytes(p []byte) {
	if w.Short || len(w.B)-w.N < len(p) {
		w.Short = true
		return
	}
	w.N += copy(w.B[w.N:], p)
}

// U32 appends a big-endian uint32; U16 a uint16.
func (w *DHCPv6Writer) U32(v uint32) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	w.Bytes(b[:])
}

func (w *DHCPv6Writer) U16(v uint16) {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	w.Bytes(b[:])
}

// Option writes a whole option.
func (w *DHCPv6Writer) Option(code uint16, data []byte) {
	at := w.Begin(code)
	w.Bytes(data)
	w.End(at)
}

// Addr appends an IPv6 address.
func (w *DHCPv6Writer) Addr(a netip.Addr) {
	b := a.As16()
	w.Bytes(b[:])
}

// Status writes a Status Code option with its message.
func (w *DHCPv6Writer) Status(code uint16, msg string) {
	at := w.Begin(DHCPv6OptStatusCode)
	w.U16(code)
	if w.Short || len(w.B)-w.N < len(msg) {
		w.Short = true
		return
	}
	w.N += copy(w.B[w.N:], msg)
	w.End(at)
}

// DomainName appends name in DNS wire format (RFC 1035 3.1) as RFC 8415
// 10 asks for domain lists; false when a label is empty or too long.
func (w *DHCPv6Writer) DomainName(name string) bool {
	for len(name) > 0 {
		label := name
		if i := strings.IndexByte(name, '.'); i >= 0 {
			label, name = name[:i], name[i+1:]
		} else {
			name = ""
		}
		if len(label) == 0 || len(label) > 63 {
			return false
		}
		w.Bytes([]byte{byte(len(label))})
		if w.Short || len(w.B)-w.N < len(label) {
			w.Short = true
			return true
		}
		w.N += copy(w.B[w.N:], label)
	}
	w.Bytes([]byte{0})
	return true
}
