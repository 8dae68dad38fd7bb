// Package control is vswitch's control API: HTTP/1.1 with JSON on a unix
// socket (mode 0600), its types, the Server, and the Client the CLI uses.
//
// # Endpoints
//
//	GET    /healthz             {"status": "ok"}
//	GET    /v1/ports            []PortStatus
//	POST   /v1/ports            body: a port as in the config; 201 PortStatus
//	DELETE /v1/ports/{name}     204
//	GET    /v1/fdb              []FDBEntry
//	GET    /v1/mdb              []MDBEntry ([] without an MDBBackend or with snooping off)
//	GET    /v1/leases           []Lease ([] without a LeaseBackend)
//	GET    /v1/conntrack        []ConnEntry ([] without a ConntrackBackend)
//	GET    /v1/capture?port=NAME[&count=N]  a pcap stream (501 without a CaptureBackend)
//	POST   /v1/reload           re-read the config file; 200 ReloadResult (501 without a ReloadBackend)
//	GET    /v1/status           Status: start time, config load time, reattached ports (501 without a StatusBackend)
//
// Errors are {"error": "message"}: a backend's error wrapping ErrNotFound
// is 404, ErrExists 409, a *BadRequestError 400, anything else 500.
//
// # What it must never do
//
// It never touches the frame path: the server answers from snapshots the
// Backend takes, holds no lock a frame needs, and a slow or stuck client
// never blocks the switch (a capture is a bounded, lossy stream). It
// imports none of the planes, nor config or daemon: the daemon implements
// Backend and translates.
package control
