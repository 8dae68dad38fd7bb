package dhcp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

func checkReply(t *testing.T, cfg Config, before state, m []byte, q fuzzRequest, rep Reply, ok bool, now time.Time, drops, dropsBefore [NumDrops]uint64) {
	t.Helper()
	if !q.answerable {
		if ok {
			t.Fatalf("answered a message that gets no answer (type %d, valid %v)", q.typ, q.valid)
		}
		return
	}
	gwa := cfg.Gateway.Addr()
	if !ok {
		switch {
		case q.typ == pkt.DHCPRequest && q.serverID.IsValid() && q.serverID != gwa:
			if drops[DropNotOurs] != dropsBefore[DropNotOurs]+1 {
				t.Fatal("request for another server dropped without counting it")
			}
		case drops[DropMACLeaseLimit] == dropsBefore[DropMACLeaseLimit]+1:
			// checkRules: the MAC was at its limit
		case q.typ == pkt.DHCPDiscover:
			if drops[DropPoolExhausted] != dropsBefore[DropPoolExhausted]+1 {
				t.Fatal("discover dropped without counting exhaustion")
			}
			if _, ok := reservation(cfg, q.mac); ok {
				t.Fatal("static host got no offer")
			}
			for a := cfg.RangeStart; inRange(cfg, a); a = a.Next() {
				if _, res := reservedFor(cfg, a); usable(cfg, a) && !res && !before.declined[a].After(now) {
					if h := before.holder(a, now); h == "" || h == q.clientID {
						t.Fatalf("discover dropped as exhausted though %v is free", a)
					}
				}
			}
		default:
			t.Fatalf("type %d got no answer", q.typ)
		}
		return
	}
	d := pkt.DHCP(rep.Msg)
	if !d.Valid() || d.Op() != pkt.BOOTReply || d.HType() != 1 || d.HLen() != 6 {
		t.Fatalf("not a BOOTREPLY: % x", rep.Msg[:min(len(rep.Msg), 4)])
	}
	// Echoed: xid, flags, ciaddr, giaddr, the whole chaddr field.
	for _, f := range [][2]int{{4, 8}, {10, 12}, {12, 16}, {24, 28}, {28, 44}} {
		if !bytes.Equal(rep.Msg[f[0]:f[1]], m[f[0]:f[1]]) {
			t.Fatalf("bytes %d-%d not echoed: % x, request % x", f[0], f[1], rep.Msg[f[0]:f[1]], m[f[0]:f[1]])
		}
	}
	if !bytes.Equal(rep.Msg[44:236], make([]byte, 192)) || rep.Msg[3] != 0 || !bytes.Equal(rep.Msg[8:10], []byte{0, 0}) || !bytes.Equal(rep.Msg[20:24], []byte{0, 0, 0, 0}) {
		t.Fatal("hops, secs, siaddr, sname or file not zero")
	}
	// Size: what every client takes (576-byte datagram), or more if it says so.
	limit := 576 - 28
	if q.maxSize >= 576 {
		limit = q.maxSize - 28
	}
	if len(rep.Msg) > limit || len(rep.Msg) < 300 {
		t.Fatalf("reply of %d bytes, client allows %d (BOOTP minimum 300)", len(rep.Msg), limit)
	}
	opts := map[uint8][]byte{}
	end := -1
	it := d.Options()
	for it.Next() {
		if _, dup := opts[it.Code()]; dup {
			t.Fatalf("option %d twice", it.Code())
		}
		opts[it.Code()] = it.Data()
	}
	if it.Malformed() {
		t.Fatal("reply options malformed")
	}
	for i := pkt.DHCPOptionsOff; i < len(rep.Msg); {
		if rep.Msg[i] == pkt.OptEnd {
			end = i
			break
		}
		if rep.Msg[i] == pkt.OptPad {
			i++
			continue
		}
		i += 2 + int(rep.Msg[i+1])
	}
	if end < 0 {
		t.Fatal("no end option")
	}
	if !bytes.Equal(rep.Msg[end+1:], make([]byte, len(rep.Msg)-end-1)) {
		t.Fatal("padding not zero")
	}
	if len(opts[pkt.OptMessageType]) != 1 {
		t.Fatalf("option 53 % x", opts[pkt.OptMessageType])
	}
	typ := opts[pkt.OptMessageType][0]
	if !bytes.Equal(opts[pkt.OptServerID], gwa.AsSlice()) {
		t.Fatalf("server id % x, want the gateway %v", opts[pkt.OptServerID], gwa)
	}
	yi := d.YIAddr()
	switch {
	case q.typ == pkt.DHCPDiscover && typ == pkt.DHCPOffer,
		q.typ == pkt.DHCPRequest && typ == pkt.DHCPAck,
		q.typ == pkt.DHCPRequest && typ == pkt.DHCPNak,
		q.typ == pkt.DHCPInform && typ == pkt.DHCPAck:
	default:
		t.Fatalf("type %d answered with type %d", q.typ, typ)
	}
	if q.typ == pkt.DHCPRequest && q.serverID.IsValid() && q.serverID != gwa {
		t.Fatal("answered a request for another server")
	}
	// Option 82 comes back unchanged, the last option (RFC 3046 2.2).
	if q.agent != nil {
		if n := len(q.agent); end < 2+n || rep.Msg[end-2-n] != pkt.OptRelayAgent || !bytes.Equal(rep.Msg[end-n:end], q.agent) {
			t.Fatalf("option 82 % x not echoed last: % x", q.agent, rep.Msg[pkt.DHCPOptionsOff:end])
		}
	} else if opts[pkt.OptRelayAgent] != nil {
		t.Fatal("option 82 sent unasked")
	}
	relayed := !q.giaddr.IsUnspecified()
	if relayed && (rep.Broadcast || !rep.ToRelay || rep.DstIP != q.giaddr || rep.DstMAC != q.src) {
		t.Fatalf("relayed (giaddr %v, from %v) answered %+v", q.giaddr, q.src, rep)
	}
	if !relayed && rep.ToRelay {
		t.Fatalf("not relayed, answered %+v", rep)
	}
	if typ == pkt.DHCPNak {
		nopts := 3
		if q.agent != nil {
			nopts++
		}
		if yi != netip.IPv4Unspecified() || rep.Broadcast == relayed || len(opts) != nopts || string(opts[pkt.OptMessage]) != "address not available" {
			t.Fatalf("NAK: yiaddr %v broadcast %v options %v", yi, rep.Broadcast, opts)
		}
		return
	}
	// Where it goes: the relay, checked above; broadcast if asked or
	// nowhere to unicast, else to ciaddr, else to the new address, always
	// at the frame's source.
	switch {
	case relayed:
	case d.Flags()&pkt.DHCPFlagBroadcast != 0:
		if !rep.Broadcast {
			t.Fatal("broadcast flag ignored")
		}
	case !q.ciaddr.IsUnspecified():
		if rep.Broadcast || rep.DstIP != q.ciaddr || rep.DstMAC != q.src {
			t.Fatalf("not unicast to ciaddr: %+v", rep)
		}
	case q.typ != pkt.DHCPInform:
		if rep.Broadcast || rep.DstIP != yi || rep.DstMAC != q.src {
			t.Fatalf("not unicast to yiaddr: %+v", rep)
		}
	default:
		if !rep.Broadcast {
			t.Fatalf("inform without ciaddr not broadcast: %+v", rep)
		}
	}
	secs := uint32(cfg.Lease / time.Second)
	if cfg.Lease == 0 {
		secs = 3600
	}
	if q.typ == pkt.DHCPInform {
		if yi != netip.IPv4Unspecified() || opts[pkt.OptLeaseTime] != nil || opts[pkt.OptRenewalT1] != nil || opts[pkt.OptRebindingT2] != nil {
			t.Fatalf("inform: yiaddr %v, lease options %v", yi, opts)
		}
	} else {
		for code, v := range map[uint8]uint32{pkt.OptLeaseTime: secs, pkt.OptRenewalT1: secs / 2, pkt.OptRebindingT2: secs / 8 * 7} {
			if len(opts[code]) != 4 || binary.BigEndian.Uint32(opts[code]) != v {
				t.Fatalf("option %d % x, want %d", code, opts[code], v)
			}
		}
		checkAddress(t, cfg, before, q, typ, yi, now)
	}
	checkOptions(t, cfg, q, typ, opts, end, limit)
}

