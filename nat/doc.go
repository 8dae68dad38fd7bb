// Package nat is vswitch's connection tracking and address translation:
// a bounded conntrack table and the rewrites of masquerade (SNAT to the
// uplink address) as pure functions over IPv4 packet bytes, with
// incremental checksum updates (RFC 1624).
//
// It does no I/O and starts no goroutine: the gateway hands it packets and
// calls Sweep from its own timer. Looking up an established flow and
// rewriting its packet allocates nothing and takes no lock; only creating
// a flow does. The table never grows past its bound, and no two flows ever
// share an outside tuple. A guest is hostile: a full table evicts the
// oldest flow that is not assured (no completed TCP handshake, no reply)
// before it refuses a new one (the kernel's early drop), one source
// address holds at most Config.MaxPerSource flows, and the records that
// let later fragments follow their first are a fixed array
// (Config.MaxFragments); each refusal is a typed Verdict.
package nat
