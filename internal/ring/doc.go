// Package ring is a bounded multi-producer queue of pointers (Vyukov's
// array queue) for the frame path: Put is one CAS, never blocks and never
// allocates; a full ring refuses, so the caller can count a tail drop.
// One consumer takes; Queue adds the consumer's park and wake-up, the one
// sleeping-flag handshake the switch, captures and the gateway share.
//
// It must never block a producer, grow, or allocate per item.
package ring
