package tap

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vswitch/vswitch/internal/label"
	"github.com/vswitch/vswitch/internal/pkt"
	vswitch "github.com/vswitch/vswitch/switch"
)

// VXLANConfig describes a VXLAN tunnel port (RFC 7348).
type VXLANConfig struct {
	Name    string
	Local   netip.Addr        // underlay address the socket binds; unspecified: any
	Port    uint16            // UDP port, ours and the remotes'; 0: 4789
	VNIs    map[uint16]uint32 // VLAN -> VNI: the VLANs the port carries
	Remotes []netip.Addr      // static VTEPs: unicast targets and head-end replication list
	Netns   string            // "": this namespace; else the netns whose underlay the socket uses
	MaxMACs int               // bound of the remote-MAC table; 0: 8192
	Ageing  time.Duration     // remote-MAC ageing; 0: 300 s

	conn *net.UDPConn // a handed-over socket (AdoptVXLAN); nil: bind one
}

// VXLANDrop says why the tunnel dropped a packet.
type VXLANDrop uint8

const (
	VXLANMalformed   VXLANDrop = iota // too short, or no I flag
	VXLANUnknownVTEP                  // from an address that is not a configured remote
	VXLANUnknownVNI                   // a VNI this port does not map to a VLAN
	VXLANNotCarried                   // egress frame untagged or on a VLAN with no VNI
	VXLANTableFull                    // a remote MAC not learned: table full (frames to it are replicated)
	VXLANTxError                      // the socket refused a packet (path MTU: DF is set)
	VXLANBadOffload                   // an egress super-frame or partial checksum that does not parse
	NumVXLANDrops
)

var vxlanDropNames = [NumVXLANDrops]string{
	VXLANMalformed:   "malformed",
	VXLANUnknownVTEP: "unknown_vtep",
	VXLANUnknownVNI:  "unknown_vni",
	VXLANNotCarried:  "not_carried",
	VXLANTableFull:   "vtep_table_full",
	VXLANTxError:     "tx_error",
	VXLANBadOffload:  "bad_offload",
}

// String is the metric label value.
func (r VXLANDrop) String() string { return label.Of(vxlanDropNames[:], r) }

// vxTxMsgs is how many datagrams one sendmmsg carries: a batch of frames,
// some replicated to every remote.
const vxTxMsgs = 256

// vxRawHdrLen is what a raw send writes before the inner frame.
const vxRawHdrLen = pkt.IPv4MinLen + pkt.UDPLen + pkt.VXLANLen

// VXLAN is a tunnel port: frames of the port's VLANs leave as UDP
// datagrams to remote VTEPs and come back the same way. Outer headers are
// the kernel's (a UDP socket): no privilege needed. The inner frame is
// sent from the switch's buffer with scatter-gather (VXLAN header, MACs,
// the rest after the 802.1Q tag): no copy.
type VXLAN struct {
	name   string
	conn   *net.UDPConn
	rc     syscall.RawConn
	raw    *os.File        // IPPROTO_RAW socket for sending, when privileged; nil: send on conn
	wc     syscall.RawConn // the sending socket
	local  netip.Addr      // the bound address; on raw sends the outer source (0.0.0.0: the kernel picks)
	port   uint16
	vniOf  [4096]uint32               // by VID; 0: not carried
	vidOf  map[uint32]uint16          // by VNI
	static []uint32                   // configured remotes: every VNI floods to them
	peers  atomic.Pointer[vxlanPeers] // static plus what a control plane (EVPN) added
	vteps  *vtepTable

	rd mmsgReader

	wmsgs [vxTxMsgs]mmsghdr
	wiov  [vxTxMsgs][3]unix.Iovec
	wname [vxTxMsgs]unix.RawSockaddrInet4
	whdr  [vxTxMsgs][vxRawHdrLen]byte // outer IPv4 + UDP (raw sends only) + VXLAN
	wsock [vxTxMsgs]uint8             // the socket each message goes on (sendSock)
	wsegs [vxTxMsgs]uint16            // datagrams each message makes
	wctl  [vxTxMsgs][24]byte          // UDP_SEGMENT (CmsgSpace(2) on 64-bit), for runs
	wn    int                         // messages prepared
	wi    int                         // messages sent
	ws    mmsgSender

	gso    bool // UDP_SEGMENT works: offload frames are taken and sent as runs
	fsocks [vxFlowSocks]flowSock
	arena  *vxArena // pooled, only while a WriteBatch with offload frames runs
	aoff   int      // arena bytes in use
	g      gsoMsg
	eerr   error     // a send failed while the segmenter was emitting
	uni    [1]uint32 // the destinations of a unicast frame
	emitFn func(*vswitch.Frame)

	closed atomic.Bool
	drops  [NumVXLANDrops]atomic.Uint64
}

