package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
)

// Client talks to a vswitch over its control socket.
type Client struct {
	path string
	http *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
	return &Client{path: path, http: &http.Client{Transport: tr}}
}

// Get sends a GET for path (with query) and returns the response for
// streaming; a non-2xx status is turned into an error.
func (c *Client) Get(ctx context.Context, path string) (*http.Response, error) {
	return c.do(ctx, http.MethodGet, path, nil)
}

func (c *Client) do(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	u := &url.URL{Scheme: "http", Host: "vswitch"}
	ref, err := url.Parse(path)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u.ResolveReference(ref).String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach vswitch at %s: is it running? (%v)", c.path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("%s", e.Error)
		}
		return nil, fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	resp, err := c.Get(ctx, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// Ports lists the ports.
func (c *Client) Ports(ctx context.Context) ([]PortStatus, error) {
	var v []PortStatus
	return v, c.getJSON(ctx, "/v1/ports", &v)
}

// FDB lists the forwarding database.
func (c *Client) FDB(ctx context.Context) ([]FDBEntry, error) {
	var v []FDBEntry
	return v, c.getJSON(ctx, "/v1/fdb", &v)
}

// Leases lists the DHCP leases.
func (c *Client) Leases(ctx context.Context) ([]Lease, error) {
	var v []Lease
	return v, c.getJSON(ctx, "/v1/leases", &v)
}

// Conntrack lists tracked connections.
func (c *Client) Conntrack(ctx context.Context) ([]ConnEntry, error) {
	var v []ConnEntry
	return v, c.getJSON(ctx, "/v1/conntrack", &v)
}

// Health checks /healthz.
func (c *Client) Health(ctx context.Context) error {
	resp, err := c.Get(ctx, "/healthz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// AddPort creates a port from spec (a port as in the config).
func (c *Client) AddPort(ctx context.Context, spec any) (PortStatus, error) {
	body, err := json.Marshal(spec)
	if err != nil {
		return PortStatus{}, err
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/ports", body)
	if err != nil {
		return PortStatus{}, err
	}
	defer resp.Body.Close()
	var ps PortStatus
	return ps, json.NewDecoder(resp.Body).Decode(&ps)
}

// DeletePort removes a port.
func (c *Client) DeletePort(ctx context.Context, name string) error {
	resp, err := c.do(ctx, http.MethodDelete, "/v1/ports/"+url.PathEscape(name), nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
