package dhcp

import (
	"encoding/hex"
	"net/netip"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// request is what Handle extracts from a message.
type request struct {
	typ       uint8
	clientID  string  // set by Handle from id: the lease's own string when the client is known
	id        []byte  // the client id as a lease key, in the server's scratch buffer
	mac       pkt.MAC // chaddr: the client's hardware address, what reservations key on
	src       pkt.MAC // From.MAC: the client or its relay, set by HandleFrom
	trusted   bool    // From.Trusted
	agent     []byte  // option 82 as the relay sent it, in the message; nil: none
	reqIP     netip.Addr
	serverID  netip.Addr
	hostname  []byte // a plain DNS label, in the message; nil: none
	params    []byte
	hasParams bool
	maxSize   int // option 57, 0 if absent
}

// idBufLen holds the longest client key: option 61's 255 bytes in hex.
const idBufLen = 2 * 255

// parse reads m; the client key goes into idBuf (idBufLen bytes), so a
// known client costs no allocation.
func parse(m pkt.DHCP, idBuf []byte) (request, DropReason) {
	var r request
	if !m.Valid() {
		return r, DropMalformed
	}
	if m.Op() != pkt.BOOTRequest || m.HType() != 1 || m.HLen() != 6 {
		return r, DropNotRequest
	}
	r.mac = m.CHAddr()
	o := m.ParseOptions()
	if o.Malformed {
		return r, DropMalformed
	}
	r.typ, r.reqIP, r.serverID, r.maxSize = o.Type, o.RequestedIP, o.ServerID, o.MaxSize
	r.hostname = sanitizeHostname(o.Hostname)
	r.params, r.hasParams = o.ParamRequest, o.HasParams
	r.agent = o.RelayAgent
	r.src = r.mac
	if o.ClientID != nil {
		r.id = idBuf[:hex.Encode(idBuf, o.ClientID)]
	} else {
		r.id = appendMACKey(idBuf[:0], r.mac)
	}
	switch r.typ {
	case pkt.DHCPDiscover, pkt.DHCPRequest, pkt.DHCPDecline, pkt.DHCPRelease, pkt.DHCPInform:
		return r, dropNone
	}
	return r, DropNoType
}

// appendMACKey appends the key of a client without a client id: "mac:"
// and chaddr as MAC.String writes it.
func appendMACKey(b []byte, m pkt.MAC) []byte {
	const digits = "0123456789abcdef"
	b = append(b, "mac:"...)
	for i, x := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, digits[x>>4], digits[x&15])
	}
	return b
}

// sanitizeHostname keeps a client's name only if it is a plain DNS label.
func sanitizeHostname(b []byte) []byte {
	if len(b) == 0 || len(b) > 63 {
		return nil
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return nil
		}
	}
	return b
}

// addressee says where a reply of type typ to m goes. RFC 2131 4.1: a
// relayed request's replies, NAKs too, go to the relay at giaddr, which
// delivers them; otherwise NAKs and broadcast-flagged requests are
// broadcast; renewals (ciaddr set) are unicast to ciaddr; the rest
// unicast to the new address (we are on the link, so no ARP is needed).
// Unicasts go to the frame's source MAC: chaddr for a client on the
// link, a trusted relay port's router for one behind it.
func addressee(m pkt.DHCP, r request, typ uint8, ip netip.Addr) (rep Reply) {
	ci, gi := m.CIAddr(), m.GIAddr()
	switch {
	case !gi.IsUnspecified():
		rep.DstMAC, rep.DstIP, rep.ToRelay = r.src, gi, true
	case typ == pkt.DHCPNak || m.Flags()&pkt.DHCPFlagBroadcast != 0:
		rep.Broadcast = true
	case ci.IsValid() && !ci.IsUnspecified():
		rep.DstMAC, rep.DstIP = r.src, ci
	case ip.IsValid():
		rep.DstMAC, rep.DstIP = r.src, ip
	default:
		rep.Broadcast = true
	}
	return rep
}

