package dns

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// localNames is the network's own zone: static names, and the DHCP
// clients' names re-read at most once a second. The server's goroutine
// owns it.
type localNames struct {
	domain    string // lower case, with the final dot; "" = none
	static    map[string][]netip.Addr
	staticPTR map[netip.Addr]string
	leases    func() []Host
	leasedAt  time.Time
	leased    map[string]Host
	leasedPTR map[netip.Addr]Host
}

func newLocalNames(domain string, hosts []Host, leases func() []Host) localNames {
	l := localNames{static: map[string][]netip.Addr{}, staticPTR: map[netip.Addr]string{}, leases: leases}
	if domain != "" {
		l.domain = mdns.Fqdn(strings.ToLower(domain))
	}
	for _, h := range hosts {
		n := strings.ToLower(h.Name)
		if n == "" || !h.IP.Is4() {
			continue
		}
		l.static[n] = append(l.static[n], h.IP)
		if _, ok := l.staticPTR[h.IP]; !ok {
			l.staticPTR[h.IP] = n
		}
	}
	return l
}

func (l *localNames) refresh(now time.Time) {
	if l.leases == nil || now.Sub(l.leasedAt) < time.Second && !l.leasedAt.IsZero() {
		return
	}
	l.leasedAt = now
	l.leased, l.leasedPTR = map[string]Host{}, map[netip.Addr]Host{}
	for _, h := range l.leases() {
		h.Name = strings.ToLower(h.Name)
		if h.Name == "" || !h.IP.Is4() {
			continue
		}
		// Two clients with one name: the later lease has it, as in dnsmasq.
		if old, ok := l.leased[h.Name]; !ok || h.Expiry.After(old.Expiry) {
			l.leased[h.Name] = h
		}
		l.leasedPTR[h.IP] = h
	}
}

func live(h Host, now time.Time) bool { return h.Expiry.IsZero() || h.Expiry.After(now) }

// lookup is the addresses of a name (a single label, lower case).
func (l *localNames) lookup(name string, now time.Time) []netip.Addr {
	if a := l.static[name]; len(a) > 0 {
		return a
	}
	l.refresh(now)
	if h, ok := l.leased[name]; ok && live(h, now) {
		return []netip.Addr{h.IP}
	}
	return nil
}

// lookupPTR is the name of an address, "" if none.
func (l *localNames) lookupPTR(a netip.Addr, now time.Time) string {
	if n, ok := l.staticPTR[a]; ok {
		return n
	}
	l.refresh(now)
	// The name must still be the lease's: a name taken over by a later
	// lease is not this address's any more.
	if h, ok := l.leasedPTR[a]; ok && live(h, now) && l.leased[h.Name].IP == a && len(l.static[h.Name]) == 0 {
		return h.Name
	}
	return ""
}

// fqdn is a local name as answered: under the domain when there is one.
func (l *localNames) fqdn(name string) string {
	if l.domain == "" {
		return name + "."
	}
	return name + "." + l.domain
}

// answer settles q locally when it is the network's own: a name under the
// domain, a bare name asked for an address, or the reverse name of an
// address in pfx. These never go upstream (libvirt's localOnly):
// unknown ones are NXDOMAIN here. ok false: not local, forward it.
func (l *localNames) answer(q mdns.Question, pfx netip.Prefix, now time.Time) (rcode int, rrs []mdns.RR, ok bool) {
	name := strings.ToLower(q.Name)
	if a, isRev := reverseAddr(name); isRev {
		if !a.IsValid() || !pfx.Contains(a) {
			return 0, nil, false
		}
		n := l.lookupPTR(a, now)
		if n == "" {
			return mdns.RcodeNameError, nil, true
		}
		if q.Qtype == mdns.TypePTR || q.Qtype == mdns.TypeANY {
			rrs = append(rrs, &mdns.PTR{Hdr: hdr(q, mdns.TypePTR), Ptr: l.fqdn(n)})
		}
		return mdns.RcodeSuccess, rrs, true
	}
	var label string
	inZone := false
	switch {
	case l.domain != "" && name == l.domain:
		return mdns.RcodeSuccess, nil, true // the zone itself: no data of ours
	case l.domain != "" && strings.HasSuffix(name, "."+l.domain):
		label, inZone = strings.TrimSuffix(name, "."+l.domain), true
		if strings.Contains(label, ".") {
			return mdns.RcodeNameError, nil, true
		}
	case strings.Count(name, ".") == 1 && name != ".":
		label = strings.TrimSuffix(name, ".")
	default:
		return 0, nil, false
	}
	addrs := l.lookup(label, now)
	if len(addrs) == 0 {
		// A bare name of another type (NS of a TLD) goes upstream;
		// a bare address query never does (dnsmasq's domain-needed).
		if inZone || q.Qtype == mdns.TypeA || q.Qtype == mdns.TypeAAAA {
			return mdns.RcodeNameError, nil, true
		}
		return 0, nil, false
	}
	if q.Qtype == mdns.TypeA || q.Qtype == mdns.TypeANY {
		for _, a := range addrs {
			rrs = append(rrs, &mdns.A{Hdr: hdr(q, mdns.TypeA), A: a.AsSlice()})
		}
	}
	return mdns.RcodeSuccess, rrs, true
}

func hdr(q mdns.Question, t uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: q.Name, Rrtype: t, Class: mdns.ClassINET, Ttl: localTTL}
}

// reverseAddr parses d.c.b.a.in-addr.arpa. (lower case). isRev with an
// invalid address: a reverse name that is not one full address.
func reverseAddr(name string) (a netip.Addr, isRev bool) {
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa.")
	if !ok {
		return netip.Addr{}, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 4 {
		return netip.Addr{}, true
	}
	var b [4]byte
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 8)
		if err != nil || (len(p) > 1 && p[0] == '0') {
			return netip.Addr{}, true
		}
		b[3-i] = byte(v)
	}
	return netip.AddrFrom4(b), true
}
