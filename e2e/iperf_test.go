package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
)

// iperfTCP runs a TCP test from client to server (an address in server's
// namespace) for secs seconds and returns the received Gbit/s. iperf3 3.12
// exits 0 on "connection refused" with -J, so the JSON's error is checked.
func iperfTCP(t testing.TB, server, client *host, addr string, secs int, extra ...string) float64 {
	t.Helper()
	server.Start("iperf3", "-s", "-1", "-B", addr)
	var res struct {
		Error string `json:"error"`
		End   struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	var out string
	var err error
	for try := 0; try < 20; try++ { // the server needs a moment to listen
		args := append([]string{"-c", addr, "-t", fmt.Sprint(secs), "-J"}, extra...)
		out, err = client.Output("iperf3", args...)
		res.Error = ""
		if json.Unmarshal([]byte(out), &res) == nil && res.Error == "" && err == nil {
			return res.End.SumReceived.BitsPerSecond / 1e9
		}
		if res.Error != "" && res.Error != "unable to connect to server: Connection refused" {
			break
		}
		sleep(100)
	}
	t.Fatalf("iperf3 to %s: %v %s\n%s", addr, err, res.Error, out)
	return 0
}
