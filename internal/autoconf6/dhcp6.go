package autoconf6

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
)

// The DHCPv6 client (RFC 8415): an IA_NA lease when the RA has the M
// flag (SOLICIT, ADVERTISE, REQUEST, REPLY; RENEW at T1, REBIND at T2,
// DECLINE of a duplicate, RELEASE on Stop), or INFORMATION-REQUEST for
// the DNS servers when it has only the O flag. Messages go from the
// link-local address to All_DHCP_Relay_Agents_and_Servers.

type dhcpPhase uint8

const (
	dhcpIdle     dhcpPhase = iota
	dhcpSolicit            // SOLICIT sent, collecting ADVERTISEs
	dhcpRequest            // REQUEST sent
	dhcpBound              // a lease held; RENEW at T1
	dhcpRenew              // RENEW sent, until T2
	dhcpRebind             // REBIND sent, until the lease ends
	dhcpDecline            // DECLINE of a duplicate sent
	dhcpInfo               // INFORMATION-REQUEST sent
	dhcpInformed           // DNS servers held; asked again at the refresh time
)

// What the RA flags asked for.
const (
	wantNone uint8 = iota
	wantInfo       // O: other configuration
	wantAddr       // M: addresses (and the other configuration with them)
)

// retransmission parameters of an exchange (RFC 8415 7.6, 15).
type rtParams struct {
	irt, mrt time.Duration
	mrc      int // 0: no limit on transmissions
}

var exchange = [dhcpInformed + 1]rtParams{
	dhcpSolicit: {time.Second, 3600 * time.Second, 0},     // SOL_TIMEOUT, SOL_MAX_RT
	dhcpRequest: {time.Second, 30 * time.Second, 10},      // REQ_TIMEOUT, REQ_MAX_RT, REQ_MAX_RC
	dhcpRenew:   {10 * time.Second, 600 * time.Second, 0}, // REN_*; ends at T2
	dhcpRebind:  {10 * time.Second, 600 * time.Second, 0}, // REB_*; ends with the lease
	dhcpDecline: {time.Second, 0, 4},                      // DEC_TIMEOUT, DEC_MAX_RC
	dhcpInfo:    {time.Second, 3600 * time.Second, 0},     // INF_TIMEOUT, INF_MAX_RT
}

const (
	solMaxDelay        = time.Second // random delay before the first SOLICIT or INFORMATION-REQUEST
	infoRefreshDefault = 86400       // IRT_DEFAULT, seconds
	infoRefreshMin     = 600         // IRT_MINIMUM
	prefPreferMax      = 255         // an ADVERTISE with this preference is taken at once
)

var allDHCPMAC = pkt.MulticastMAC6(pkt.IPv6AllDHCP)

type dhcpClient struct {
	duid [10]byte // DUID-LL: type 3, hardware type 1, the MAC
	iaid uint32
	want uint8

	phase  dhcpPhase
	xid    uint32
	start  int64 // first transmission of the exchange (elapsed time)
	rt     int64 // the current retransmission timeout
	sendAt int64 // next transmission; 0: none
	count  int   // transmissions so far
	end    int64 // the exchange's last moment (RENEW: T2, REBIND: the lease's end); 0: none

	// The best ADVERTISE so far.
	adv       bool
	advPref   uint8
	advServer [pkt.DHCPv6MaxDUIDLen]byte
	advSLen   int
	advAddr   netip.Addr

	// The lease.
	server                [pkt.DHCPv6MaxDUIDLen]byte
	sLen                  int
	addr                  netip.Addr
	addrState             addrState
	dadEnd                int64
	validUntil, prefUntil int64
	t1, t2                int64
	order                 uint64

	dns       [MaxDNS]netip.Addr
	nDNS      int
	refreshAt int64
}

func (d *dhcpClient) init(mac pkt.MAC) {
	d.duid = [10]byte{0, pkt.DHCPv6DUIDTypeLL, 0, pkt.DHCPv6HardwareEthernet}
	copy(d.duid[4:], mac[:])
	d.iaid = binary.BigEndian.Uint32(mac[2:])
}

func (d *dhcpClient) timers(at func(int64)) {
	at(d.sendAt)
	at(d.end)
	if d.addr.IsValid() {
		if d.addrState == addrTentative {
			at(d.dadEnd)
		}
		at(d.validUntil)
		at(d.prefUntil)
	}
	switch d.phase {
	case dhcpBound:
		at(d.t1)
	case dhcpInformed:
		at(d.refreshAt)
	}
}