// checkAddress: an OFFER or ACK hands out an address the client may have.
func checkAddress(t *testing.T, cfg Config, before state, q fuzzRequest, typ uint8, yi netip.Addr, now time.Time) {
	t.Helper()
	if !usable(cfg, yi) {
		t.Fatalf("handed out %v: not a guest address of %v", yi, cfg.Gateway)
	}
	res, static := reservation(cfg, q.mac)
	owner, reserved := reservedFor(cfg, yi)
	switch {
	case static && yi != res.IP:
		t.Fatalf("static host %v got %v, not its %v", q.mac, yi, res.IP)
	case reserved && owner != q.mac:
		t.Fatalf("%v got %v, reserved for %v", q.mac, yi, owner)
	case !reserved && !inRange(cfg, yi):
		t.Fatalf("%v is outside the range %v-%v", yi, cfg.RangeStart, cfg.RangeEnd)
	}
	// A reservation belongs to the MAC, whatever client id holds it now.
	if h := before.holder(yi, now); h != "" && h != q.clientID && !reserved {
		t.Fatalf("%v handed to %s while %s holds it", yi, q.clientID, h)
	}
	cur, had := before.byClient[q.clientID]
	if !static && before.declined[yi].After(now) && !(had && cur.IP == yi && typ == pkt.DHCPAck) {
		t.Fatalf("quarantined %v handed out", yi)
	}
	if typ != pkt.DHCPAck {
		return
	}
	// ACK: the address the REQUEST named, and only in its RFC 2131 case.
	switch {
	case q.serverID.IsValid(): // SELECTING
		if yi != q.reqIP || !had || cur.IP != yi {
			t.Fatalf("selecting: acked %v, asked %v, offered %+v", yi, q.reqIP, cur)
		}
	case !q.ciaddr.IsUnspecified(): // RENEWING, REBINDING
		if yi != q.ciaddr || !had || cur.IP != yi || before.offered[q.clientID] {
			t.Fatalf("renewing: acked %v for ciaddr %v, held %+v", yi, q.ciaddr, cur)
		}
	default: // INIT-REBOOT
		if yi != q.reqIP {
			t.Fatalf("init-reboot: acked %v, asked %v", yi, q.reqIP)
		}
	}
}

