package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"time"
)

// rrServer echoes 1-byte messages: the far end of the request/response test.
func rrServer(args []string) error {
	fs := flag.NewFlagSet("rr-server", flag.ExitOnError)
	addr := fs.String("addr", ":7007", "listen address")
	fs.Parse(args)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			c.(*net.TCPConn).SetNoDelay(true)
			b := make([]byte, 1)
			for {
				if _, err := io.ReadFull(c, b); err != nil {
					return
				}
				if _, err := c.Write(b); err != nil {
					return
				}
			}
		}()
	}
}

// rrBetween runs rr-server (this executable, self) in namespace server on
// addr and rr-client in namespace client against it for secs.
func rrBetween(self, client, server, addr string, secs int) (rrResult, error) {
	var r rrResult
	srv := exec.Command("ip", "netns", "exec", server, self, "rr-server", "-addr", addr)
	if err := srv.Start(); err != nil {
		return r, err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	out, err := nsExec(client, self, "rr-client", "-addr", addr, "-secs", strconv.Itoa(secs))
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.N == 0 {
		return r, fmt.Errorf("rr-client: %v %.200s", err, out)
	}
	return r, nil
}

// rrResult is what rr-client prints.
type rrResult struct {
	N   int       `json:"n"`
	P50 float64   `json:"p50_us"`
	P99 float64   `json:"p99_us"`
	CDF []float64 `json:"cdf_us"` // latency at each percent, 0..100
}

// rrClient sends 1-byte requests one at a time for secs and reports the
// round-trip latency distribution (TCP_RR style).
func rrClient(args []string) error {
	fs := flag.NewFlagSet("rr-client", flag.ExitOnError)
	addr := fs.String("addr", "10.250.0.2:7007", "server")
	secs := fs.Float64("secs", 3, "duration")
	fs.Parse(args)
	var c net.Conn
	var err error
	for i := 0; i < 50; i++ {
		if c, err = net.Dial("tcp", *addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	c.(*net.TCPConn).SetNoDelay(true)
	b := []byte{1}
	var lat []float64
	end := time.Now().Add(time.Duration(*secs * float64(time.Second)))
	for time.Now().Before(end) {
		t0 := time.Now()
		if _, err := c.Write(b); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, b); err != nil {
			return err
		}
		lat = append(lat, float64(time.Since(t0).Nanoseconds())/1e3)
	}
	if len(lat) == 0 {
		return fmt.Errorf("no round trips")
	}
	sort.Float64s(lat)
	q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	r := rrResult{N: len(lat), P50: q(0.5), P99: q(0.99)}
	for p := 0; p <= 100; p++ {
		r.CDF = append(r.CDF, q(float64(p)/100))
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}
