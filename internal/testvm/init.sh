#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio virtio_pci failover net_failover virtio_net; do
  [ -f /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko 2>/dev/null
done
arg() { sed -n "s/.*\bvst\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
ip link set lo up
i=0
while ! ip link show eth0 >/dev/null 2>&1; do
  i=$((i+1)); [ $i -gt 50 ] && echo "VST-NO-NIC" && poweroff -f
  sleep 0.1
done
ip link set eth0 up
if udhcpc -i eth0 -n -q -t 30 -T 1 -s /udhcpc.sh >/dev/null 2>&1; then
  echo "VST-IP $(ip -4 -o addr show eth0 | sed -n 's/.*inet \([0-9.]*\).*/\1/p')"
else
  echo "VST-DHCP-FAIL"
fi
iperf3 -s -D >/dev/null 2>&1
# Peers boot at their own pace under TCG: retry for up to a minute.
for t in $(arg ping | tr , ' '); do
  ok=
  for i in $(seq 60); do
    if ping -c 1 -W 1 $t >/dev/null 2>&1; then ok=1; break; fi
  done
  if [ -n "$ok" ]; then echo "VST-PING-OK $t"; else echo "VST-PING-FAIL $t"; fi
done
t=$(arg iperf)
if [ -n "$t" ]; then
  for i in $(seq 10); do
    r=$(iperf3 -c $t -t 3 -f m 2>&1 | sed -n 's/.* \([0-9.]*\) Mbits\/sec.*receiver.*/\1/p')
    [ -n "$r" ] && break
    sleep 1
  done
  echo "VST-IPERF $t ${r:-fail}"
fi
echo "VST-READY"
while true; do sleep 3600; done
