package control

import (
	"context"
	"net/http"
	"time"
)

// Status is the process's lifecycle: when it started, when its config
// was last applied, and which TAP devices it took back from a vswitch
// that did not stop cleanly.
type Status struct {
	Version          string         `json:"version"`
	Started          time.Time      `json:"started"`
	ConfigSource     string         `json:"config_source"`
	ConfigLoaded     time.Time      `json:"config_loaded"`      // at start, or by the last applied reload
	LastReloadFailed bool           `json:"last_reload_failed"` // the last reload was refused
	Reattached       []string       `json:"reattached"`         // ports whose device outlived the previous vswitch
	PID              int            `json:"pid"`
	Inherited        []string       `json:"inherited"`               // ports and uplinks handed over by the process this one upgraded
	UpgradedFrom     int            `json:"upgraded_from,omitempty"` // that process's PID
	LastUpgradeError string         `json:"last_upgrade_error,omitempty"`
	Uplinks          []UplinkStatus `json:"uplinks"`
}

// UplinkStatus is an uplink's outside address and next hop.
type UplinkStatus struct {
	Name    string `json:"name"`
	Type    string `json:"type"`              // packet or user
	Address string `json:"address,omitempty"` // empty while leasing (and for a user uplink)
	Gateway string `json:"gateway,omitempty"` // empty: no default route (a lease without a router)
	// The IPv6 side: address6 and its next hop (gateway6 or the router
	// the outside advertises), empty while none is known. Auto6 is set
	// for address6: auto: where the address came from (slaac, dhcpv6;
	// none while there is none).
	Address6 string `json:"address6,omitempty"`
	Gateway6 string `json:"gateway6,omitempty"`
	Auto6    string `json:"auto6,omitempty"`
}

// StatusBackend is implemented by a backend that reports its lifecycle.
type StatusBackend interface{ Status() Status }

// status answers GET /v1/status; 501 if the backend cannot.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	sb, ok := s.b.(StatusBackend)
	if !ok {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "this vswitch has no status"})
		return
	}
	st := sb.Status()
	st.Reattached = nonNil(st.Reattached)
	st.Inherited = nonNil(st.Inherited)
	st.Uplinks = nonNil(st.Uplinks)
	writeJSON(w, http.StatusOK, st)
}

// Status reads GET /v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	return getJSON[Status](ctx, c, "/v1/status")
}
