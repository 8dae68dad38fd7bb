package e2e

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vswitch/vswitch/internal/pkt"
	"github.com/vswitch/vswitch/internal/testnet"
)

// The multicast tests: hosts join with the kernel's own IGMP (`ip addr add
// GROUP autojoin`), a sender's stream is crafted on an AF_PACKET socket,
// and what each host receives is read by tcpdump on its interface.

type mdbRow struct {
	VLAN   uint16 `json:"vlan"`
	Group  string `json:"group"`
	Port   string `json:"port"`
	Router bool   `json:"router"`
}

func (in *instance) mdb() []mdbRow {
	in.t.Helper()
	var out []mdbRow
	in.showJSON("mdb", &out)
	return out
}

// groupsOf counts port's memberships in the MDB.
func groupsOf(rows []mdbRow, port string) int {
	n := 0
	for _, r := range rows {
		if r.Port == port && !r.Router {
			n++
		}
	}
	return n
}

// join makes h's port dev a member of group (`ip addr add GROUP/32 dev
// DEV autojoin`) and, with snooping on, waits until its report is in the
// MDB of vs.
func join(t *testing.T, vs *instance, h *host, dev string, group netip.Addr, snooping bool) {
	t.Helper()
	h.Run("ip", "addr", "add", group.String()+"/32", "dev", dev, "autojoin")
	if snooping {
		testnet.WaitFor(t, 10*time.Second, "the member's report in the MDB", func() bool {
			return member(vs.mdb(), dev, group.String())
		})
	}
}

// member reports whether port is in group.
func member(rows []mdbRow, port, group string) bool {
	for _, r := range rows {
		if r.Port == port && r.Group == group {
			return true
		}
	}
	return false
}

const (
	streamPort   = 5000
	sentinelPort = 5999
)

// udpWatch is tcpdump on a host's interface, printing the UDP datagrams to
// the stream's and the sentinel's ports that arrive.
type udpWatch struct {
	h   *host
	out *lockedBuffer
}

func watchUDP(t *testing.T, h *host, dev string) *udpWatch {
	t.Helper()
	cmd := h.Command(t.Context(), "tcpdump", "-i", dev, "-n", "-l", "-Q", "in",
		fmt.Sprintf("udp and (dst port %d or dst port %d)", streamPort, sentinelPort))
	w := &udpWatch{h: h, out: startProcess(t, "tcpdump in "+h.Name, cmd)}
	testnet.WaitFor(t, 10*time.Second, "tcpdump listening in "+h.Name, func() bool {
		return strings.Contains(w.out.String(), "listening on")
	})
	return w
}

// count waits for the sentinel, then returns how many stream datagrams
// came before it.
func (w *udpWatch) count(t *testing.T) int {
	t.Helper()
	sentinel := fmt.Sprintf(".%d: UDP", sentinelPort)
	testnet.WaitFor(t, 10*time.Second, "the sentinel in "+w.h.Name, func() bool {
		return strings.Contains(w.out.String(), sentinel)
	})
	before, _, _ := strings.Cut(w.out.String(), sentinel)
	return strings.Count(before, fmt.Sprintf(".%d: UDP", streamPort))
}

// sendStream sends n UDP datagrams to group from h (MAC src, address sip)
// and then the sentinel, a broadcast every port gets.
func sendStream(t *testing.T, raw *testnet.Raw, src pkt.MAC, sip, group netip.Addr, n int) {
	t.Helper()
	for i := range n {
		raw.Send(rawUDPPorts(pkt.MulticastMAC(group), src, sip, group, 40000, streamPort, fmt.Sprintf("datagram %d", i)))
		time.Sleep(time.Millisecond) // a stream, not a burst that a queue would cut
	}
	bcast := netip.AddrFrom4([4]byte{255, 255, 255, 255})
	raw.Send(rawUDPPorts(pkt.Broadcast, src, sip, bcast, 40000, sentinelPort, "sentinel"))
}

