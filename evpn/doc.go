// Package evpn is the BGP EVPN control plane of vxlan ports: an embedded
// GoBGP speaker advertises the MACs learned on the switch's own ports
// (route type 2) and this VTEP's membership of each VNI (type 3, ingress
// replication), and installs the peers' routes into the tunnel: remote
// MACs pinned to their VTEP, flood lists per VNI. It speaks RFC 7432 and
// RFC 8365 as FRR and GoBGP do, so a Linux host running FRR is a peer.
//
// It must never run on the frame path: it polls the FDB off it, and the
// tunnel takes its changes as whole immutable sets (one atomic swap).
// Routes of types it has no use for (Ethernet segments, IP prefixes) are
// ignored, never an error of the session.
package evpn
