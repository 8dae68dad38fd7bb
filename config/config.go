package config

import (
	_ "embed"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/vswitch/vswitch/internal/label"
	"github.com/vswitch/vswitch/internal/pkt"
)

// Config is a whole vswitch configuration.
type Config struct {
	Control   string // control API socket
	Metrics   string // Prometheus listen address; "" = off
	StateDir  string // leases and other durable state
	FDB       FDB
	Ports     []Port
	Networks  []Network
	Uplinks   []Uplink
	Conntrack Conntrack
	BGP       *BGP // nil: no BGP speaker
	// MulticastSnooping: IGMP/MLD snooping (default true, as the Linux
	// bridge's mcast_snooping).
	MulticastSnooping bool
	// MulticastQuerier: the switch as IGMP and MLD querier of VLANs with
	// no network (default off, as the Linux bridge's mcast_querier).
	MulticastQuerier Querier
	// CPUs: at most this many threads run vswitch's Go code at once
	// (runtime.GOMAXPROCS); 0, "all", leaves the runtime's default.
	CPUs   CPUs
	Source string // file name the config came from
}

// CPUs is the cpus key: a count, or 0 for all (the runtime's default).
type CPUs int

// String spells the value as the config does.
func (n CPUs) String() string {
	if n == 0 {
		return "all"
	}
	return strconv.Itoa(int(n))
}

// FDB tunes the forwarding database.
type FDB struct {
	Ageing     time.Duration
	MaxEntries int
	Static     []StaticEntry
}

// StaticEntry is a MAC pinned to a port.
type StaticEntry struct {
	MAC  pkt.MAC
	VLAN uint16
	Port string
	Line int
}

// Port is one switch port.
type Port struct {
	Name    string
	Type    string // tap | afpacket | qemu | vxlan
	VLAN    uint16 // access VLAN (default 1 when not a trunk)
	Trunk   []uint16
	Native  uint16
	Netns   string
	Device  string
	Socket  string
	Listen  string
	MaxMACs int
	// MaxGroups bounds the multicast groups the port may join: 0 unset
	// (the switch's default, 256), -1 no limit ("max_groups: 0").
	MaxGroups int
	// MulticastRouter is multicast_router: auto, never or always (the
	// default: never for a TAP or QEMU access port, auto otherwise).
	MulticastRouter string
	MTU             int
	MAC             pkt.MAC
	Queue           int
	VXLAN           VXLAN // type vxlan only
	Line            int

	SocketOwner Owner       // socket_owner; zero: vswitch's user and group
	SocketMode  fs.FileMode // socket_mode; DefaultSocketMode on a socket: port
	// Isolated: no frames to or from other isolated ports (the Linux
	// bridge's "isolated on").
	Isolated bool
	// Guard pins the port to its addresses; nil: no guard.
	Guard *Guard
	// DHCPRelay: a trusted DHCP relay agent sits behind the port
	// (dhcp_relay), so DHCP from it may carry other clients' chaddr and
	// is not held to the per-MAC rate and lease limits.
	DHCPRelay bool
}

// Guard is a port guard (libvirt's clean-traffic): DHCP, or static lists.
type Guard struct {
	DHCP bool         // guard: dhcp — the addresses of the port's own leases
	MACs []pkt.MAC    // the source MACs the port may use (empty: any)
	IPs  []netip.Addr // the IPv4 and IPv6 sources the port may use (empty: any)
}

// IsTrunk reports whether the port carries tagged VLANs.
func (p *Port) IsTrunk() bool { return len(p.Trunk) > 0 }

// Carries reports whether the port is a member of vid.
func (p *Port) Carries(vid uint16) bool {
	if !p.IsTrunk() {
		return vid == p.VLAN
	}
	if vid == p.Native && vid != 0 {
		return true
	}
	for _, v := range p.Trunk {
		if v == vid {
			return true
		}
	}
	return false
}

// Network is the gateway's presence on one VLAN.
type Network struct {
	Name     string
	VLAN     uint16
	Address  netip.Prefix
	Address6 netip.Prefix // the gateway's IPv6 address and /64; invalid when IPv6 is off
	Mode     Mode         // parsed once: ModeIsolated (default), ModeNAT or ModeRouted
	Uplink   string
	DHCP     *DHCP
	DHCP6    *DHCP6 // see dhcp6.go; nil: no DHCPv6
	DNS      DNS    // see dns.go
	Forwards []Forward
	Line     int
}