// checkOptions: each option sent is right and wanted; each wanted one is
// sent unless the client's size left no room.
func checkOptions(t *testing.T, cfg Config, q fuzzRequest, typ uint8, opts map[uint8][]byte, end, limit int) {
	t.Helper()
	want := func(code uint8) bool { return !q.hasParams || bytes.IndexByte(q.params, code) >= 0 }
	p := cfg.Gateway.Masked()
	maskv := ^uint32(0) << (32 - p.Bits())
	b := p.Addr().As4()
	expect := map[uint8][]byte{
		pkt.OptSubnetMask: binary.BigEndian.AppendUint32(nil, maskv),
		pkt.OptBroadcast:  binary.BigEndian.AppendUint32(nil, binary.BigEndian.Uint32(b[:])|^maskv),
	}
	if cfg.Router {
		expect[pkt.OptRouter] = cfg.Gateway.Addr().AsSlice()
	}
	if len(cfg.DNS) > 0 {
		var v []byte
		for _, a := range cfg.DNS {
			v = append(v, a.AsSlice()...)
		}
		expect[pkt.OptDNS] = v
	}
	if cfg.Domain != "" {
		expect[pkt.OptDomain] = []byte(cfg.Domain)
	}
	if cfg.MTU > 0 {
		expect[pkt.OptMTU] = []byte{byte(cfg.MTU >> 8), byte(cfg.MTU)}
	}
	if h, ok := reservation(cfg, q.mac); ok && h.Name != "" && q.typ == pkt.DHCPRequest && typ == pkt.DHCPAck {
		expect[pkt.OptHostname] = []byte(h.Name)
	}
	for code, v := range opts {
		switch code {
		case pkt.OptMessageType, pkt.OptServerID, pkt.OptLeaseTime, pkt.OptRenewalT1, pkt.OptRebindingT2, pkt.OptRelayAgent:
			continue // checked by checkReply
		case pkt.OptHostname:
			if h, ok := reservation(cfg, q.mac); !ok || string(v) != h.Name {
				t.Fatalf("host name %q sent to %v", v, q.mac)
			}
			continue
		}
		if e, ok := expect[code]; !ok || !bytes.Equal(v, e) || !want(code) {
			t.Fatalf("option %d = % x (expected % x, wanted %v)", code, v, e, want(code))
		}
	}
	for code, e := range expect {
		if want(code) && opts[code] == nil && end+2+len(e)+1 <= limit {
			t.Fatalf("option %d wanted, not sent, and there was room", code)
		}
	}
}

