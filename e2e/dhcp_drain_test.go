package e2e

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/testnet"
)

// dhcpSend sends hand-made DHCP messages from one port and reports the
// replies to them (python3's raw sockets; the frames are built by hand so
// nothing in the host stack smooths them over).
//
//	dev, Ethernet source MAC, seconds between messages, then one spec a
//	message: "type,client id hex,requested ip,ciaddr,server id,chaddr"
//	(empty fields are left out; chaddr defaults to the source MAC)
//
// Each message asks for a broadcast reply. It prints "ACK i ip" and
// "NAK i" per reply (i: the spec's index), then "SENT n" and "ELAPSED s"
// (the seconds the sending took), once the server has been quiet for 1.5 s.
const dhcpSend = pyCsum + `import socket, struct, sys, time, select, random
dev, src, gap = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), float(sys.argv[3])
specs = sys.argv[4:]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((dev, 0))
base = random.getrandbits(20) << 10
def build(i, spec):
    typ, cid, req, ci, sid, ch = (spec.split(",") + [""] * 6)[:6]
    chaddr = bytes.fromhex(ch.replace(":", "")) if ch else src
    o = bytes([53, 1, int(typ)])
    if cid: o += bytes([61, len(cid) // 2]) + bytes.fromhex(cid)
    if req: o += bytes([50, 4]) + socket.inet_aton(req)
    if sid: o += bytes([54, 4]) + socket.inet_aton(sid)
    ciaddr = socket.inet_aton(ci) if ci else bytes(4)
    return (struct.pack("!BBBBIHH", 1, 1, 6, 0, base + i, 0, 0x8000) + ciaddr + bytes(12) + chaddr + bytes(10) +
            bytes(192) + b"\x63\x82\x53\x63" + o + b"\xff")
def send(m):
    udp = struct.pack("!HHHH", 68, 67, 8 + len(m), 0) + m
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes(4), b"\xff" * 4)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    s.send(b"\xff" * 6 + src + b"\x08\x00" + ip + udp)
def replies(wait):
    while select.select([s], [], [], wait)[0]:
        d, a = s.recvfrom(4096)
        if a[2] == socket.PACKET_OUTGOING or len(d) < 14+20+8+240 or d[12:14] != b"\x08\x00" or d[23] != 17:
            continue
        h = 14 + (d[14] & 15) * 4
        m = d[h+8:]
        if struct.unpack("!H", d[h+2:h+4])[0] != 68 or m[0] != 2:
            continue
        i = struct.unpack("!I", m[4:8])[0] - base
        if not 0 <= i < len(specs):
            continue
        j, t = 240, None
        while j < len(m) and m[j] != 255:
            if m[j] == 0: j += 1; continue
            if m[j] == 53: t = m[j+2]
            j += 2 + m[j+1]
        if t == 5: print("ACK", i, socket.inet_ntoa(m[16:20]), flush=True)
        if t == 6: print("NAK", i, flush=True)
start = time.time()
for i, spec in enumerate(specs):
    send(build(i, spec))
    replies(0)
    if gap: time.sleep(gap)
elapsed = time.time() - start
replies(1.5)
print("SENT", len(specs), flush=True)
print("ELAPSED", "%.3f" % elapsed, flush=True)
`

// sendResult is what dhcpSend reported.
type sendResult struct {
	acks    map[int]string // spec index -> address
	naks    int
	sent    int
	elapsed float64
}

func runDHCPSend(t *testing.T, h *host, dev, src string, gap float64, specs []string) sendResult {
	t.Helper()
	out := h.Run("python3", append([]string{"-c", dhcpSend, dev, src, fmt.Sprint(gap)}, specs...)...)
	r := sendResult{acks: map[int]string{}}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 3 && f[0] == "ACK":
			i, _ := strconv.Atoi(f[1])
			r.acks[i] = f[2]
		case len(f) == 2 && f[0] == "NAK":
			r.naks++
		case len(f) == 2 && f[0] == "SENT":
			var err error
			if r.sent, err = strconv.Atoi(f[1]); err != nil {
				t.Fatalf("the sender's SENT line %q: %v", l, err)
			}
		case len(f) == 2 && f[0] == "ELAPSED":
			var err error
			if r.elapsed, err = strconv.ParseFloat(f[1], 64); err != nil {
				t.Fatalf("the sender's ELAPSED line %q: %v", l, err)
			}
		}
	}
	if r.sent != len(specs) {
		t.Fatalf("dhcpSend sent %d of %d:\n%s", r.sent, len(specs), out)
	}
	return r
}

// dhcpCounters are the server's counters the drain test follows.
type dhcpCounters map[string]float64

