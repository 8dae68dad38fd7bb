package dns

import "github.com/vswitch/vswitch/internal/label"

// DropReason says why a query got no answer: a label value of
// vswitch_dns_drops_total{network,reason}; docs/metrics.md lists them.
type DropReason uint8

const (
	DropOutsidePrefix DropReason = iota // source not a guest address of the network: no reflection
	DropQueueFull                       // every job is queued or in flight
	DropMalformed                       // not a parsable DNS message, or not exactly one question
	DropNotQuery                        // a response, not a query
	DropRateLimited                     // over the per-client rate limit
	DropInflightFull                    // MaxInflight queries already wait for upstream
	DropBadChecksum                     // the UDP or TCP checksum is wrong (counted by the gateway)
	DropTCPConnsFull                    // a SYN over the TCP connection limit (per network or per client)
	NumDrops
)

var dropNames = [NumDrops]string{
	DropOutsidePrefix: "outside_prefix",
	DropQueueFull:     "queue_full",
	DropMalformed:     "malformed",
	DropNotQuery:      "not_query",
	DropRateLimited:   "ratelimit",
	DropInflightFull:  "inflight_full",
	DropBadChecksum:   "bad_checksum",
	DropTCPConnsFull:  "tcp_conns_full",
}

// String is the metric label value.
func (r DropReason) String() string { return label.Of(dropNames[:], r) }

// Result is how a query was settled: a label value of
// vswitch_dns_queries_total{network,result}.
type Result uint8

const (
	ResultLocal     Result = iota // answered from local names (NXDOMAIN for the local domain too)
	ResultForwarded               // answered by an upstream server
	ResultCached                  // answered from the cache
	ResultServfail                // upstream failed or timed out: SERVFAIL
	ResultRefused                 // REFUSED or NOTIMP: no forwarder, class not IN, opcode not QUERY
	ResultDropped                 // no answer: see DropReason
	NumResults
)

var resultNames = [NumResults]string{
	ResultLocal:     "local",
	ResultForwarded: "forwarded",
	ResultCached:    "cached",
	ResultServfail:  "servfail",
	ResultRefused:   "refused",
	ResultDropped:   "dropped",
}

// String is the metric label value.
func (r Result) String() string { return label.Of(resultNames[:], r) }

// QType is the label set of vswitch_dns_queries_by_type_total{network,type}:
// the common types by name, everything else as "other", so a guest cannot
// mint label values.
type QType uint8

const (
	QTypeA QType = iota
	QTypeAAAA
	QTypePTR
	QTypeMX
	QTypeTXT
	QTypeSRV
	QTypeCNAME
	QTypeNS
	QTypeSOA
	QTypeANY
	QTypeHTTPS
	QTypeOther
	NumQTypes
)

var qtypeNames = [NumQTypes]string{"A", "AAAA", "PTR", "MX", "TXT", "SRV", "CNAME", "NS", "SOA", "ANY", "HTTPS", "other"}

// String is the metric label value.
func (t QType) String() string {
	if t < NumQTypes {
		return qtypeNames[t]
	}
	return "other"
}
