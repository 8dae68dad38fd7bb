package dhcp

import (
	"time"
	"unicode/utf8"
)

// appendLeases writes leases as the lease file holds them: a JSON array,
// one lease a line, each exactly as encoding/json writes a Lease. The
// store goroutine writes every lease on each write, so this is its cost
// per lease: no reflection, no indentation pass, into a reused buffer.
func appendLeases(b []byte, leases []Lease) []byte {
	b = append(b, '[')
	for i := range leases {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '\n')
		b = appendLease(b, &leases[i])
	}
	return append(b, "\n]\n"...)
}

func appendLease(b []byte, l *Lease) []byte {
	b = append(b, `{"network":`...)
	b = appendString(b, l.Network)
	b = append(b, `,"client_id":`...)
	b = appendString(b, l.ClientID)
	b = append(b, `,"mac":`...)
	b = appendString(b, l.MAC)
	b = append(b, `,"ip":"`...)
	if l.IP.IsValid() {
		b = l.IP.AppendTo(b)
	}
	b = append(b, '"')
	if l.Hostname != "" {
		b = append(b, `,"hostname":`...)
		b = appendString(b, l.Hostname)
	}
	b = append(b, `,"expiry":"`...)
	b = l.Expiry.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","state":`...)
	b = appendString(b, l.State)
	if l.Static {
		b = append(b, `,"static":true`...)
	}
	return append(b, '}')
}

// appendString quotes s as encoding/json does by default: HTML-safe
// (<, > and & escaped), U+2028 and U+2029 escaped, invalid UTF-8 as
// U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&15])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