// TestMulticastSnooping: a host that joined 239.1.2.3 gets exactly the N
// datagrams sent to it; a host that did not join sees none of them before
// the sentinel broadcast; with multicast_snooping false it sees all N (the
// positive control that the stream does flood without snooping).
func TestMulticastSnooping(t *testing.T) {
	requireE2E(t, "tcpdump")
	const n = 20
	group := netip.MustParseAddr("239.1.2.3")
	for _, snoop := range []bool{true, false} {
		t.Run(fmt.Sprintf("snooping %v", snoop), func(t *testing.T) {
			vs, h, p := guests(t, "m", "10.235.0", 1, 3, fmt.Sprintf("multicast_snooping: %v\n", snoop))
			m, x, s := h[0], h[1], h[2]
			pm, px, ps := p[0], p[1], p[2]
			join(t, vs, m, pm, group, snoop)
			if snoop {
				if rows := vs.mdb(); groupsOf(rows, px) != 0 || groupsOf(rows, ps) != 0 {
					t.Fatalf("MDB holds non-members: %+v", rows)
				}
			} else if rows := vs.mdb(); len(rows) != 0 {
				t.Fatalf("snooping off, yet an MDB: %+v", rows)
			}
			wm, wx := watchUDP(t, m, pm), watchUDP(t, x, px)
			raw := testnet.OpenRaw(t, s.Netns, ps)
			sendStream(t, raw, mustMAC(t, s.mac(ps)), netip.MustParseAddr("10.235.0.13"), group, n)
			if got := wm.count(t); got != n {
				t.Errorf("the member got %d datagrams, want %d", got, n)
			}
			want := 0
			if !snoop {
				want = n
			}
			if got := wx.count(t); got != want {
				t.Errorf("the non-member got %d datagrams, want %d", got, want)
			}
		})
	}
}

// igmpV3Join is an IGMPv3 report from src joining groups (EXCLUDE {}).
func igmpV3Join(src pkt.MAC, sip netip.Addr, groups []netip.Addr) []byte {
	msg := make([]byte, 8, 8+8*len(groups))
	msg[0] = pkt.IGMPv3Report
	binary.BigEndian.PutUint16(msg[6:], uint16(len(groups)))
	for _, g := range groups {
		a := g.As4()
		msg = append(msg, pkt.RecordToExclude, 0, 0, 0, a[0], a[1], a[2], a[3])
	}
	return igmpPacket(src, sip, netip.MustParseAddr("224.0.0.22"), msg)
}

// igmpPacket wraps the IGMP message msg from src (address sip) to dst,
// filling in its checksum.
func igmpPacket(src pkt.MAC, sip, dst netip.Addr, msg []byte) []byte {
	binary.BigEndian.PutUint16(msg[2:], ^pkt.Checksum(msg, 0))
	b := make([]byte, pkt.EthernetLen+pkt.IPv4MinLen+len(msg))
	pkt.Ethernet(b).Encode(&pkt.EthernetFields{Dst: pkt.MulticastMAC(dst), Src: src, Type: pkt.TypeIPv4})
	pkt.IPv4(b[pkt.EthernetLen:]).Encode(&pkt.IPv4Fields{TotalLen: uint16(pkt.IPv4MinLen + len(msg)), TTL: 1,
		Protocol: pkt.ProtoIGMP, Src: sip, Dst: dst})
	copy(b[pkt.EthernetLen+pkt.IPv4MinLen:], msg)
	return b
}

