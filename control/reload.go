package control

import (
	"context"
	"encoding/json"
	"net/http"
)

// ReloadResult is what a reload changed: port names by what happened to
// them, and networks whose hosts changed. Empty lists: the file matched
// what was running.
type ReloadResult struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Changed []string `json:"changed"`
	// Hosts are the networks whose static names changed: dhcp.hosts
	// (reservations and their names) or dns.hosts.
	Hosts []string `json:"hosts"`
	// Networks are those whose DHCP range or options, forwards or DNS
	// forwarders changed.
	Networks []string `json:"networks"`
}

// ReloadBackend is implemented by a backend that can re-read its config
// file. A file with errors, or one that changes what cannot change live,
// is a *BadRequestError whose message says why (FILE:LINE: key: reason
// lines), and changes nothing.
type ReloadBackend interface {
	Reload() (ReloadResult, error)
}

// reload answers POST /v1/reload; 501 if the backend cannot.
func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	rb, ok := s.b.(ReloadBackend)
	if !ok {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "this vswitch cannot reload"})
		return
	}
	res, err := rb.Reload()
	if err != nil {
		s.log.Warn("reload refused", "err", err)
		writeError(w, err)
		return
	}
	s.log.Info("config reloaded", "added", res.Added, "removed", res.Removed, "changed", res.Changed, "hosts", res.Hosts, "networks", res.Networks)
	writeJSON(w, http.StatusOK, res)
}

// Reload asks the daemon to re-read its config file and apply the
// difference (POST /v1/reload).
func (c *Client) Reload(ctx context.Context) (ReloadResult, error) {
	var res ReloadResult
	resp, err := c.do(ctx, http.MethodPost, "/v1/reload", nil)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&res)
	return res, err
}
