package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// UpgradeRequest is the body of POST /v1/upgrade.
type UpgradeRequest struct {
	Binary string `json:"binary,omitempty"` // "": the running binary's path
}

// UpgradeResult says which process is handing over to which. The answer
// comes once the new process has started and loaded its config; the hand
// over itself follows, and Status's PID says when it is done.
type UpgradeResult struct {
	OldPID int `json:"old_pid"`
	NewPID int `json:"new_pid"`
}

// UpgradeBackend is implemented by a backend that can hand its devices
// and state to a new process. A new binary that does not come up is an
// error that says why; the running process carries on.
type UpgradeBackend interface {
	Upgrade(binary string) (UpgradeResult, error)
}

// upgrade answers POST /v1/upgrade; 501 if the backend cannot.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) {
	ub, ok := s.b.(UpgradeBackend)
	if !ok {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "this vswitch cannot upgrade in place"})
		return
	}
	var req UpgradeRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyLen))
	if err == nil && len(body) > 0 {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		writeError(w, &BadRequestError{Err: fmt.Errorf("the body: %w (want {\"binary\": PATH} or nothing)", err)})
		return
	}
	res, err := ub.Upgrade(req.Binary)
	if err != nil {
		s.log.Warn("upgrade refused", "err", err)
		writeError(w, err)
		return
	}
	s.log.Info("handing over", "old_pid", res.OldPID, "new_pid", res.NewPID)
	writeJSON(w, http.StatusAccepted, res)
}

// Upgrade asks the daemon to hand over to a new process of binary (""
// for its own) (POST /v1/upgrade).
func (c *Client) Upgrade(ctx context.Context, binary string) (UpgradeResult, error) {
	var res UpgradeResult
	b, err := json.Marshal(UpgradeRequest{Binary: binary})
	if err != nil {
		return res, err
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/upgrade", b)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return res, errors.Join(errors.New("reading the upgrade answer"), err)
	}
	return res, nil
}