func readDHCPCounters(t *testing.T, addr string) dhcpCounters {
	t.Helper()
	text := scrape(t, addr)
	c := dhcpCounters{}
	for _, r := range []string{"rate_limited", "mac_lease_limit", "not_holder", "decline_out_of_range", "other_server", "malformed"} {
		c[r] = metric(t, text, "vswitch_dhcp_drops_total", `reason="`+r+`"`)
	}
	for _, typ := range []string{"request", "decline", "release", "discover", "ack"} {
		c[typ] = metric(t, text, "vswitch_dhcp_messages_total", `type="`+typ+`"`)
	}
	c["chaddr_spoofed"] = metric(t, text, "vswitch_gateway_drops_total", `network="lab",reason="chaddr_spoofed"`)
	return c
}

// sub is c - old, per counter.
func (c dhcpCounters) sub(old dhcpCounters) dhcpCounters {
	d := dhcpCounters{}
	for k, v := range c {
		d[k] = v - old[k]
	}
	return d
}

// leaseExpiry reads the expiry of mac's lease from `show leases --json`.
func (in *instance) leaseExpiry(mac string) time.Time {
	in.t.Helper()
	for _, l := range in.leaseList() {
		if l.MAC == mac {
			return l.Expiry
		}
	}
	in.t.Fatalf("no lease of %s", mac)
	return time.Time{}
}

