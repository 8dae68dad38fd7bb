package e2e

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// hugeTXT is the TXT record of huge.example on upstreamDNS6: eight
// strings of 250 bytes (a, b, ... h). About 2 KB: no UDP answer of ours
// holds it (1232 bytes at most), and over IPv6 TCP it takes two segments.
func hugeTXT() []string {
	var s []string
	for i := range 8 {
		s = append(s, strings.Repeat(string(rune('a'+i)), 250))
	}
	return s
}

// tcpQuery asks server:53 over TCP with the guest's own socket options
// (the kernel's MSS for the route, where dig uses the IPv6 minimum MTU):
// argv is server and the query in hex; it prints the answer in hex.
const tcpQuery = `
import socket, sys
q = bytes.fromhex(sys.argv[2])
s = socket.create_connection((sys.argv[1], 53), timeout=3)
s.sendall(len(q).to_bytes(2, "big") + q)
b = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    b += d
print(b[2:].hex())
`

// upstreamDNS6 runs dnsmasq on the host's loopback as a network's
// forwarder: v6.example has AAAA 2001:db8::7 and huge.example hugeTXT.
// It returns its address.
func upstreamDNS6(t *testing.T) string {
	t.Helper()
	addr := freeAddr(t) // a free TCP port; dnsmasq takes UDP and TCP on it
	_, port, _ := strings.Cut(addr, ":")
	startProcess(t, "dnsmasq", exec.Command("dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
		"--user=root", "--pid-file=", "--listen-address=127.0.0.1", "--bind-interfaces", "--port="+port,
		"--host-record=v6.example,2001:db8::7", "--txt-record=huge.example,"+strings.Join(hugeTXT(), ",")))
	testnet.WaitFor(t, 5*time.Second, "dnsmasq listening", func() bool {
		out, err := exec.Command("dig", "+short", "+time=1", "+tries=1", "-p", port, "@127.0.0.1", "v6.example", "AAAA").Output()
		return err == nil && strings.TrimSpace(string(out)) == "2001:db8::7"
	})
	return addr
}

var (
	digFlags  = regexp.MustCompile(`;; flags: ([a-z ]+);`)
	digServer = regexp.MustCompile(`;; SERVER: (\S+) \((UDP|TCP)\)`)
	// segLine is tcpdump's line for a TCP segment: addresses and ports,
	// flags, length.
	segLine  = regexp.MustCompile(`IP6 (\S+)\.(\d+) > (?:\S+)\.(\d+): Flags \[([^\]]*)\],.*, length (\d+)`)
	mssOpt   = regexp.MustCompile(`options \[mss (\d+)`)
	hugeLine = regexp.MustCompile(`(?m)^huge\.example\.\s+\d+\s+IN\s+(TXT\s+.*)$`)
)

