package nat

import (
	"net/netip"
	"testing"

	"github.com/vswitch/vswitch/internal/pkt"
)

// step is one packet of a flow: out (guest -> remote) or in (the reply),
// with TCP flags as build names them.
type step struct {
	in    bool
	flags string
}

// timeoutCase drives one flow through steps, which must end in state,
// whose timeout is timeout.
type timeoutCase struct {
	name    string
	proto   uint8
	steps   []step
	state   string
	timeout int64
}

// run translates tc's steps with send, each a packet of the one flow
// starting at now, and checks the flow's state and that it lives exactly
// its timeout: kept a second before, swept at it.
func (tc timeoutCase) run(t *testing.T, tb *Table, send func(step) (Verdict, *Entry)) {
	t.Helper()
	var e *Entry
	for i, s := range tc.steps {
		v, got := send(s)
		if v != Translated || (e != nil && got != e) {
			t.Fatalf("step %d: %v, flow %p (first %p)", i, v, got, e)
		}
		e = got
	}
	if e.State() != tc.state {
		t.Fatalf("state %s, want %s", e.State(), tc.state)
	}
	if n := tb.Sweep(now + tc.timeout - 1); n != 0 || tb.Len() != 1 {
		t.Fatalf("swept %d one second before the timeout, %d left", n, tb.Len())
	}
	if n := tb.Sweep(now + tc.timeout); n != 1 || tb.Len() != 0 {
		t.Fatalf("swept %d at the timeout, %d left", n, tb.Len())
	}
}

// TestTimeouts: each state's documented timeout, counted from the last
// packet. A flow is kept one second before it and swept at it; after
// that its replies are unsolicited.
func TestTimeouts(t *testing.T) {
	const sp, dp = 40000, 80
	for _, tc := range []timeoutCase{
		{"tcp syn", protoTCP, []step{{false, "syn"}}, "new", TimeoutTCPNew},
		{"tcp syn retransmitted", protoTCP, []step{{false, "syn"}, {false, "syn"}}, "new", TimeoutTCPNew},
		// The guest's own ACKs prove nothing came back.
		{"tcp acks one way", protoTCP, []step{{false, "syn"}, {false, "ack"}}, "new", TimeoutTCPNew},
		// A reply without ACK (simultaneous open) is not an answer yet.
		{"tcp reply syn", protoTCP, []step{{false, "syn"}, {true, "syn"}}, "new", TimeoutTCPNew},
		// A SYN-ACK answers the SYN; the guest's ACK completes the handshake.
		{"tcp syn-ack", protoTCP, []step{{false, "syn"}, {true, "synack"}}, "syn_recv", TimeoutTCPSynRecv},
		{"tcp established", protoTCP, []step{{false, "syn"}, {true, "synack"}, {false, "ack"}}, "established", TimeoutTCPEstablished},
		{"tcp syn-ack twice", protoTCP, []step{{false, "syn"}, {true, "synack"}, {true, "synack"}}, "syn_recv", TimeoutTCPSynRecv},
		// A flow picked up mid-stream (its entry was lost): the remote's ACK.
		{"tcp mid-stream", protoTCP, []step{{false, "ack"}, {true, "ack"}}, "established", TimeoutTCPEstablished},
		{"tcp fin out", protoTCP, []step{{false, "syn"}, {true, "synack"}, {false, "fin"}}, "closing", TimeoutTCPClosing},
		{"tcp fin in", protoTCP, []step{{false, "syn"}, {true, "synack"}, {true, "fin"}}, "closing", TimeoutTCPClosing},
		{"tcp fin then ack", protoTCP, []step{{false, "syn"}, {true, "synack"}, {false, "fin"}, {true, "ack"}}, "closing", TimeoutTCPClosing},
		{"tcp fin before established", protoTCP, []step{{false, "syn"}, {false, "fin"}}, "closing", TimeoutTCPClosing},
		{"tcp rst", protoTCP, []step{{false, "syn"}, {true, "rst"}}, "closed", TimeoutTCPClosed},
		{"tcp rst when established", protoTCP, []step{{false, "syn"}, {true, "synack"}, {false, "rst"}}, "closed", TimeoutTCPClosed},
		{"tcp rst when closing", protoTCP, []step{{false, "syn"}, {true, "synack"}, {false, "fin"}, {true, "rst"}}, "closed", TimeoutTCPClosed},
		// After a reset a FIN does not reopen the flow to the closing timeout.
		{"tcp fin after rst", protoTCP, []step{{false, "syn"}, {true, "rst"}, {false, "fin"}}, "closed", TimeoutTCPClosed},
		{"udp one way", protoUDP, []step{{false, ""}, {false, ""}}, "new", TimeoutUDP},
		{"udp stream", protoUDP, []step{{false, ""}, {true, ""}}, "established", TimeoutUDPStream},
		{"icmp echo", protoICMP, []step{{false, ""}}, "new", TimeoutICMP},
		// ICMP has one timeout; its state is not tracked.
		{"icmp echo answered", protoICMP, []step{{false, ""}, {true, "reply"}}, "new", TimeoutICMP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := New(Config{})
			tc.run(t, tb, func(s step) (Verdict, *Entry) {
				if s.in {
					rs := uint16(dp)
					if tc.proto == protoICMP {
						rs = sp // the echo identifier
					}
					return tb.Inbound(Packet{IP: build(t, tc.proto, remote, uplink, rs, sp, s.flags)}, now)
				}
				return tb.Outbound(Packet{IP: build(t, tc.proto, guest, remote, sp, dp, s.flags)}, uplink, now)
			})
			if st := tb.Stats(); st.Expired != 1 || st.EarlyDrops != 0 {
				t.Fatalf("%+v", st)
			}
			if len(tb.Entries()) != 0 {
				t.Fatal("a swept flow is still listed")
			}
			r := build(t, tc.proto, remote, uplink, dp, sp, "ack")
			if tc.proto == protoICMP {
				r = build(t, tc.proto, remote, uplink, sp, 0, "reply")
			}
			if v, _ := tb.Inbound(Packet{IP: r}, now+tc.timeout); v != NotTracked {
				t.Fatalf("reply after expiry: %v", v)
			}
			// A swept flow is gone for good: a second sweep counts nothing.
			if n := tb.Sweep(now + 2*tc.timeout); n != 0 {
				t.Fatalf("second sweep removed %d", n)
			}
		})
	}
}