// checkState: the tables agree, hold only guest addresses, and are
// bounded by the addresses there are.
func checkState(t *testing.T, cfg Config, s *Server, q fuzzRequest, now time.Time) {
	t.Helper()
	for id, l := range s.byClient {
		if l.ClientID != id || s.byIP[l.IP] != l {
			t.Fatalf("lease %+v: not indexed by its client and address", l.Lease)
		}
		if _, res := reservedFor(cfg, l.IP); !usable(cfg, l.IP) || !res && !inRange(cfg, l.IP) {
			t.Fatalf("lease on %v", l.IP)
		}
		if l.offered && l.Expiry.After(now.Add(OfferHold)) {
			t.Fatalf("offer held until %v", l.Expiry)
		}
	}
	for a, l := range s.byIP {
		if l.IP != a || s.byClient[l.ClientID] != l {
			t.Fatalf("address %v: lease %+v not indexed by its client", a, l.Lease)
		}
	}
	n := 0
	for a := cfg.RangeStart; inRange(cfg, a); a = a.Next() {
		if _, res := reservedFor(cfg, a); usable(cfg, a) && !res {
			n++
		}
	}
	for _, h := range cfg.Hosts {
		if usable(cfg, h.IP) {
			n++
		}
	}
	if len(s.byClient) > n {
		t.Fatalf("%d leases and offers for %d addresses", len(s.byClient), n)
	}
	// No MAC holds more than its limit; quarantines are few and in the range.
	st := snapshot(s)
	max := cfg.MaxLeasesPerMAC
	if max == 0 {
		max = DefaultMaxLeasesPerMAC
	}
	for i := range byte(10) {
		if h := st.holds(fuzzMAC(i), "", now); h > max {
			t.Fatalf("%v holds %d, limit %d", fuzzMAC(i), h, max)
		}
	}
	if h := st.holds(relayMAC, "", now); h > max && !q.trusted {
		t.Fatalf("relay on an ordinary port holds %d, limit %d", h, max)
	}
	if len(s.declined) > maxDeclined {
		t.Fatalf("%d quarantined", len(s.declined))
	}
	for a := range s.declined {
		if _, static := reservedFor(cfg, a); !inRange(cfg, a) || static {
			t.Fatalf("%v quarantined: not a dynamic address", a)
		}
	}
}
