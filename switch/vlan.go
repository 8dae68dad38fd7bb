package vswitch

import (
	"math/bits"

	"github.com/vswitch/vswitch/internal/pkt"
)

// VLANConfig is a port's VLAN membership.
type VLANConfig struct {
	// Trunk ports carry tagged frames of Allowed, and untagged frames of
	// Native (0: untagged frames are dropped). Access ports carry VLAN
	// PVID untagged.
	Trunk   bool
	PVID    uint16   // access VLAN (default 1)
	Allowed []uint16 // trunk VLANs
	Native  uint16   // trunk untagged VLAN, 0 = none
}

// vlanSet is a 4096-bit membership set: one bit test per frame.
type vlanSet [4096 / 64]uint64

func (s *vlanSet) add(vid uint16)      { s[vid>>6] |= 1 << (vid & 63) }
func (s *vlanSet) has(vid uint16) bool { return s[vid>>6]&(1<<(vid&63)) != 0 }

// each calls fn for every member but 0 and 4095, in order. It skips
// empty words: a topology change calls it for every port, so a bit-by-bit
// walk made adding the thousandth port cost millions of tests.
func (s *vlanSet) each(fn func(vid uint16)) {
	for w, word := range s {
		for word != 0 {
			vid := uint16(w<<6 + bits.TrailingZeros64(word))
			word &= word - 1
			if vid >= 1 && vid <= pkt.MaxVID {
				fn(vid)
			}
		}
	}
}

// egressMode is how a frame of one VLAN leaves a port.
type egressMode uint8

const (
	egressNone egressMode = iota // not a member
	egressUntagged
	egressTagged
)

// portVLAN is the compiled VLANConfig.
type portVLAN struct {
	trunk   bool
	pvid    uint16 // access VLAN or trunk native (0 = none)
	tagged  vlanSet
	members vlanSet // tagged ∪ {pvid}
}

func compileVLAN(c VLANConfig) portVLAN {
	var v portVLAN
	v.trunk = c.Trunk
	if c.Trunk {
		v.pvid = c.Native
		for _, vid := range c.Allowed {
			v.tagged.add(vid)
			v.members.add(vid)
		}
	} else {
		v.pvid = c.PVID
		if v.pvid == 0 {
			v.pvid = 1
		}
	}
	if v.pvid != 0 {
		v.members.add(v.pvid)
	}
	return v
}

func (v *portVLAN) egress(vid uint16) egressMode {
	switch {
	case vid == v.pvid:
		return egressUntagged
	case v.tagged.has(vid):
		return egressTagged
	}
	return egressNone
}

// classify assigns f to a VLAN as it enters port v, leaving it untagged in
// the buffer (the switch's internal form). It returns a drop reason, or
// NumDropReasons when the frame is accepted.
func (v *portVLAN) classify(f *Frame) DropReason {
	b := f.Bytes()
	if len(b) < pkt.EthernetLen {
		return DropRunt
	}
	var tci uint16
	tagged := false
	switch typ := pkt.Ethernet(b).Type(); {
	case f.hasTCI:
		// The driver took the tag out of band; the buffer is untagged.
		// From here the tag lives in vid and prio: an egress capture must
		// not put the ingress tag back on a frame that leaves untagged
		// (or tagged already).
		tci, tagged = f.tci, true
		f.tci, f.hasTCI = 0, false
		if pkt.IsTPID(typ) {
			return DropQinQ
		}
	case typ == pkt.TypeVLAN:
		if len(b) < pkt.VLANHeaderLen {
			return DropBadVLAN
		}
		tv := pkt.VLAN(b)
		tci, tagged = tv.TCI(), true
		if pkt.IsTPID(tv.InnerType()) {
			return DropQinQ
		}
		f.off = pkt.PopTag(f.buf, f.off)
		f.n -= pkt.VLANTagLen
		f.VNet.Shift(-pkt.VLANTagLen)
	case typ == pkt.TypeQinQ || typ == pkt.TypeQinQOld:
		return DropQinQ
	}
	vid := tci & pkt.VIDMask
	if vid == pkt.VIDMask {
		return DropBadVLAN
	}
	if !tagged || vid == 0 { // vid 0: priority tag only, the frame is untagged
		if v.pvid == 0 {
			return DropUntagged
		}
		vid = v.pvid
	} else if !v.members.has(vid) {
		return DropVLANNotAllowed
	}
	f.vid = vid
	f.prio = uint8(tci >> 12)
	return NumDropReasons
}

// tag makes f leave as a tagged frame of its VLAN.
func (f *Frame) tag() {
	f.off = pkt.PushTag(f.buf, f.off, pkt.TypeVLAN, uint16(f.prio)<<12|f.vid)
	f.n += pkt.VLANTagLen
	f.VNet.Shift(pkt.VLANTagLen)
}
