package control

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// PortStatus is one port as GET /v1/ports shows it.
type PortStatus struct {
	Name      string            `json:"name"`
	Type      string            `json:"type"`
	Mode      string            `json:"mode"` // access | trunk | routed (an uplink: in no VLAN)
	VLAN      uint16            `json:"vlan,omitempty"`
	Trunk     []uint16          `json:"trunk,omitempty"`
	Native    uint16            `json:"native,omitempty"`
	Device    string            `json:"device,omitempty"`
	Netns     string            `json:"netns,omitempty"`
	Socket    string            `json:"socket,omitempty"`
	Up        bool              `json:"up"`
	MACs      int               `json:"macs"`
	MaxMACs   int               `json:"max_macs,omitempty"`
	QueueLen  int               `json:"queue_len"`
	QueueCap  int               `json:"queue_cap"`
	RxPackets uint64            `json:"rx_packets"`
	RxBytes   uint64            `json:"rx_bytes"`
	TxPackets uint64            `json:"tx_packets"`
	TxBytes   uint64            `json:"tx_bytes"`
	Drops     map[string]uint64 `json:"drops"`
	// Driver has the driver's own counters, e.g. for a QEMU port:
	// refused (a second VM), bad_peer (disconnected for bad framing),
	// no_peer (frames while no VM was connected).
	Driver map[string]uint64 `json:"driver,omitempty"`
}

// FDBEntry is one address in GET /v1/fdb.
type FDBEntry struct {
	VLAN       uint16  `json:"vlan"`
	MAC        string  `json:"mac"`
	Port       string  `json:"port"`
	AgeSeconds float64 `json:"age_seconds"`
	Static     bool    `json:"static"`
	Remote     string  `json:"remote,omitempty"` // a tunnel port's VTEP behind which the MAC is
}

// MDBEntry is one row of GET /v1/mdb: a port's membership of a multicast
// group on a VLAN, or (router, no group) a router port of the VLAN.
type MDBEntry struct {
	VLAN           uint16  `json:"vlan"`
	Group          string  `json:"group,omitempty"`
	Port           string  `json:"port"`
	Router         bool    `json:"router"`
	ExpiresSeconds float64 `json:"expires_seconds"` // 0: a permanent router port (the gateway)
}

// MDBBackend is implemented by a backend with multicast snooping.
type MDBBackend interface{ MDB() []MDBEntry }

// Lease is one DHCP lease in GET /v1/leases.
type Lease struct {
	Network  string    `json:"network"`
	MAC      string    `json:"mac"`
	IP       string    `json:"ip"`
	Hostname string    `json:"hostname,omitempty"`
	Expiry   time.Time `json:"expiry"`
	State    string    `json:"state"` // bound | released
	Static   bool      `json:"static"`
	Family   string    `json:"family"`              // ipv4 (DHCP) | ipv6 (DHCPv6)
	ClientID string    `json:"client_id,omitempty"` // DHCPv6: the client's DUID in hex, "/", the IAID
}

// ConnEntry is one tracked connection in GET /v1/conntrack.
type ConnEntry struct {
	Proto          string  `json:"proto"`
	Inside         string  `json:"inside"`
	Outside        string  `json:"outside"`
	State          string  `json:"state"`
	TranslatedPort uint16  `json:"translated_port,omitempty"`
	AgeSeconds     float64 `json:"age_seconds"`
	PacketsOut     uint64  `json:"packets_out"`
	PacketsIn      uint64  `json:"packets_in"`
	BytesOut       uint64  `json:"bytes_out"`
	BytesIn        uint64  `json:"bytes_in"`
}

// Backend is what the daemon gives the server.
type Backend interface {
	Ports() []PortStatus
	FDB() []FDBEntry
	AddPort(spec json.RawMessage) (PortStatus, error) // spec: a port as in the config, as JSON
	DeletePort(name string) error
}

// LeaseBackend is implemented by a backend with DHCP servers.
type LeaseBackend interface{ Leases() []Lease }

// ConntrackBackend is implemented by a backend with NAT.
type ConntrackBackend interface{ Conntrack() []ConnEntry }

// CaptureBackend is implemented by a backend that can capture a port.
type CaptureBackend interface {
	StartCapture(port string) (CaptureStream, error) // ErrNotFound for an unknown port
}

// CaptureStream yields the frames a port receives and sends.
type CaptureStream interface {
	// Next blocks for the next frame; its bytes are valid until the next
	// call. It returns an error when ctx is done or the port went away.
	Next(ctx context.Context) (time.Time, []byte, error)
	// Dropped counts frames lost because the reader was too slow.
	Dropped() uint64
	Close()
}

// Errors a backend returns to get a status other than 500.
var (
	ErrNotFound = errors.New("not found")      // 404
	ErrExists   = errors.New("already exists") // 409
)

// BadRequestError marks an error in what the client sent (400).
type BadRequestError struct{ Err error }

func (e *BadRequestError) Error() string { return e.Err.Error() }
func (e *BadRequestError) Unwrap() error { return e.Err }
