package gateway

// DHCP relay agents (RFC 2131 4.1, RFC 3046). A relay forwards its
// clients' messages with giaddr set, from its own MAC, and takes the
// answers at giaddr on port 67. On an ordinary port that is a guest like
// any other: its relayed messages count against its own MAC's rate and
// lease limit. A port configured as a trusted relay (dhcp_relay: true)
// answers for the clients behind it: the chaddr check and those limits
// are lifted for frames that came in on it, and only for those.

// MarkDHCPRelay is the switch port mark (vswitch.PortConfig.Mark) of a
// trusted relay port. The switch sets it on every frame read from the
// port, so the gateway knows the ingress without an FDB lookup that a
// guest sending with the relay's MAC could win.
const MarkDHCPRelay uint8 = 1 << 0