// wantDHCP notes the RA's M and O flags. M turns a stateless client
// stateful; flags that go away later leave a running client be.
func (c *Client) wantDHCP(flags uint8, t int64) {
	d := &c.dhcp
	switch {
	case flags&pkt.NDPRAManaged != 0 && d.want != wantAddr:
		d.want = wantAddr
		if d.phase == dhcpInfo || d.phase == dhcpInformed {
			d.phase, d.sendAt = dhcpIdle, 0
		}
	case flags&pkt.NDPRAOther != 0 && d.want == wantNone:
		d.want = wantInfo
	}
}

// begin starts an exchange; its first message goes at sendAt.
func (c *Client) begin(p dhcpPhase, t int64) {
	d := &c.dhcp
	d.phase, d.xid, d.count, d.rt, d.end, d.adv = p, c.rand()&0xffffff, 0, 0, 0, false
	d.sendAt = t
	switch p {
	case dhcpSolicit, dhcpInfo:
		d.sendAt = t + c.randDur(solMaxDelay)
	case dhcpRenew:
		d.end = d.t2
	case dhcpRebind:
		d.end = d.validUntil
	}
}

// tickDHCP runs the lease's lifetimes and the exchange's timers.
func (c *Client) tickDHCP(t int64) {
	d := &c.dhcp
	if c.ll != addrPreferred {
		return // nothing to send from
	}
	if d.addr.IsValid() {
		if d.addrState == addrTentative && t >= d.dadEnd {
			d.addrState = addrPreferred
		}
		if t >= d.validUntil && d.phase != dhcpDecline {
			if d.addrState == addrPreferred {
				c.event(EventAddrExpired)
			}
			d.dropLease()
			d.phase = dhcpIdle
		}
	}
	switch {
	case d.phase == dhcpIdle && d.want == wantAddr:
		c.begin(dhcpSolicit, t)
	case d.phase == dhcpIdle && d.want == wantInfo:
		c.begin(dhcpInfo, t)
	case d.phase == dhcpBound && t >= d.t1:
		c.begin(dhcpRenew, t)
	case d.phase == dhcpInformed && t >= d.refreshAt:
		c.begin(dhcpInfo, t)
	}
	if d.end != 0 && t >= d.end {
		if d.phase == dhcpRenew {
			c.begin(dhcpRebind, t) // T2: any server may extend it
		}
		// REBIND's end is the lease's: handled above.
	}
	if d.sendAt != 0 && t >= d.sendAt {
		c.transmit(t)
	}
}

func (d *dhcpClient) dropLease() {
	d.addr, d.addrState, d.sLen, d.nDNS = netip.Addr{}, addrNone, 0, 0
	d.validUntil, d.prefUntil, d.t1, d.t2 = 0, 0, 0, 0
}

// transmit sends the exchange's next message and times the one after:
// RT = IRT + RAND*IRT, then 2*RT + RAND*RT, capped near MRT, with RAND in
// [-0.1, 0.1] (RFC 8415 15). A SOLICIT whose first RT passed with an
// ADVERTISE in hand requests it instead; an exchange out of tries ends.
func (c *Client) transmit(t int64) {
	d := &c.dhcp
	p := exchange[d.phase]
	if d.phase == dhcpSolicit && d.adv {
		c.request(t)
		return
	}
	if p.mrc > 0 && d.count >= p.mrc {
		switch d.phase {
		case dhcpRequest:
			c.begin(dhcpSolicit, t)
		case dhcpDecline:
			d.dropLease()
			c.begin(dhcpSolicit, t)
		}
		return
	}
	if d.count == 0 {
		d.start = t
		d.rt = int64(p.irt) + c.jitter(int64(p.irt))
		if d.phase == dhcpSolicit {
			// RFC 8415 18.2.1: the first RT strictly more than IRT.
			d.rt = int64(p.irt) + int64(p.irt)*int64(c.rand()%1000+1)/10000
		}
	} else {
		d.rt = 2*d.rt + c.jitter(d.rt)
		if p.mrt > 0 && d.rt > int64(p.mrt) {
			d.rt = int64(p.mrt) + c.jitter(int64(p.mrt))
		}
	}
	c.sendDHCP(t)
	d.count++
	d.sendAt = t + d.rt
	if d.end != 0 {
		d.sendAt = min(d.sendAt, d.end)
	}
}

// jitter is RAND*d, RAND uniform in [-0.1, 0.1].
func (c *Client) jitter(d int64) int64 {
	return (int64(c.rand()%2001) - 1000) * (d / 10000)
}

// request moves from the best ADVERTISE to a REQUEST for its address.
func (c *Client) request(t int64) {
	d := &c.dhcp
	d.sLen = copy(d.server[:], d.advServer[:d.advSLen])
	c.begin(dhcpRequest, t)
	c.transmit(t)
}