var _ vswitch.Port = (*VXLAN)(nil)

// OpenVXLAN binds the tunnel's UDP socket (in cfg.Netns when set).
func OpenVXLAN(cfg VXLANConfig) (*VXLAN, error) {
	v := &VXLAN{name: cfg.Name, port: cfg.Port, vidOf: make(map[uint32]uint16, len(cfg.VNIs))}
	if v.port == 0 {
		v.port = pkt.VXLANPort
	}
	for vid, vni := range cfg.VNIs {
		if vid == 0 || vid > 4094 || vni == 0 || vni > pkt.VXLANMaxVNI {
			return nil, fmt.Errorf("vxlan %s: VLAN %d -> VNI %d out of range", cfg.Name, vid, vni)
		}
		v.vniOf[vid], v.vidOf[vni] = vni, vid
	}
	for _, r := range cfg.Remotes {
		if !r.Is4() {
			return nil, fmt.Errorf("vxlan %s: remote %s: only IPv4 underlays are supported", cfg.Name, r)
		}
		v.static = append(v.static, addr4(r))
	}
	v.peers.Store(newPeers(v.static, nil))
	maxMACs, ageing := cfg.MaxMACs, int64(cfg.Ageing/time.Second)
	if maxMACs == 0 {
		maxMACs = 8192
	}
	if ageing == 0 {
		ageing = 300
	}
	v.vteps = newVTEPTable(maxMACs, ageing)
	local := cfg.Local
	if !local.IsValid() {
		local = netip.IPv4Unspecified()
	}
	err := inNetns(cfg.Netns, func() error {
		var err error
		if v.conn = cfg.conn; v.conn != nil {
			return nil
		}
		v.conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, v.port)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("vxlan %s: %w", cfg.Name, err)
	}
	if v.rc, err = v.conn.SyscallConn(); err != nil {
		v.conn.Close()
		return nil, fmt.Errorf("vxlan %s: %w", cfg.Name, err)
	}
	var serr error
	v.rc.Control(func(fd uintptr) {
		// DF on every datagram (RFC 7348 section 4.3): a frame too long for
		// the path is refused here and counted, never fragmented.
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
		for _, o := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[0], 4<<20) != nil {
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[1], 4<<20)
			}
		}
	})
	if serr != nil {
		v.conn.Close()
		return nil, fmt.Errorf("vxlan %s: IP_MTU_DISCOVER: %w", cfg.Name, serr)
	}
	v.wc, v.local = v.rc, local
	// With CAP_NET_RAW the outer headers are ours, so each inner flow gets
	// its own UDP source port (RFC 7348: entropy for ECMP in the underlay),
	// as Linux's and OVS's VTEPs do. Without it, one port for all.
	if err := inNetns(cfg.Netns, v.openRaw); err != nil {
		v.raw = nil
	}
	for i := range v.wname {
		v.wname[i].Family = unix.AF_INET
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&v.wname[i].Port))[:], v.port)
	}
	v.rd.prefix, v.rd.named, v.rd.stamp = pkt.VXLANLen, true, true
	v.rd.runt, v.rd.oversize, v.rd.decode = &v.drops[VXLANMalformed], &v.drops[VXLANMalformed], v.decap
	v.rd.init(v.rc)
	v.emitFn = v.emitSeg
	// EMSGSIZE (DF and a frame over the path MTU; EINVAL for a run), an
	// unreachable remote: count the datagrams and go on with the rest.
	v.ws.refused = func(i int) { v.drops[VXLANTxError].Add(uint64(v.wsegs[v.wi+i])) }
	v.openGSO(cfg.Netns)
	return v, nil
}

func (v *VXLAN) openRaw() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return err
	}
	for _, o := range [][2]int{{unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, o[0], 4<<20) != nil {
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, o[1], 4<<20)
		}
	}
	f := os.NewFile(uintptr(fd), "vxlan-raw")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return err
	}
	v.raw, v.wc = f, rc
	return nil
}

// Name is the port name.
func (v *VXLAN) Name() string { return v.name }

