// Package dhcp is vswitch's DHCPv4 server: the address pool, static
// reservations, the lease state machine of RFC 2131 (DISCOVER, OFFER,
// REQUEST in its four flavours, ACK, NAK, DECLINE, RELEASE, INFORM), the
// options clients rely on, and a lease store that survives kill -9.
//
// It works on message bytes (pkt.DHCP views) and returns reply bytes; it
// does no network I/O (the gateway moves the frames). It must never hand
// out an address that another client holds, a static host's address to
// anyone else, or acknowledge a lease before it is on disk. Its memory is
// bounded by the size of its range (offers that are not taken expire), a
// fixed quarantine (maxDeclined) and a fixed rate table (rateLimiter).
//
// # Hostile clients
//
// One guest must not drain the pool or free a neighbour's lease. The
// rules key on the frame's source MAC (From.MAC): chaddr for a client on
// the link (the gateway has checked they are the same), the relay's MAC
// for a relayed message (giaddr set, RFC 2131 4.1): a MAC's messages are
// rate-limited (before they are parsed), it holds at most
// Config.MaxLeasesPerMAC offers, leases and declined addresses at once,
// only the MAC holding a lease may RELEASE or DECLINE it, a DECLINE only
// inside the range, and a relay may not take over a live lease another
// MAC holds. A trusted relay port (From.Trusted) is exempt from the rate
// and the lease limit. Each refusal is a counted DropReason.
//
// # The disk
//
// It must never make its caller wait for the disk when the caller is a
// frame path: a Server whose Config.Deliver is set queues its lease
// writes for the Store's goroutine, which batches every network's pending
// changes into one synced file and only then hands the ACKs to Deliver.
// Handle stays bounded in time and memory: it takes its server's lock and
// the Store's queue lock, never the lock held while the file is written,
// and at most maxPending REQUESTs per server wait for the disk (more are
// dropped and counted as store_busy). Without Deliver, Handle writes the
// file itself, on its caller's goroutine: for tests and tools, never for
// a frame path. Whoever opens a Store closes it, which flushes what is
// queued and ends the goroutine. The store goroutine itself waits for
// its fsyncs parked, holding no thread (Linux AIO, package aio): with
// `cpus: 1` the one thread that runs Go code keeps forwarding while the
// disk works.
package dhcp
