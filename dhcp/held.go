package dhcp

import (
	"slices"
	"time"
)

// Both servers (this one and dhcp6) keep their leases in a map of their
// own lease type, offers among them: an OFFER or ADVERTISE not yet
// requested is held until it expires but never stored, listed or counted.
// lease gives a held lease's stored form and whether it is only an offer.

// Stored returns what the store keeps of the held leases m: every one but
// the offers, in map order.
func Stored[K comparable, V any](m map[K]V, lease func(V) (l *Lease, offered bool)) []Lease {
	out := make([]Lease, 0, len(m))
	for _, v := range m {
		if l, offered := lease(v); !offered {
			out = append(out, *l)
		}
	}
	return out
}

// Listed is Stored sorted by address: what `show leases` lists.
func Listed[K comparable, V any](m map[K]V, lease func(V) (l *Lease, offered bool)) []Lease {
	out := Stored(m, lease)
	slices.SortFunc(out, func(a, b Lease) int { return a.IP.Compare(b.IP) })
	return out
}

// CountBound counts the held leases m that are bound and unexpired at now.
func CountBound[K comparable, V any](m map[K]V, now time.Time, lease func(V) (l *Lease, offered bool)) int {
	n := 0
	for _, v := range m {
		if l, offered := lease(v); !offered && l.BoundAt(now) {
			n++
		}
	}
	return n
}
