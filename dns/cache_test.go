package dns

import (
	"fmt"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

func TestCacheBounds(t *testing.T) {
	now := time.Now()
	c := newCache(3, 100)
	raw := make([]byte, 30)
	for i := range 5 {
		c.put(fmt.Sprint(i), raw, time.Minute, now)
	}
	// Three entries: the two oldest went first.
	if n, b := c.len(); n != 3 || b != 90 {
		t.Fatalf("%d entries, %d bytes; want 3, 90", n, b)
	}
	for i, want := range []bool{false, false, true, true, true} {
		if _, ok := c.get(fmt.Sprint(i), now); ok != want {
			t.Errorf("entry %d present %v, want %v", i, ok, want)
		}
	}
	// Bytes bound: a 60-byte answer pushes out two of 30.
	c.put("big", make([]byte, 60), time.Minute, now)
	if n, b := c.len(); n != 2 || b != 90 {
		t.Fatalf("%d entries, %d bytes; want 2, 90", n, b)
	}
	// Replacing a key keeps one entry for it; expiry removes it.
	c.put("big", raw, time.Second, now)
	if n, b := c.len(); n != 2 || b != 60 {
		t.Fatalf("after replace: %d entries, %d bytes", n, b)
	}
	if _, ok := c.get("big", now.Add(time.Second)); ok {
		t.Fatal("expired entry served")
	}
	// An answer with no TTL, or SERVFAIL, is not kept.
	r := new(mdns.Msg)
	r.Rcode = mdns.RcodeServerFailure
	if ttl := cacheTTL(r); ttl != 0 {
		t.Fatalf("SERVFAIL ttl %v", ttl)
	}
	r.Rcode = mdns.RcodeNameError
	r.Ns = []mdns.RR{&mdns.SOA{Hdr: mdns.RR_Header{Name: "x.", Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: 900}, Minttl: 60}}
	if ttl := cacheTTL(r); ttl != time.Minute {
		t.Fatalf("negative ttl %v, want the SOA minimum 1m", ttl)
	}
	r.Rcode = mdns.RcodeSuccess
	r.Ns = nil
	r.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: "x.", Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 86400}}}
	if ttl := cacheTTL(r); ttl != maxCacheTTL {
		t.Fatalf("ttl %v, want the cap %v", ttl, maxCacheTTL)
	}
}
