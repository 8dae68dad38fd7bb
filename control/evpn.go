package control

import (
	"context"
	"net/http"
)

// EVPN is GET /v1/evpn: the BGP speaker, its sessions and routes.
type EVPN struct {
	Enabled  bool          `json:"enabled"`
	ASN      uint32        `json:"asn,omitempty"`
	RouterID string        `json:"router_id,omitempty"`
	VTEP     string        `json:"vtep,omitempty"`
	VNIs     []EVPNVNI     `json:"vnis"`
	Sessions []EVPNSession `json:"sessions"`
	Routes   []EVPNRoute   `json:"routes"`
}

// EVPNVNI is one VNI of the EVPN vxlan port.
type EVPNVNI struct {
	VNI   uint32   `json:"vni"`
	VLAN  uint16   `json:"vlan"`
	Flood []string `json:"flood"` // remote VTEPs from type-3 routes
}

// EVPNSession is one BGP neighbor.
type EVPNSession struct {
	Neighbor      string  `json:"neighbor"`
	ASN           uint32  `json:"asn"`
	State         string  `json:"state"`
	UptimeSeconds float64 `json:"uptime_seconds"`
}

// EVPNRoute is one best route of the EVPN table.
type EVPNRoute struct {
	Type  string `json:"type"` // mac (type 2) or imet (type 3)
	VNI   uint32 `json:"vni"`
	MAC   string `json:"mac,omitempty"`
	IP    string `json:"ip,omitempty"`
	VTEP  string `json:"vtep"`
	RD    string `json:"rd"`
	Local bool   `json:"local"`
}

// EVPNBackend is implemented by a backend that may run EVPN.
type EVPNBackend interface {
	EVPN(ctx context.Context) (EVPN, error)
}

func (s *Server) evpn(w http.ResponseWriter, r *http.Request) {
	out := EVPN{VNIs: []EVPNVNI{}, Sessions: []EVPNSession{}, Routes: []EVPNRoute{}}
	if eb, ok := s.b.(EVPNBackend); ok {
		v, err := eb.EVPN(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		out = v
	}
	writeJSON(w, http.StatusOK, out)
}

// EVPN calls GET /v1/evpn.
func (c *Client) EVPN(ctx context.Context) (EVPN, error) {
	return getJSON[EVPN](ctx, c, "/v1/evpn")
}