// TestMulticastGroupLimit: a guest that reports 10,000 groups (raw IGMPv3
// reports of 100 records) holds exactly the default max_groups, 256, and
// every other record is a counted mdb_limit refusal; an honest member on
// the same network still joins and gets its stream, and a non-member does
// not.
func TestMulticastGroupLimit(t *testing.T) {
	requireE2E(t, "tcpdump")
	const n, groups, perReport, limit = 10, 10000, 100, 256
	group := netip.MustParseAddr("239.1.2.3")
	vs, h, p := guests(t, "l", "10.236.0", 1, 3, "")
	g, m, x := h[0], h[1], h[2]
	pg, pm, px := p[0], p[1], p[2]

	raw := testnet.OpenRaw(t, g.Netns, pg)
	gmac, gip := mustMAC(t, g.mac(pg)), netip.MustParseAddr("10.236.0.11")
	for r := range groups / perReport {
		var list []netip.Addr
		for i := range perReport {
			k := r*perReport + i
			list = append(list, netip.AddrFrom4([4]byte{239, 100, byte(k >> 8), byte(k)}))
		}
		raw.Send(igmpV3Join(gmac, gip, list))
		time.Sleep(time.Millisecond)
	}
	testnet.WaitFor(t, 10*time.Second, "every record counted", func() bool {
		p := vs.ports()[pg]
		return p.RxPackets >= groups/perReport && groupsOf(vs.mdb(), pg)+int(p.Drops["mdb_limit"]) >= groups
	})
	if got := groupsOf(vs.mdb(), pg); got != limit {
		t.Errorf("the guest holds %d groups, want %d", got, limit)
	}
	if got := vs.ports()[pg].Drops["mdb_limit"]; got != groups-limit {
		t.Errorf("mdb_limit = %d, want %d", got, groups-limit)
	}

	join(t, vs, m, pm, group, true)
	wm, wx := watchUDP(t, m, pm), watchUDP(t, x, px)
	sendStream(t, raw, gmac, gip, group, n)
	if got := wm.count(t); got != n {
		t.Errorf("the member got %d datagrams, want %d", got, n)
	}
	if got := wx.count(t); got != 0 {
		t.Errorf("the non-member got %d datagrams, want 0", got)
	}
	if got := groupsOf(vs.mdb(), pg); got != limit {
		t.Errorf("after the stream the guest holds %d groups, want %d", got, limit)
	}
}

// TestMulticastGuestQuery: a guest (a TAP port, multicast_router never by
// default) that sends IGMP general queries from an address below the
// gateway's does not become a router port: each query is dropped and
// counted as mcast_query_guest, and the
// guest still gets none of a stream it did not join, while the honest
// member gets all of it.
func TestMulticastGuestQuery(t *testing.T) {
	requireE2E(t, "tcpdump")
	const n, queries = 10, 5
	group := netip.MustParseAddr("239.1.2.3")
	vs, h, p := guests(t, "q", "10.237.0", 20, 3, "")
	q, m, s := h[0], h[1], h[2]
	pq, pm, ps := p[0], p[1], p[2]
	join(t, vs, m, pm, group, true)

	raw := testnet.OpenRaw(t, q.Netns, pq)
	qmac, qip := mustMAC(t, q.mac(pq)), netip.MustParseAddr("10.237.0.11")
	all := netip.MustParseAddr("224.0.0.1")
	for range queries {
		// An IGMPv2 general query, 10 s to answer.
		raw.Send(igmpPacket(qmac, qip, all, []byte{pkt.IGMPQuery, 100, 0, 0, 0, 0, 0, 0}))
	}
	testnet.WaitFor(t, 10*time.Second, "the guest's queries counted", func() bool {
		return vs.ports()[pq].Drops["mcast_query_guest"] >= queries
	})
	for _, r := range vs.mdb() {
		if r.Router && r.Port == pq {
			t.Errorf("the guest's port is a router port: %+v", r)
		}
	}
	wq, wm := watchUDP(t, q, pq), watchUDP(t, m, pm)
	sendStream(t, testnet.OpenRaw(t, s.Netns, ps), mustMAC(t, s.mac(ps)), netip.MustParseAddr("10.237.0.13"), group, n)
	if got := wm.count(t); got != n {
		t.Errorf("the member got %d datagrams, want %d", got, n)
	}
	if got := wq.count(t); got != 0 {
		t.Errorf("the querying guest got %d datagrams, want 0", got)
	}
	if got := vs.ports()[pq].Drops["mcast_query_guest"]; got != queries {
		t.Errorf("mcast_query_guest = %d, want %d", got, queries)
	}
}

