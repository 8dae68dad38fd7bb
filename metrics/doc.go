// Package metrics exports vswitch's counters to Prometheus: a custom
// collector that, at scrape time, reads the atomics the planes keep, and
// the HTTP endpoint that serves them.
//
// It must never be called from the frame path, and never keeps a
// per-frame Prometheus object: every value is computed when scraped. Label
// values are bounded (port names, drop reasons, directions, message types,
// network names); never a MAC or an IP address.
package metrics