// DHCP configures the DHCPv4 server of a network.
type DHCP struct {
	LeaseConfig
	Hosts []DHCPHost
}

// LeaseConfig is what the DHCP and DHCPv6 servers share: the addresses
// they lease, for how long, and the DNS servers and domain they tell.
type LeaseConfig struct {
	RangeStart, RangeEnd netip.Addr
	Lease                time.Duration
	DNS                  []netip.Addr
	Domain               string
	MaxLeasesPerMAC      int // what one source MAC may hold at once (dnsmasq has no per-MAC limit; its dhcp-lease-max is per server)
}

// DHCPHost is a static reservation.
type DHCPHost struct {
	MAC  pkt.MAC
	IP   netip.Addr
	Name string
}

// Forward is a port forward (DNAT) from the uplink address to a guest.
type Forward struct {
	Proto string
	Port  uint16
	To    netip.AddrPort
	Line  int
}

// Uplink is a routed interface of the gateway.
type Uplink struct {
	Name    string
	Type    string // UplinkPacket (an AF_PACKET device) or UplinkUser (host sockets)
	Device  string
	Address string // "dhcp" or a CIDR
	Prefix  netip.Prefix
	DHCP    bool
	Gateway netip.Addr
	MAC     pkt.MAC
	// Prefix6 (address6) is the static IPv6 address on the outside link;
	// invalid: no IPv6. Gateway6 is the IPv6 next hop; invalid: the
	// router the outside link advertises (uplink6.go). Auto6 (address6:
	// auto): the address comes from the outside link by SLAAC or DHCPv6,
	// Prefix6 is invalid.
	Prefix6  netip.Prefix
	Auto6    bool
	Gateway6 netip.Addr
	// HostLoopback (host_loopback, user only): the address through which
	// guests reach the host's 127.0.0.1; invalid: off.
	HostLoopback netip.Addr
	Line         int
}

// Uplink types.
const (
	UplinkPacket = "packet" // an AF_PACKET socket on a device: needs root (CAP_NET_RAW)
	UplinkUser   = "user"   // guest flows leave as sockets of the vswitch process: no privilege
)

// Conntrack bounds the connection table.
type Conntrack struct {
	MaxEntries   int
	MaxPerSource int // flows one address may start; past MaxEntries it never bites
}

// Defaults.
const (
	DefaultControl    = "/run/vswitch/vswitch.sock"
	DefaultMetrics    = "127.0.0.1:9477"
	DefaultStateDir   = "/var/lib/vswitch"
	DefaultAgeing     = 300 * time.Second
	DefaultFDBEntries = 8192
	DefaultQueue      = 1024
	DefaultGuestMACs  = 16 // max_macs of tap and qemu ports
	DefaultLease      = time.Hour
	DefaultConntrack  = 65536
	// DefaultConntrackPerSource is a sixteenth of the default table: a
	// busy guest's few hundred flows fit many times over, and a flood
	// from up to fifteen guests still leaves room.
	DefaultConntrackPerSource = 4096

	DefaultMaxLeasesPerMAC = 4 // a firmware and an OS with different client ids, and room to spare
)

// maxCPUs bounds cpus: more threads than that is a typo, not a machine.
const maxCPUs = 4096

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML is the embedded default configuration.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Default is the parsed embedded default configuration.
func Default() *Config {
	c, err := Parse("(embedded default)", defaultYAML)
	if err != nil {
		panic("config: embedded default is broken: " + err.Error())
	}
	return c
}

// Load reads and parses the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Mode is a network's forward mode, libvirt's names.
type Mode uint8

const (
	ModeIsolated Mode = iota // guests and the gateway only
	ModeNAT                  // routed out of an uplink with masquerade
	ModeRouted               // routed out of an uplink as is
)

var modeNames = [...]string{"isolated", "nat", "routed"}

// String is the mode's config name.
func (m Mode) String() string { return label.Of(modeNames[:], m) }

// RoutesOut reports whether the network sends off-network packets to an
// uplink.
func (m Mode) RoutesOut() bool { return m == ModeNAT || m == ModeRouted }