// TestDNS6TCP: a SLAAC guest asks the gateway's IPv6 address (the RDNSS
// of its advertisements) over TCP with dig: a forwarded AAAA and a local
// name answered exactly; a 2 KB TXT answer whole over TCP, truncated (TC,
// no records) over UDP, and whole again when dig, by default, retries the
// truncated answer over TCP; and from python3, whose socket offers the
// link's MSS, whole too. On the guest's link the gateway's SYN-ACKs offer
// MSS 1440 and each answer comes in segments of the client's MSS up to
// 1440 (a 1514-byte frame). Crafted SYNs with a bad checksum or a source
// outside the /64 count one drop each; nothing else is dropped, by the
// port or the DNS server.
func TestDNS6TCP(t *testing.T) {
	requireE2E(t, "dig", "dnsmasq", "tcpdump", "python3")
	up := upstreamDNS6(t)
	g := newHost6(t, "d6")
	maddr := freeAddr(t)
	vs := startVswitch(t, fmt.Sprintf("metrics: %q\n", maddr)+tapPorts([]string{g.dev}, g)+fmt.Sprintf(`networks:
  - name: six
    address: 10.228.0.1/24
    address6: "fd00:128::1/64"
    dns: {forwarders: [%q], hosts: [{name: db, ip: 10.228.0.30}]}
`, up))
	var gwMAC string
	for _, e := range vs.fdb() {
		if e.Port == "gw-six" {
			gwMAC = e.MAC
		}
	}
	g.Run("ip", "link", "set", g.dev, "up")
	me := waitSLAAC(t, g, "fd00:128::/64", mustMAC(t, gwMAC))
	const gw = "fd00:128::1"
	dump := startProcess(t, "tcpdump", g.Command(t.Context(), "tcpdump", "-l", "-n", "-i", g.dev, "ip6 and tcp port 53 and not port 4053"))
	testnet.WaitFor(t, 10*time.Second, "tcpdump listening", func() bool { return strings.Contains(dump.String(), "listening on") })

	for _, c := range []struct {
		name, qtype, want string
	}{
		{"v6.example", "AAAA", "AAAA 2001:db8::7"}, // forwarded upstream over TCP
		{"db", "A", "A 10.228.0.30"},               // a local name
	} {
		if status, ans := dig(t, g, gw, c.name, c.qtype, "+tcp"); status != "NOERROR" || strings.Join(ans, ", ") != c.want {
			t.Errorf("dig +tcp @%s %s %s: %s %v, want NOERROR [%s]", gw, c.name, c.qtype, status, ans, c.want)
		}
	}

	want := `TXT "` + strings.Join(hugeTXT(), `" "`) + `"`
	for _, c := range []struct {
		args      []string
		tc, retry bool   // TC in the flags; dig's "Truncated, retrying in TCP mode"
		over      string // the transport of the answer dig prints
		answer    string
	}{
		{[]string{"+tcp"}, false, false, "TCP", want},
		{[]string{"+notcp", "+ignore"}, true, false, "UDP", ""},
		{nil, false, true, "TCP", want}, // dig's default: UDP, then TCP on TC
	} {
		out, _ := g.Output("dig", append([]string{"+time=2", "+tries=1", "+nocmd", "+noquestion", "@" + gw, "huge.example", "TXT"}, c.args...)...)
		status, flags, server := digStatus.FindStringSubmatch(out), digFlags.FindStringSubmatch(out), digServer.FindStringSubmatch(out)
		answer := ""
		if m := hugeLine.FindAllStringSubmatch(out, -1); len(m) == 1 {
			answer = strings.Join(strings.Fields(m[0][1]), " ")
		}
		if status == nil || status[1] != "NOERROR" || flags == nil || server == nil || strings.Contains(" "+flags[1]+" ", " tc ") != c.tc ||
			strings.Contains(out, "Truncated, retrying in TCP mode") != c.retry || server[1] != gw+"#53("+gw+")" || server[2] != c.over ||
			answer != c.answer {
			t.Errorf("dig %v @%s huge.example TXT: status %q, flags %q, server %q:\n%s", c.args, gw, status, flags, server, out)
		}
	}

	// Crafted SYNs to port 53 dropped with their reasons, counted once
	// each: a bad TCP checksum, and a source outside the /64 (the guest's
	// link-local address). The python3 query after them, on the same
	// link, is the sentinel.
	raw := testnet.OpenRaw(t, g.Netns, g.dev)
	for _, c := range []struct {
		src netip.Addr
		bad bool
	}{{me, true}, {pkt.LinkLocalFromMAC(mustMAC(t, g.mac(g.dev))), false}} {
		raw.Send(syn6(mustMAC(t, g.mac(g.dev)), mustMAC(t, gwMAC), c.src, netip.MustParseAddr(gw), c.bad))
	}

	// A client with the kernel's MSS for the link (1440), where dig
	// offers 1220 (IPv6's minimum MTU): the answer whole, the TXT strings
	// exactly.
	m := new(mdns.Msg)
	m.SetQuestion("huge.example.", mdns.TypeTXT)
	q, _ := m.Pack()
	out, err := g.Output("python3", "-c", tcpQuery, gw, hex.EncodeToString(q))
	ans, _ := hex.DecodeString(strings.TrimSpace(out))
	r := new(mdns.Msg)
	if err != nil || r.Unpack(ans) != nil || len(r.Answer) != 1 || r.Truncated ||
		strings.Join(r.Answer[0].(*mdns.TXT).Txt, " ") != strings.Join(hugeTXT(), " ") {
		t.Errorf("python3 TCP query: %v %v\n%s", err, r, out)
	}

	// The segments on the guest's link: every SYN-ACK offers 1440 (what
	// an MTU-1500 IPv6 frame carries), and each connection's largest
	// segment from the gateway is exactly what the client offered, up to
	// 1440: five connections (dig +tcp twice, once after TC; the local
	// name; python3).
	testnet.WaitFor(t, 5*time.Second, "five answers' FINs in tcpdump", func() bool {
		return strings.Count(dump.String(), "Flags [FP.]") >= 5
	})
	type conn struct{ offered, synAck, largest int }
	conns := map[string]*conn{}
	at := func(port string) *conn {
		if conns[port] == nil {
			conns[port] = &conn{}
		}
		return conns[port]
	}
	for _, l := range strings.Split(dump.String(), "\n") {
		if f := segLine.FindStringSubmatch(l); f != nil {
			mss := 0
			if o := mssOpt.FindStringSubmatch(l); o != nil {
				var err error
				if mss, err = strconv.Atoi(o[1]); err != nil {
					t.Fatalf("an MSS tcpdump printed does not parse: %q", l)
				}
			}
			n, _ := strconv.Atoi(f[5])
			switch {
			case f[2] == "53" && f[4] == "S.": // ours: to f[3]
				at(f[3]).synAck = mss
			case f[2] == "53":
				at(f[3]).largest = max(at(f[3]).largest, n)
			case f[4] == "S": // the client's, from f[2]
				at(f[2]).offered = mss
			}
		}
	}
	big, full := 0, 0
	for port, c := range conns {
		if c.synAck != 1440 || c.offered == 0 || c.largest > min(c.offered, 1440) {
			t.Errorf("connection from port %s: offered %d, SYN-ACK %d, largest %d", port, c.offered, c.synAck, c.largest)
		}
		if c.largest > 100 { // a 2 KB answer: it fills segments of the MSS
			big++
			if c.largest != min(c.offered, 1440) {
				t.Errorf("connection from port %s: offered %d, largest %d", port, c.offered, c.largest)
			}
			if c.largest == 1440 {
				full++
			}
		}
	}
	// Three 2 KB answers (dig offers 1220, IPv6's minimum MTU; python3
	// the kernel's 1440), one 1440-byte segment: a 1514-byte frame.
	if len(conns) != 5 || big != 3 || full != 1 {
		t.Errorf("%d connections, %d with 2 KB answers, %d with 1440-byte segments; want 5, 3, 1:\n%s", len(conns), big, full, dump.String())
	}

	text := scrape(t, maddr)
	for _, r := range []string{"outside_prefix", "queue_full", "malformed", "not_query", "ratelimit", "inflight_full", "bad_checksum", "tcp_conns_full"} {
		want := map[string]float64{"outside_prefix": 1, "bad_checksum": 1}[r]
		if v := metric(t, text, "vswitch_dns_drops_total", `network="six",reason="`+r+`"`); v != want {
			t.Errorf("vswitch_dns_drops_total %s = %v, want %v", r, v, want)
		}
	}
	checkDrops(t, vs.ports()[g.dev].Drops, map[string]uint64{}, g.dev)
}

// syn6 is a TCP SYN from src:4053 to dst:53 over IPv6, its checksum
// broken when bad.
func syn6(smac, dmac pkt.MAC, src, dst netip.Addr, bad bool) []byte {
	b := make([]byte, 14+40+pkt.TCPMinLen)
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: dmac, Src: smac, Type: pkt.TypeIPv6})
	ip := pkt.IPv6(b[14:])
	ip.Encode(&pkt.IPv6Fields{PayloadLen: pkt.TCPMinLen, NextHeader: pkt.ProtoTCP, HopLimit: 64, Src: src, Dst: dst})
	tc := pkt.TCP(b[54:])
	tc.Encode(&pkt.TCPFields{SrcPort: 4053, DstPort: 53, Seq: 1, Flags: pkt.TCPFlagSYN, Window: 65535})
	tc.SetChecksum(ip.PseudoHeaderChecksum(pkt.ProtoTCP, pkt.TCPMinLen))
	if bad {
		b[54+16] ^= 0xff
	}
	return b
}
