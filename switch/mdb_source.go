package vswitch

import (
	"net/netip"
	"sync/atomic"

	"github.com/vswitch/vswitch/internal/pkt"
)

// Source filtering (IGMPv3, RFC 3376 6.4; MLDv2, RFC 3810 7.4): a
// membership joined with IGMPv3 or MLDv2 records keeps the router state of
// RFC 3376 6.2.1 for its port, a filter mode and a source list with a
// timer each, so that a host that asked for some sources of a group
// (INCLUDE, source-specific multicast) gets only theirs, and one that
// excluded some gets all others.
//
//   - EXCLUDE mode while the group timer (exUntil) runs: every source is
//     forwarded but those whose timer expired (RFC's exclude list Y).
//   - INCLUDE mode after it: only sources whose timer runs.
//
// The querier asks the group (a group-specific query, which every host
// answers with its whole state) where RFC 3376 asks a group-and-source
// query; a source a host stops asking for stays until its timer lapses,
// the last member query time after a TO_IN or BLOCK that drops it. A
// report past maxFilterSources sources gives up on filtering the
// membership: it forwards every source (EXCLUDE {}, as after an
// any-source join, whose group timer each later record restarts). A v1
// or v2 report is IS_EX({}): every source.
//
// A published filter's source list never changes; its timers are
// atomics that only the port's own reader (the one goroutine that applies
// its reports) moves, so a report that refreshes timers allocates nothing
// and forwarding reads atomics. A report that changes the list publishes
// a new filter.

// maxFilterSources bounds a membership's source list.
const maxFilterSources = 32

// srcFilter is one membership's published filter; nil means EXCLUDE {}:
// every source.
type srcFilter struct {
	exUntil atomic.Int64 // group timer: EXCLUDE mode until then
	n       int
	srcs    [maxFilterSources][16]byte
	exp     [maxFilterSources]atomic.Int64 // source timers
}

// allows reports whether a frame from src may go to the member at now.
func (f *srcFilter) allows(src [16]byte, now int64) bool {
	for i := range f.n {
		if f.srcs[i] == src {
			return f.exp[i].Load() >= now
		}
	}
	return f.exUntil.Load() >= now // unknown: EXCLUDE forwards it, INCLUDE does not
}

// wants reports whether the member is live at now and its filter lets a
// frame from src through.
func (mb *mdbMember) wants(src [16]byte, now int64) bool {
	if mb.expires.Load() < now {
		return false
	}
	f := mb.filter.Load()
	return f == nil || f.allows(src, now)
}

// filterState is a filter being worked on.
type filterState struct {
	exUntil int64
	n       int
	srcs    [maxFilterSources][16]byte
	exp     [maxFilterSources]int64
}

func (f *filterState) find(a [16]byte) int {
	for i := range f.n {
		if f.srcs[i] == a {
			return i
		}
	}
	return -1
}

// set gives source a the timer exp, adding it; false when the list is full.
func (f *filterState) set(a [16]byte, exp int64) bool {
	if i := f.find(a); i >= 0 {
		f.exp[i] = exp
		return true
	}
	if f.n == maxFilterSources {
		return false
	}
	f.srcs[f.n], f.exp[f.n] = a, exp
	f.n++
	return true
}

// lower brings source i's timer down to at most exp.
func (f *filterState) lower(i int, exp int64) { f.exp[i] = min(f.exp[i], exp) }

// keepOnly deletes the sources not in b.
func (f *filterState) keepOnly(b *recordSources) {
	k := 0
	for i := range f.n {
		if b.has(f.srcs[i]) {
			f.srcs[k], f.exp[k] = f.srcs[i], f.exp[i]
			k++
		}
	}
	f.n = k
}

// publish makes f the filter after old: old itself with its timers moved
// when the source list is the same, else a new filter.
func (f *filterState) publish(old *srcFilter) *srcFilter {
	if old == nil || old.n != f.n || old.srcs != f.srcs {
		old = &srcFilter{n: f.n, srcs: f.srcs}
	}
	old.exUntil.Store(f.exUntil)
	for i := range f.n {
		old.exp[i].Store(f.exp[i])
	}
	return old
}