// build writes the reply message into buf and returns its length.
func (s *Server) build(buf []byte, m pkt.DHCP, r request, typ uint8, ip netip.Addr, l *lease) int {
	h := pkt.DHCPFields{Op: pkt.BOOTReply, XID: m.XID(), Flags: m.Flags(), CIAddr: m.CIAddr(), GIAddr: m.GIAddr(),
		CHAddr: m.CHAddrField()}
	if typ != pkt.DHCPNak && r.typ != pkt.DHCPInform {
		h.YIAddr = ip // unset: none
	}
	pkt.DHCP(buf).Encode(&h)
	// No larger than the client takes (RFC 2131 2: a 576-byte datagram,
	// more if its option 57 says so, which counts the IP and UDP headers):
	// options that do not fit are left out.
	limit := min(len(buf), max(576, r.maxSize)-28)
	// Option 82 goes last (RFC 3046 2.2) whatever else fits: keep its room.
	room := 0
	if r.agent != nil {
		room = 2 + len(r.agent)
	}
	w := pkt.DHCPOptionWriter{B: buf[:limit-room], N: pkt.DHCPOptionsOff}
	w.Add(pkt.OptMessageType, typ)
	w.AddAddr(pkt.OptServerID, s.cfg.Gateway.Addr())
	if typ == pkt.DHCPNak {
		w.Add(pkt.OptMessage, []byte("address not available")...)
		return end(&w, buf[:limit], r.agent)
	}
	if r.typ != pkt.DHCPInform {
		secs := uint32(s.cfg.Lease / time.Second)
		w.AddUint32(pkt.OptLeaseTime, secs)
		w.AddUint32(pkt.OptRenewalT1, secs/2)
		w.AddUint32(pkt.OptRebindingT2, secs/8*7)
	}
	want := func(code uint8) bool {
		if !r.hasParams {
			return true
		}
		for _, c := range r.params {
			if c == code {
				return true
			}
		}
		return false
	}
	pfx := s.cfg.Gateway.Masked()
	if want(pkt.OptSubnetMask) {
		w.AddUint32(pkt.OptSubnetMask, ^uint32(0)<<(32-pfx.Bits()))
	}
	if s.cfg.Router && want(pkt.OptRouter) {
		w.AddAddr(pkt.OptRouter, s.cfg.Gateway.Addr())
	}
	if len(s.cfg.DNS) > 0 && want(pkt.OptDNS) {
		w.AddAddr(pkt.OptDNS, s.cfg.DNS...)
	}
	if l != nil && l.Hostname != "" && l.Static && want(pkt.OptHostname) {
		w.Add(pkt.OptHostname, []byte(l.Hostname)...)
	}
	if s.cfg.Domain != "" && want(pkt.OptDomain) {
		w.Add(pkt.OptDomain, []byte(s.cfg.Domain)...)
	}
	if s.cfg.MTU > 0 && want(pkt.OptMTU) {
		w.Add(pkt.OptMTU, byte(s.cfg.MTU>>8), byte(s.cfg.MTU))
	}
	if want(pkt.OptBroadcast) {
		w.AddAddr(pkt.OptBroadcast, broadcast(pfx))
	}
	return end(&w, buf[:limit], r.agent)
}

// end echoes the relay agent's option 82 unchanged, in the room build
// kept for it, ends the options and pads; it returns the length.
func end(w *pkt.DHCPOptionWriter, b []byte, agent []byte) int {
	w.B = b
	if agent != nil {
		w.Add(pkt.OptRelayAgent, agent...)
	}
	w.End()
	return pad(b, w.N)
}

// pad zero-fills to the 300-byte BOOTP minimum some clients expect.
func pad(buf []byte, n int) int {
	for n < 300 && n < len(buf) {
		buf[n] = 0
		n++
	}
	return n
}