// guests starts vswitch (with the top-level keys top) with n TAP ports
// into hosts at NET.11, NET.12, .../24 and a network lab whose gateway is
// NET.GW.
func guests(t *testing.T, tag, net string, gw, n int, top string) (*instance, []*host, []string) {
	t.Helper()
	h, p := make([]*host, n), make([]string, n)
	for i := range h {
		h[i], p[i] = newHost(t, tag+"h"), testnet.Name(tag)
	}
	vs := startVswitch(t, top+tapPorts(p, h...)+fmt.Sprintf("networks:\n  - name: lab\n    address: %s.%d/24\n", net, gw))
	for i := range h {
		h[i].addr(p[i], fmt.Sprintf("%s.%d/24", net, 11+i))
	}
	return vs, h, p
}

// batchNetns makes n namespaces with one `ip -batch` (a few hundred
// `ip netns add` would take seconds) and deletes them at cleanup.
func batchNetns(t *testing.T, tag string, n int) []string {
	t.Helper()
	var names []string
	var add, del strings.Builder
	for range n {
		name := testnet.Name(tag)
		names = append(names, name)
		fmt.Fprintf(&add, "netns add %s\n", name)
		fmt.Fprintf(&del, "netns del %s\n", name)
	}
	dir := t.TempDir()
	addPath, delPath := filepath.Join(dir, "add"), filepath.Join(dir, "del")
	if err := os.WriteFile(addPath, []byte(add.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(delPath, []byte(del.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testnet.Output("ip", "-force", "-batch", delPath) })
	testnet.Run(t, "ip", "-batch", addPath)
	return names
}

// TestMulticastStartupBurst: the start-up burst of issue 21. vswitch
// starts with N TAP ports into namespaces with IPv6 on; each host joins
// its solicited-node group (an MLD report), probes its address (DAD, to
// that group) and solicits routers (ff02::2). Without snooping each of
// those frames floods to every other guest: thousands of deliveries, at
// least one per pair of hosts. With snooping, reports go to the router
// ports (the gateway), the DAD probe to the group only its sender joined
// (so to the gateway) and the solicitation to ff02::2, which no guest
// joined (the gateway again). What a guest still gets is the gateway's own
// start: its gratuitous ARP and its first IGMP and MLD general queries,
// three frames. Deliveries are counted at the switch on the guest ports
// (tx_packets, plus tx_error for a TAP whose host side is not up yet and
// queue_full for a queue the burst overran), from the start until every
// host's link-local address has left DAD.
func TestMulticastStartupBurst(t *testing.T) {
	requireE2E(t)
	const n = 200
	b := newBurst(t, "mb", "b", n)
	burst := func(snoop bool) uint64 {
		var cfg strings.Builder
		fmt.Fprintf(&cfg, "multicast_snooping: %v\nports:\n", snoop)
		b.ports(&cfg)
		cfg.WriteString("networks:\n  - name: lab\n    address: 10.238.0.1/24\n")
		vs := startVswitch(t, cfg.String())
		defer vs.stop()
		sum := b.deliveries(t, vs)
		t.Logf("snooping %v: RSS %.1f MiB after the burst (race detector: %v)", snoop, rssMiB(t, vs.cmd.Process.Pid), raceEnabled)
		return sum
	}
	on, off := burst(true), burst(false)
	t.Logf("%d IPv6 hosts starting: %d frames to guest ports with snooping, %d without", n, on, off)
	if off < n*(n-1) {
		t.Errorf("without snooping only %d deliveries, want at least %d (one a pair of hosts)", off, n*(n-1))
	}
	if on > 3*n {
		t.Errorf("with snooping %d deliveries to guests, want at most %d (the gateway's ARP and two queries each)", on, 3*n)
	}
}

// startBurst is n namespaces with IPv6 on and a TAP port name for each,
// for a vswitch that starts with them all.
type startBurst struct {
	hosts     []string
	names     []string
	tentative string // a script listing the addresses still in DAD
}

func newBurst(t *testing.T, tag, portTag string, n int) *startBurst {
	b := &startBurst{hosts: batchNetns(t, tag, n)}
	var tentative strings.Builder
	for _, h := range b.hosts {
		p := testnet.Name(portTag)
		b.names = append(b.names, p)
		fmt.Fprintf(&tentative, "ip -n %s -6 addr show dev %s tentative\n", h, p)
	}
	b.tentative = tentative.String()
	return b
}

// ports writes the ports' config lines.
func (b *startBurst) ports(cfg *strings.Builder) {
	for i, h := range b.hosts {
		fmt.Fprintf(cfg, "  - {name: %s, type: tap, netns: %s}\n", b.names[i], h)
	}
}

// deliveries waits until every host has left DAD and returns the frames
// the switch delivered to the ports meanwhile (tx_packets, plus tx_error
// for a TAP whose host side is not up yet and queue_full for a queue the
// burst overran).
func (b *startBurst) deliveries(t *testing.T, vs *instance) uint64 {
	t.Helper()
	testnet.WaitFor(t, 20*time.Second, "every host past DAD", func() bool {
		out, err := testnet.Output("sh", "-ec", b.tentative)
		return err == nil && !strings.Contains(out, "inet6")
	})
	var sum uint64
	st := vs.ports()
	for _, p := range b.names {
		sum += st[p].TxPackets + st[p].Drops["tx_error"] + st[p].Drops["queue_full"]
	}
	return sum
}

// TestMulticastIPv6Neighbours: with snooping on, IPv6 hosts still find
// each other: a's neighbour solicitation for b goes to b's solicited-node
// group, which b reported when its address came up, so b gets it (and
// only b: the MDB holds the group on b's port alone). The link-local ping
// is the real client.
func TestMulticastIPv6Neighbours(t *testing.T) {
	requireE2E(t, "ping")
	a, b := testnet.NewNetns(t, "n6a"), testnet.NewNetns(t, "n6b")
	pa, pb := testnet.Name("n"), testnet.Name("n")
	vs := startVswitch(t, fmt.Sprintf(`ports:
  - {name: %s, type: tap, netns: %s}
  - {name: %s, type: tap, netns: %s}
networks:
  - name: lab
    address: 10.239.0.1/24
`, pa, a.Name, pb, b.Name))
	var ll string
	testnet.WaitFor(t, 10*time.Second, "b's link-local address past DAD", func() bool {
		out, _ := b.Output("ip", "-6", "-o", "addr", "show", "dev", pb, "scope", "link")
		f := strings.Fields(out)
		if len(f) < 4 || strings.Contains(out, "tentative") {
			return false
		}
		ll, _, _ = strings.Cut(f[3], "/")
		return true
	})
	a16 := netip.MustParseAddr(ll).As16()
	sol := netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 11: 1, 12: 0xff, 13: a16[13], 14: a16[14], 15: a16[15]}).String()
	testnet.WaitFor(t, 10*time.Second, "b's solicited-node group in the MDB", func() bool { return member(vs.mdb(), pb, sol) })
	for _, r := range vs.mdb() {
		if r.Group == sol && r.Port != pb {
			t.Fatalf("%s also on %s: %+v", sol, r.Port, vs.mdb())
		}
	}
	out, err := a.Output("ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", ll+"%"+pa)
	if !strings.Contains(out, "3 packets transmitted, 3 received") {
		t.Fatalf("a pinged b's %s: %v\n%s", ll, err, out)
	}
}