// recordSources are a group record's sources as 16-byte keys (IPv4
// mapped, as the MDB keys groups).
type recordSources struct {
	n int
	a [maxFilterSources][16]byte
}

func (b *recordSources) has(a [16]byte) bool {
	for i := range b.n {
		if b.a[i] == a {
			return true
		}
	}
	return false
}

// applyRecord is the port's filter for a group after rec (RFC 3376 6.4.1
// and 6.4.2, with group queries for group-and-source ones), given the one
// before (nil: EXCLUDE {}, or a new membership when isNew). It returns nil
// for EXCLUDE {}. gmi and lmqt are the group membership interval and the
// last member query time.
func applyRecord(old *srcFilter, isNew bool, rec *pkt.GroupRecord, now int64) *srcFilter {
	const gmi, lmqt = mcastMembership, mcastLastMember
	var b recordSources
	if rec.Sources > maxFilterSources {
		return nil // too many to follow: every source
	}
	for i := range rec.Sources {
		b.a[i] = rec.Source(i).As16()
	}
	b.n = rec.Sources
	if old == nil && !isNew && rec.Sources == 0 && (rec.Type == pkt.RecordIsExclude || rec.Type == pkt.RecordToExclude) {
		return nil // an any-source join refreshed: EXCLUDE {} stays
	}
	var f filterState
	switch {
	case old != nil:
		f.exUntil, f.n, f.srcs = old.exUntil.Load(), old.n, old.srcs
		for i := range f.n {
			f.exp[i] = old.exp[i].Load()
		}
	case isNew:
		// INCLUDE {}: the record says what it asks for.
	default:
		// EXCLUDE {} with its group timer running.
		f.exUntil = now + gmi
	}
	exclude := f.exUntil >= now
	ok := true
	switch rec.Type {
	case pkt.RecordIsInclude, pkt.RecordAllowNew:
		for _, a := range b.a[:b.n] {
			ok = ok && f.set(a, now+gmi)
		}
	case pkt.RecordToInclude:
		for i := range f.n { // Q(G,A-B) in INCLUDE, Q(G,X-A) in EXCLUDE
			if !b.has(f.srcs[i]) {
				f.lower(i, now+lmqt)
			}
		}
		for _, a := range b.a[:b.n] {
			ok = ok && f.set(a, now+gmi)
		}
		if exclude { // Q(G)
			f.exUntil = min(f.exUntil, now+lmqt)
		}
	case pkt.RecordBlockOld:
		for _, a := range b.a[:b.n] {
			switch i := f.find(a); {
			case i >= 0 && f.exp[i] >= now: // Q(G,A*B), or Q(G,A-Y)
				f.lower(i, now+lmqt)
			case i < 0 && exclude: // (A-X-Y) = group timer, then asked
				ok = ok && f.set(a, min(f.exUntil, now+lmqt))
			}
		}
	case pkt.RecordIsExclude, pkt.RecordToExclude:
		if !exclude { // INCLUDE(A) -> EXCLUDE(A*B, B-A)
			f.keepOnly(&b)
			for _, a := range b.a[:b.n] {
				if f.find(a) < 0 {
					ok = ok && f.set(a, 0) // excluded
				} else if rec.Type == pkt.RecordToExclude {
					f.lower(f.find(a), now+lmqt)
				}
			}
		} else { // EXCLUDE(X,Y) -> EXCLUDE(A-Y, Y*A)
			f.keepOnly(&b)
			for _, a := range b.a[:b.n] {
				if f.find(a) >= 0 {
					continue
				}
				exp := now + gmi
				if rec.Type == pkt.RecordToExclude {
					exp = min(f.exUntil, now+lmqt)
				}
				ok = ok && f.set(a, exp)
			}
		}
		f.exUntil = now + gmi
	}
	if !ok {
		return nil
	}
	if f.n == 0 && f.exUntil >= now {
		return nil // EXCLUDE {}
	}
	return f.publish(old)
}

// srcKey is a frame's IP source as the filters hold it.
func srcKey(eth pkt.Ethernet) [16]byte {
	b := eth.Payload()
	if eth.Type() == pkt.TypeIPv4 {
		return netip.AddrFrom4([4]byte(b[12:16])).As16()
	}
	return [16]byte(b[8:24])
}