// Features: with UDP GSO, super-frames and partial checksums come whole
// (writeOffload segments them into one send); without it the switch
// finishes them before they reach the tunnel.
func (v *VXLAN) Features() vswitch.Features {
	if v.gso {
		return vswitch.FeatVNetHdr
	}
	return 0
}

// Drops are the tunnel's own drop counters by reason.
func (v *VXLAN) Drops() (d [NumVXLANDrops]uint64) {
	label.Load(d[:], v.drops[:])
	return d
}

// Counters are the tunnel's drops by reason, for `show ports` and
// vswitch_port_driver_total.
func (v *VXLAN) Counters() map[string]uint64 {
	out := make(map[string]uint64, NumVXLANDrops)
	for r := range NumVXLANDrops {
		out[r.String()] = v.drops[r].Load()
	}
	return out
}

// RemoteOf is the VTEP behind which mac on vid was last seen, for `show fdb`.
func (v *VXLAN) RemoteOf(vid uint16, mac pkt.MAC) (netip.Addr, bool) {
	a, ok := v.vteps.lookup(vid, mac, time.Now().Unix())
	if !ok {
		return netip.Addr{}, false
	}
	return fromAddr4(a), true
}

// Remotes lists the learned remote MACs and their VTEPs.
func (v *VXLAN) Remotes() []VTEPEntry { return v.vteps.entries(time.Now().Unix()) }

// ReadBatch implements vswitch.Port: each datagram's inner frame, with its
// VNI's VLAN as an out-of-band tag.
func (v *VXLAN) ReadBatch(frames []*vswitch.Frame) (int, error) {
	n, err := v.rd.read(frames)
	return n, closedErr("vxlan", v.name, v.closed.Load(), err)
}

// decap checks datagram i of the last read (n bytes after its VXLAN
// header) and turns its slot's frame into the inner frame.
func (v *VXLAN) decap(i, n int) (*vswitch.Frame, bool) {
	f := v.rd.frames[v.rd.n+i]
	hdr := pkt.VXLAN(v.rd.hdr[i][:pkt.VXLANLen])
	if !hdr.Valid() {
		v.drops[VXLANMalformed].Add(1)
		return f, false
	}
	src := v.rd.source(i)
	if !v.isRemote(src) {
		v.drops[VXLANUnknownVTEP].Add(1)
		return f, false
	}
	vid, ok := v.vidOf[hdr.VNI()]
	if !ok {
		v.drops[VXLANUnknownVNI].Add(1)
		return f, false
	}
	f = v.rd.land(i, n)
	f.SetRxTCI(vid)
	if smac := pkt.Ethernet(f.Bytes()).Src(); !smac.IsMulticast() && !v.vteps.learn(vid, smac, src, v.rd.now) {
		v.drops[VXLANTableFull].Add(1)
	}
	return f, true
}

func (v *VXLAN) isRemote(a uint32) bool {
	_, ok := v.peers.Load().known[a]
	return ok
}

// WriteBatch implements vswitch.Port. Frames come tagged (the port is a
// trunk of its VNIs' VLANs); the tag picks the VNI and is left out of the
// datagram. A unicast frame to a learned MAC goes to its VTEP; anything
// else to every remote (head-end replication). A frame with offload
// metadata goes through writeOffload: segments in UDP-GSO sends.
func (v *VXLAN) WriteBatch(frames []*vswitch.Frame) (int, error) {
	if v.closed.Load() {
		return 0, fmt.Errorf("vxlan %s: %w", v.name, vswitch.ErrClosed)
	}
	now := time.Now().Unix()
	v.wn, v.wi = 0, 0
	defer v.releaseArena()
	sent := 0
	for _, f := range frames {
		b := f.Bytes()
		if len(b) < pkt.EthernetLen+pkt.VLANTagLen || binary.BigEndian.Uint16(b[12:]) != pkt.TypeVLAN {
			v.drops[VXLANNotCarried].Add(1)
			continue
		}
		vid := binary.BigEndian.Uint16(b[14:]) & 0x0fff
		vni := v.vniOf[vid]
		if vni == 0 {
			v.drops[VXLANNotCarried].Add(1)
			continue
		}
		dests := v.peers.Load().flood[vid]
		if dst := pkt.Ethernet(b).Dst(); !dst.IsMulticast() {
			if vtep, ok := v.vteps.lookup(vid, dst, now); ok {
				v.uni[0] = vtep
				dests = v.uni[:]
			}
		}
		hash := flowHash(b)
		// DATA_VALID alone asks nothing: such a frame is complete.
		if f.VNet.IsGSO() || f.VNet.Flags&pkt.VirtioNetHdrFNeedsCsum != 0 {
			if err := v.writeOffload(f, vni, hash, dests); err != nil {
				return sent, err
			}
			sent++
			continue
		}
		sport := v.port
		if v.raw != nil {
			sport = v.flowSource(hash)
		}
		for _, r := range dests {
			if err := v.add(b, vni, sport, r); err != nil {
				return sent, err
			}
		}
		sent++
	}
	if err := v.flush(); err != nil {
		return sent, err
	}
	return sent, nil
}