// TestDHCPDrain: one guest tries to take its network's pool, and a
// neighbour's lease, from one port and one MAC (issue 13.3):
//   - INIT-REBOOT REQUESTs with a fresh client id each, asking for every
//     address of the range: the MAC gets 4 leases (max_leases_per_mac),
//     the rest are dropped as mac_lease_limit or, past 20 at once,
//     rate_limited; a new udhcpc gets the next address.
//   - DECLINEs: of its own 4 leases (quarantined, and still counted
//     against the MAC, so it gets no more), of every address of the range
//     under other client ids (not_holder), of addresses outside the range
//     (decline_out_of_range): a new udhcpc gets the next address.
//   - RELEASE of the neighbour's lease under its client id and address:
//     from the guest's own MAC (not_holder), or with the neighbour's chaddr
//     (the gateway's chaddr_spoofed): the lease stays in `show leases`,
//     and the neighbour renews it.
func TestDHCPDrain(t *testing.T) {
	requireE2E(t, "python3", "udhcpc")
	bad, victim, good1, good2 := newHost(t, "xb"), newHost(t, "xv"), newHost(t, "xg"), newHost(t, "xh")
	pb, pv, pg1, pg2 := testnet.Name("x"), testnet.Name("x"), testnet.Name("x"), testnet.Name("x")
	addr := freeAddr(t)
	vs := startVswitch(t, fmt.Sprintf("metrics: %q\n", addr)+tapPorts([]string{pb, pv, pg1, pg2}, bad, victim, good1, good2)+`networks:
  - name: lab
    address: 10.224.0.1/24
    dhcp: {range: 10.224.0.10-10.224.0.29}
`)
	const gw = "10.224.0.1"
	vIP := dhcpClient(t, "udhcpc", victim, pv)
	if vIP != "10.224.0.10" {
		t.Fatalf("victim leased %s, want 10.224.0.10", vIP)
	}
	vMAC := victim.mac(pv)
	vExpiry := vs.leaseExpiry(vMAC)
	bad.Run("ip", "link", "set", pb, "up")
	src := bad.mac(pb)
	c0 := readDHCPCounters(t, addr)

	// 1. Fresh client ids, INIT-REBOOT, one after another at once.
	const n1 = 40
	var specs []string
	for i := range n1 {
		specs = append(specs, fmt.Sprintf("3,ff%04x,10.224.0.%d,,,", i, 11+i%19))
	}
	r := runDHCPSend(t, bad, pb, src, 0, specs)
	wantAcks := map[int]string{0: "10.224.0.11", 1: "10.224.0.12", 2: "10.224.0.13", 3: "10.224.0.14"}
	if !maps.Equal(r.acks, wantAcks) || r.naks != 0 {
		t.Fatalf("client-id drain: ACKs %v, %d NAKs; want exactly %v", r.acks, r.naks, wantAcks)
	}
	var d dhcpCounters
	testnet.WaitFor(t, 10*time.Second, "every REQUEST counted", func() bool {
		d = readDHCPCounters(t, addr).sub(c0)
		return d["request"]+d["rate_limited"] >= n1
	})
	// Every message is either limited by rate or served; of those served,
	// 4 got leases and the rest were over the MAC's limit.
	if d["request"]+d["rate_limited"] != n1 || d["mac_lease_limit"] != d["request"]-4 || d["ack"] != 4 {
		t.Fatalf("client-id drain: counters %v; want request+rate_limited = %d, mac_lease_limit = request-4, 4 ACKs", d, n1)
	}
	// The burst is 20, then 10 a second: sent within half a second (and
	// served within a second, however late the gateway gets to them),
	// at most 30 pass.
	if r.elapsed < 0.5 && d["request"] > 30 {
		t.Fatalf("client-id drain: %v of %d REQUESTs sent in %.3fs served, want at most 30", d["request"], n1, r.elapsed)
	}
	t.Logf("client-id drain: %d REQUESTs in %.3fs: %v served (4 ACKs, %v mac_lease_limit), %v rate_limited",
		n1, r.elapsed, d["request"], d["mac_lease_limit"], d["rate_limited"])
	want := map[leaseKey]string{{"lab", vMAC, vIP}: "bound"}
	for _, ip := range wantAcks {
		want[leaseKey{"lab", src, ip}] = "bound"
	}
	if got := vs.leases(); !maps.Equal(got, want) {
		t.Fatalf("leases after the client-id drain: %v, want %v", got, want)
	}
	if ip := dhcpClient(t, "udhcpc", good1, pg1); ip != "10.224.0.15" {
		t.Fatalf("honest client after the client-id drain got %s, want 10.224.0.15", ip)
	}
	want[leaseKey{"lab", good1.mac(pg1), "10.224.0.15"}] = "bound"

	// 2. DECLINEs, paced under the rate (20 a second, the bucket never
	// empties).
	sleep(2100) // the bucket refills
	c1 := readDHCPCounters(t, addr)
	specs = specs[:0]
	for i := range 4 { // its own leases, as their holder
		specs = append(specs, fmt.Sprintf("4,ff%04x,10.224.0.%d,,%s", i, 11+i, gw))
	}
	for i := range 20 { // every address of the range under client ids that hold none
		specs = append(specs, fmt.Sprintf("4,ee%04x,10.224.0.%d,,%s", i, 10+i, gw))
	}
	specs = append(specs, "4,ee0100,10.224.0.200,,"+gw, "4,ee0101,"+gw+",,"+gw) // outside the range
	// Declined addresses still count against the MAC: no new lease.
	specs = append(specs, "3,dd0001,10.224.0.20,,,", "1,dd0002,,,,")
	r = runDHCPSend(t, bad, pb, src, 0.05, specs)
	if len(r.acks) != 0 || r.naks != 0 {
		t.Fatalf("decline drain: ACKs %v, %d NAKs", r.acks, r.naks)
	}
	testnet.WaitFor(t, 10*time.Second, "every DECLINE counted", func() bool {
		d = readDHCPCounters(t, addr).sub(c1)
		return d["decline"] >= 26 && d["mac_lease_limit"] >= 2
	})
	wantD := dhcpCounters{"decline": 26, "not_holder": 20, "decline_out_of_range": 2, "mac_lease_limit": 2, "rate_limited": 0,
		"request": 1, "discover": 1, "ack": 0}
	for k, v := range wantD {
		if d[k] != v {
			t.Errorf("decline drain: %s %v, want %v (all: %v)", k, d[k], v, d)
		}
	}
	for _, ip := range wantAcks {
		delete(want, leaseKey{"lab", src, ip})
	}
	if got := vs.leases(); !maps.Equal(got, want) {
		t.Fatalf("leases after the decline drain: %v, want %v", got, want)
	}
	// The next address: .11-.14 are quarantined, .15 is taken.
	if ip := dhcpClient(t, "udhcpc", good2, pg2); ip != "10.224.0.16" {
		t.Fatalf("honest client after the decline drain got %s, want 10.224.0.16", ip)
	}
	want[leaseKey{"lab", good2.mac(pg2), "10.224.0.16"}] = "bound"

	// 3. RELEASE of the victim's lease: busybox udhcpc's client id is 01
	// and the MAC.
	c2 := readDHCPCounters(t, addr)
	vCID := "01" + strings.ReplaceAll(vMAC, ":", "")
	specs = []string{
		"7," + vCID + ",," + vIP + "," + gw,              // its client id and address, from the guest's MAC
		"7,,," + vIP + "," + gw,                          // its address alone
		"7," + vCID + ",," + vIP + "," + gw + "," + vMAC, // and its chaddr too
	}
	runDHCPSend(t, bad, pb, src, 0.05, specs)
	testnet.WaitFor(t, 10*time.Second, "every RELEASE counted", func() bool {
		d = readDHCPCounters(t, addr).sub(c2)
		return d["not_holder"]+d["chaddr_spoofed"] >= 3
	})
	if d["release"] != 2 || d["not_holder"] != 2 || d["chaddr_spoofed"] != 1 {
		t.Errorf("spoofed release: %v; want 2 RELEASEs served, both not_holder, 1 chaddr_spoofed at the gateway", d)
	}
	if got := vs.leases(); !maps.Equal(got, want) {
		t.Fatalf("leases after the spoofed RELEASEs: %v, want %v (the victim's still bound)", got, want)
	}
	// The victim renews its address.
	sleep(1100) // a second later: the new expiry differs
	if ip := dhcpClient(t, "udhcpc", victim, pv); ip != vIP {
		t.Fatalf("victim renewed to %s, had %s", ip, vIP)
	}
	if e := vs.leaseExpiry(vMAC); !e.After(vExpiry) {
		t.Fatalf("victim's lease expires %v, before the renewal %v", e, vExpiry)
	}
	if got := vs.leases(); !maps.Equal(got, want) {
		t.Fatalf("leases at the end: %v, want %v", got, want)
	}
}
