package label

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