// msgType is the message the phase sends.
var msgType = [dhcpInformed + 1]uint8{
	dhcpSolicit: pkt.DHCPv6Solicit,
	dhcpRequest: pkt.DHCPv6Request,
	dhcpRenew:   pkt.DHCPv6Renew,
	dhcpRebind:  pkt.DHCPv6Rebind,
	dhcpDecline: pkt.DHCPv6Decline,
	dhcpInfo:    pkt.DHCPv6InfoRequest,
}

// dhcpOff is where the DHCPv6 message starts in a frame the client sends.
const dhcpOff = pkt.EthernetLen + pkt.IPv6Len + pkt.UDPLen

// sendDHCP sends the phase's message.
func (c *Client) sendDHCP(t int64) {
	d := &c.dhcp
	c.sendDHCPMsg(msgType[d.phase], t)
}

// sendDHCPMsg builds a client message of type typ for the current
// exchange: client id, the server id where RFC 8415 18.2 asks for it,
// the IA_NA (with the address asked for or held), the options wanted,
// and the elapsed time.
func (c *Client) sendDHCPMsg(typ uint8, t int64) {
	d := &c.dhcp
	w := pkt.DHCPv6Writer{B: c.buf[dhcpOff:]}
	w.Header(typ, d.xid)
	w.Option(pkt.DHCPv6OptClientID, d.duid[:])
	switch typ {
	case pkt.DHCPv6Request, pkt.DHCPv6Renew, pkt.DHCPv6Decline, pkt.DHCPv6Release:
		w.Option(pkt.DHCPv6OptServerID, d.server[:d.sLen])
	}
	if typ != pkt.DHCPv6InfoRequest {
		ia := w.Begin(pkt.DHCPv6OptIANA)
		w.U32(d.iaid)
		w.U32(0) // T1, T2: the server's choice
		w.U32(0)
		a := d.addr
		if typ == pkt.DHCPv6Request {
			a = d.advAddr
		}
		if typ != pkt.DHCPv6Solicit && a.IsValid() {
			at := w.Begin(pkt.DHCPv6OptIAAddr)
			w.Addr(a)
			w.U32(0)
			w.U32(0)
			w.End(at)
		}
		w.End(ia)
	}
	if typ != pkt.DHCPv6Release && typ != pkt.DHCPv6Decline {
		at := w.Begin(pkt.DHCPv6OptORO)
		w.U16(pkt.DHCPv6OptDNSServers)
		w.U16(pkt.DHCPv6OptDomainList)
		if typ == pkt.DHCPv6InfoRequest {
			w.U16(pkt.DHCPv6OptInfoRefresh)
		}
		w.End(at)
	}
	at := w.Begin(pkt.DHCPv6OptElapsedTime)
	w.U16(uint16(min((t-d.start)/int64(10*time.Millisecond), 0xffff)))
	w.End(at)

	n := w.N
	b := c.buf[:]
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: allDHCPMAC, Src: c.cfg.MAC, Type: pkt.TypeIPv6})
	ip := pkt.IPv6(b[pkt.EthernetLen:])
	ip.Encode(&pkt.IPv6Fields{PayloadLen: uint16(pkt.UDPLen + n), NextHeader: pkt.ProtoUDP, HopLimit: 1, Src: c.llAddr, Dst: pkt.IPv6AllDHCP})
	u := b[pkt.EthernetLen+pkt.IPv6Len : dhcpOff+n]
	binary.BigEndian.PutUint16(u[0:], pkt.DHCPv6ClientPort)
	binary.BigEndian.PutUint16(u[2:], pkt.DHCPv6ServerPort)
	binary.BigEndian.PutUint16(u[4:], uint16(pkt.UDPLen+n))
	u[6], u[7] = 0, 0
	pkt.UDP(u).SetChecksum(ip.PseudoHeaderChecksum(pkt.ProtoUDP, uint16(pkt.UDPLen+n)))
	c.send(dhcpOff + n)
}

// releaseLease sends one RELEASE of a held lease (Stop).
func (c *Client) releaseLease(t int64) {
	d := &c.dhcp
	if !d.addr.IsValid() || d.sLen == 0 || c.ll != addrPreferred {
		return
	}
	d.xid, d.start = c.rand()&0xffffff, t
	c.sendDHCPMsg(pkt.DHCPv6Release, t)
	d.dropLease()
	d.phase, d.sendAt = dhcpIdle, 0
}

// leaseDuplicate declines a leased address someone else holds.
func (c *Client) leaseDuplicate(t int64) {
	d := &c.dhcp
	d.addrState = addrDuplicate
	c.event(EventDHCP6Declined)
	c.begin(dhcpDecline, t)
	c.transmit(t)
}