// TestTrafficRefreshes: the timeout counts from the last packet, either
// way, not from the first.
func TestTrafficRefreshes(t *testing.T) {
	for _, in := range []bool{false, true} {
		tb := New(Config{})
		_, e := tb.Outbound(Packet{IP: build(t, protoUDP, guest, remote, 5000, 53, "")}, uplink, now)
		later := now + 20
		var v Verdict
		if in {
			v, _ = tb.Inbound(Packet{IP: build(t, protoUDP, remote, uplink, 53, 5000, "")}, later)
		} else {
			v, _ = tb.Outbound(Packet{IP: build(t, protoUDP, guest, remote, 5000, 53, "")}, uplink, later)
		}
		if v != Translated || e.LastSeen() != later {
			t.Fatalf("inbound %v: %v, last seen %d want %d", in, v, e.LastSeen(), later)
		}
		timeout := int64(TimeoutUDP)
		if in {
			timeout = TimeoutUDPStream
		}
		if n := tb.Sweep(later + timeout - 1); n != 0 {
			t.Fatalf("inbound %v: swept %d before the timeout from the last packet", in, n)
		}
		if n := tb.Sweep(later + timeout); n != 1 {
			t.Fatalf("inbound %v: swept %d at it", in, n)
		}
		if e.Created.Unix() != now {
			t.Fatalf("created %v", e.Created)
		}
	}
}

// TestSweepKeepsTheLive: a sweep takes the idle flows and only them.
func TestSweepKeepsTheLive(t *testing.T) {
	tb := New(Config{})
	tb.Outbound(Packet{IP: build(t, protoUDP, guest, remote, 5000, 53, "")}, uplink, now)
	tb.Outbound(Packet{IP: build(t, protoTCP, guest, remote, 40000, 80, "syn")}, uplink, now)
	tb.Inbound(Packet{IP: build(t, protoTCP, remote, uplink, 80, 40000, "synack")}, now)
	tb.Outbound(Packet{IP: build(t, protoTCP, guest, remote, 40000, 80, "ack")}, uplink, now)
	if n := tb.Sweep(now + TimeoutUDP); n != 1 || tb.Len() != 1 {
		t.Fatalf("swept %d, %d left", n, tb.Len())
	}
	es := tb.Entries()
	if len(es) != 1 || es[0].Inside.Proto != protoTCP || es[0].State() != "established" {
		t.Fatalf("left %v", es)
	}
	// The established TCP flow still translates.
	p := build(t, protoTCP, guest, remote, 40000, 80, "ack")
	if v, _ := tb.Outbound(Packet{IP: p}, uplink, now+TimeoutUDP); v != Translated || pkt.IPv4(p).Src() != uplink {
		t.Fatalf("%v", v)
	}
}

// TestForwardedFlowTimeouts: a flow a port forward started is answered
// by the guest, so its states count from the remote's side: traffic from
// the remote alone is one direction (UDP 30 s; an unsolicited ACK is not
// an established connection), the guest's answer establishes UDP, and
// the remote's ACK of the guest's SYN-ACK a TCP connection: a spoofed SYN
// flood, which the guest answers, stays short-lived.
func TestForwardedFlowTimeouts(t *testing.T) {
	const gp, fp, rp = 80, 8080, 50000
	for _, tc := range []timeoutCase{
		{"udp from the remote only", protoUDP, []step{{true, ""}, {true, ""}}, "new", TimeoutUDP},
		{"udp answered", protoUDP, []step{{true, ""}, {false, ""}}, "established", TimeoutUDPStream},
		{"tcp syn", protoTCP, []step{{true, "syn"}}, "new", TimeoutTCPNew},
		{"tcp unsolicited ack", protoTCP, []step{{true, "ack"}}, "new", TimeoutTCPNew},
		{"tcp syn, guest syn-ack", protoTCP, []step{{true, "syn"}, {false, "synack"}}, "syn_recv", TimeoutTCPSynRecv},
		{"tcp handshake", protoTCP, []step{{true, "syn"}, {false, "synack"}, {true, "ack"}}, "established", TimeoutTCPEstablished},
		// Only the initiator's ACK completes it.
		{"tcp guest acks again", protoTCP, []step{{true, "syn"}, {false, "synack"}, {false, "ack"}}, "syn_recv", TimeoutTCPSynRecv},
		{"tcp guest rst", protoTCP, []step{{true, "ack"}, {false, "rst"}}, "closed", TimeoutTCPClosed},
		{"tcp fin", protoTCP, []step{{true, "syn"}, {false, "synack"}, {true, "fin"}}, "closing", TimeoutTCPClosing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := New(Config{})
			tb.AddForward(tc.proto, fp, netip.AddrPortFrom(guest, gp))
			tc.run(t, tb, func(s step) (Verdict, *Entry) {
				if s.in {
					return tb.Inbound(Packet{IP: build(t, tc.proto, remote, uplink, rp, fp, s.flags)}, now)
				}
				return tb.Outbound(Packet{IP: build(t, tc.proto, guest, remote, gp, rp, s.flags)}, uplink, now)
			})
		})
	}
}
