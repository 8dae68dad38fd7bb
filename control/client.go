package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
)

// Client talks to a vswitch over its control socket. It sets no timeout of
// its own (a capture streams for as long as it runs): bound each call with
// its context.
type Client struct {
	path string
	http *http.Client
}

// NewClient returns a client for the socket at socketPath.
func NewClient(socketPath string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "unix", socketPath)
			if err != nil {
				return nil, &unreachableError{path: socketPath, err: err}
			}
			return c, nil
		},
		MaxIdleConns: 2,
	}
	return &Client{path: socketPath, http: &http.Client{Transport: tr}}
}

// APIError is an error the server answered with: a non-2xx status and the
// message of its {"error": "..."} body. A 404 matches ErrNotFound and a
// 409 ErrExists under errors.Is.
type APIError struct {
	Status  int    // HTTP status code
	Message string // the server's message, or the status text
}

func (e *APIError) Error() string { return e.Message }

func (e *APIError) Unwrap() error {
	switch e.Status {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusConflict:
		return ErrExists
	}
	return nil
}

// unreachableError is a failed connect to the socket.
type unreachableError struct {
	path string
	err  error
}

func (e *unreachableError) Error() string {
	cause := e.err.Error()
	var op *net.OpError
	if errors.As(e.err, &op) && op.Err != nil {
		cause = op.Err.Error() // "connect: no such file or directory", without the address again
	}
	if errors.Is(e.err, syscall.EACCES) || errors.Is(e.err, syscall.EPERM) {
		return fmt.Sprintf("cannot reach vswitch at %s: permission denied (the socket is mode 0600: run as its owner, e.g. with sudo)", e.path)
	}
	return fmt.Sprintf("cannot reach vswitch at %s: is it running? (%s)", e.path, cause)
}

func (e *unreachableError) Unwrap() error { return e.err }

// Get sends a GET for path (with its query) and returns the response, for
// streaming: the caller closes its Body. A non-2xx answer is an *APIError.
func (c *Client) Get(ctx context.Context, path string) (*http.Response, error) {
	return c.do(ctx, http.MethodGet, path, nil)
}

func (c *Client) do(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	ref, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("control: bad path %q: %w", path, err)
	}
	u := (&url.URL{Scheme: "http", Host: "vswitch"}).ResolveReference(ref)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *unreachableError
		if errors.As(err, &ue) {
			return nil, ue
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // drop the made-up http://vswitch URL
		}
		return nil, fmt.Errorf("vswitch at %s: %s %s: %w", c.path, method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, readAPIError(resp)
	}
	return resp, nil
}

func readAPIError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBodyLen))
	var e struct {
		Error string `json:"error"`
	}
	msg := ""
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		msg = e.Error
	} else if t := strings.TrimSpace(string(b)); t != "" && len(t) < 200 {
		msg = fmt.Sprintf("%s %s: %s", resp.Request.Method, resp.Request.URL.Path, t)
	} else {
		msg = fmt.Sprintf("%s %s: %s", resp.Request.Method, resp.Request.URL.Path, resp.Status)
	}
	return &APIError{Status: resp.StatusCode, Message: msg}
}

// getJSON is GET path decoded as a T: every listing below is one.
func getJSON[T any](ctx context.Context, c *Client, path string) (T, error) {
	var v T
	resp, err := c.Get(ctx, path)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return v, fmt.Errorf("vswitch at %s: GET %s: decoding the answer: %w", c.path, path, err)
	}
	return v, nil
}

// Ports lists the ports, in the switch's order.
func (c *Client) Ports(ctx context.Context) ([]PortStatus, error) {
	return getJSON[[]PortStatus](ctx, c, "/v1/ports")
}

// MDB lists the multicast group database.
func (c *Client) MDB(ctx context.Context) ([]MDBEntry, error) {
	return getJSON[[]MDBEntry](ctx, c, "/v1/mdb")
}

// FDB lists the forwarding database.
func (c *Client) FDB(ctx context.Context) ([]FDBEntry, error) {
	return getJSON[[]FDBEntry](ctx, c, "/v1/fdb")
}

// Leases lists the DHCP leases.
func (c *Client) Leases(ctx context.Context) ([]Lease, error) {
	return getJSON[[]Lease](ctx, c, "/v1/leases")
}

// Conntrack lists tracked connections.
func (c *Client) Conntrack(ctx context.Context) ([]ConnEntry, error) {
	return getJSON[[]ConnEntry](ctx, c, "/v1/conntrack")
}

// Health checks GET /healthz.
func (c *Client) Health(ctx context.Context) error {
	resp, err := c.Get(ctx, "/healthz")
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil
}

// AddPort creates a port from spec, a value that marshals to a port as
// the config spells it ({"name": "vm1", "type": "tap", "vlan": 10}).
func (c *Client) AddPort(ctx context.Context, spec any) (PortStatus, error) {
	body, err := json.Marshal(spec)
	if err != nil {
		return PortStatus{}, fmt.Errorf("control: encoding the port: %w", err)
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/ports", body)
	if err != nil {
		return PortStatus{}, err
	}
	defer resp.Body.Close()
	var ps PortStatus
	if err := json.NewDecoder(resp.Body).Decode(&ps); err != nil {
		return PortStatus{}, fmt.Errorf("vswitch at %s: POST /v1/ports: decoding the answer: %w", c.path, err)
	}
	return ps, nil
}

// DeletePort removes the port name.
func (c *Client) DeletePort(ctx context.Context, name string) error {
	resp, err := c.do(ctx, http.MethodDelete, "/v1/ports/"+url.PathEscape(name), nil)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil
}
