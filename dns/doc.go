// Package dns is the gateway's DNS service on one network, as libvirt's
// dnsmasq is: it answers the network's local names (DHCP clients' host
// names, dhcp.hosts and dns.hosts entries) under the network's domain, A
// and PTR, and forwards everything else to upstream servers through the
// process's own UDP sockets, with a bounded TTL-honouring cache.
//
// The gateway's frame goroutine only hands a query over (Server.Query: a
// copy into a preallocated job and one ring put, no allocation, no lock,
// no wait); parsing, answering and forwarding run on the server's own
// goroutines, and answers go back through Config.Deliver. It must never
// make the frame path wait on the network, answer a source outside the
// network's prefix, or grow its memory with what guests send: jobs, queries
// in flight, the cache and the rate limiter's table are all bounded, and
// whatever it refuses is counted with a typed reason.
package dns