// add prepares one datagram: frame b (tagged) on vni to vtep, flushing
// first when the message array is full.
func (v *VXLAN) add(b []byte, vni uint32, sport uint16, vtep uint32) error {
	if v.wn == len(v.wmsgs) {
		if err := v.flush(); err != nil {
			return err
		}
	}
	i := v.wn
	hdr := v.whdr[i][:]
	if v.raw != nil {
		inner := len(b) - pkt.VLANTagLen
		ip := pkt.IPv4(hdr)
		// The kernel fills in the total length, the ID and the checksum of
		// a raw send; the source too where we leave it zero.
		ip.Encode(&pkt.IPv4Fields{Flags: pkt.IPv4FlagDF, TTL: 64, Protocol: pkt.ProtoUDP,
			Src: v.local, Dst: fromAddr4(vtep)})
		u := hdr[pkt.IPv4MinLen:]
		binary.BigEndian.PutUint16(u[0:], sport)
		binary.BigEndian.PutUint16(u[2:], v.port)
		binary.BigEndian.PutUint16(u[4:], uint16(pkt.UDPLen+pkt.VXLANLen+inner))
		u[6], u[7] = 0, 0 // no UDP checksum (RFC 7348 section 5)
		hdr = hdr[pkt.IPv4MinLen+pkt.UDPLen:]
	}
	pkt.VXLAN(hdr).Encode(vni)
	iov := &v.wiov[i]
	iov[0].Base = &v.whdr[i][0]
	iov[0].SetLen(len(v.whdr[i]) - len(hdr) + pkt.VXLANLen)
	iov[1].Base = &b[0]
	iov[1].SetLen(12) // the MAC addresses; the tag after them stays behind
	iov[2].Base = &b[pkt.EthernetLen+pkt.VLANTagLen-2]
	iov[2].SetLen(len(b) - (pkt.EthernetLen + pkt.VLANTagLen - 2))
	v.setMsg(i, vtep, 3)
	v.wsock[i], v.wsegs[i] = 0, 1
	v.wn++
	return nil
}

// flush sends the prepared messages, a sendmmsg per run of messages on
// one socket, in order.
func (v *VXLAN) flush() error {
	var err error
	for v.wi < v.wn && err == nil {
		s, end := v.wsock[v.wi], v.wi+1
		for end < v.wn && v.wsock[end] == s {
			end++
		}
		_, err = v.ws.send(v.sendSock(s), v.wmsgs[v.wi:end])
		v.wi = end
	}
	v.wi, v.wn = 0, 0
	return closedErr("vxlan", v.name, v.closed.Load(), err)
}

// Close closes the socket.
func (v *VXLAN) Close() error {
	if !v.closed.CompareAndSwap(false, true) {
		return nil
	}
	if v.raw != nil {
		v.raw.Close()
	}
	v.closeFlowSocks()
	return v.conn.Close()
}

// flowHash hashes the inner flow of the tagged frame b (MACs, and for
// IPv4 the addresses and, unfragmented, the ports), for the UDP source
// port (flowSource), so the underlay's ECMP spreads flows and keeps each
// on one path.
func flowHash(b []byte) uint32 {
	const prime = 16777619
	h := uint32(2166136261)
	mix := func(p []byte) {
		for _, c := range p {
			h = (h ^ uint32(c)) * prime
		}
	}
	mix(b[:12])
	if len(b) >= 18+pkt.IPv4MinLen && binary.BigEndian.Uint16(b[16:]) == pkt.TypeIPv4 {
		ip := pkt.IPv4(b[18:])
		mix(ip[12:20])
		if hl := ip.HeaderLen(); !ip.IsFragment() && len(ip) >= hl+4 && (ip[9] == pkt.ProtoTCP || ip[9] == pkt.ProtoUDP) {
			mix(ip[hl : hl+4])
		}
	}
	return h
}
