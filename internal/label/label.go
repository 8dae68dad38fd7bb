package label

import "sync/atomic"

// Enum is what the enumerations are made of.
type Enum interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// Of is names[v], or "unknown" for a value outside the table (a negative
// one too: it wraps to a large unsigned value).
func Of[T Enum](names []string, v T) string {
	if uint64(v) < uint64(len(names)) {
		return names[v]
	}
	return "unknown"
}

// Load copies each counter of src into dst (as many as the shorter
// holds): a snapshot of a table of counters indexed by an enumeration.
func Load(dst []uint64, src []atomic.Uint64) {
	for i := range min(len(dst), len(src)) {
		dst[i] = src[i].Load()
	}
}

// Counts is the counters of src by names[i], for i from 1: index 0 of
// such tables is "no value" (message type 0, say) and is left out.
func Counts(names []string, src []atomic.Uint64) map[string]uint64 {
	m := make(map[string]uint64, len(names))
	for i := 1; i < min(len(names), len(src)); i++ {
		m[names[i]] = src[i].Load()
	}
	return m
}
