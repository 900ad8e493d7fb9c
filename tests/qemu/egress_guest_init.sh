#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash
# PID 1 of the egress kernel-WireGuard guest (tests/e2e/egress_kernel.sh): edged's egress on
# Debian 6.1's own WireGuard, configured over generic netlink, with a kernel WireGuard client
# in a network namespace of the guest and an internet host in another.
#
#   [client ns] wgc 100.64.0.2 --- c1/e1 192.0.2.0/30 --- [guest root: edged, wge 100.64.0.1]
#                                                   --- e0/i0 198.51.100.0/24 --- [inet ns]
# The internet host routes only the egress address 203.0.113.10 back: a ping from the client
# that is answered was SNATed. Prints "edged-guest: check NAME ok|FAIL" lines, then "done".
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
# shellcheck disable=SC1091 # written by mkinitramfs.sh
. /etc/guest.env
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s 2>/dev/null
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t bpf -o mode=0700 bpf /sys/fs/bpf
mkdir -p /run /tmp /var
mount -t tmpfs tmpfs /run
ln -s /run /var/run
mkdir -p /run/netns
# iproute2's ip, not busybox's applet (which the shell would prefer by name)
IP=/usr/bin/ip
echo "edged-guest: uname $(uname -r)"

check() { # check NAME CMD...
	name=$1
	shift
	if "$@" >/tmp/check.out 2>&1; then
		echo "edged-guest: check $name ok"
	else
		echo "edged-guest: check $name FAIL: $(tail -n 3 /tmp/check.out | tr '\n' ' ')"
	fi
}
retry() { # retry N CMD...: up to N tries a second apart
	n=$1
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		n=$((n - 1))
		sleep 1
	done
	return 1
}
inns() { ns=$1; shift; $IP netns exec "$ns" "$@"; }

$IP link set lo up
$IP netns add client
$IP netns add inet
$IP link add e1 type veth peer name c1 netns client
$IP link add e0 type veth peer name i0 netns inet
$IP addr add 192.0.2.2/30 dev e1
$IP addr add 198.51.100.2/24 dev e0
$IP link set e1 up
$IP link set e0 up
inns client $IP link set lo up
inns client $IP addr add 192.0.2.1/30 dev c1
inns client $IP link set c1 up
inns inet $IP link set lo up
inns inet $IP addr add 198.51.100.10/24 dev i0
inns inet $IP link set i0 up
inns inet $IP route add 203.0.113.10/32 via 198.51.100.2

/usr/sbin/edged -c /etc/edged/edge.yaml >/tmp/edged.log 2>&1 &
check edged_starts retry 20 edgectl -s /run/edged.sock status
check kernel_device sh -c "$IP -d link show wge | grep -q wireguard"
sed 's/^/edged-guest: log: /' /tmp/edged.log
check backend_kernel grep -q 'egress: wge (kernel)' /tmp/edged.log
check genl_get_port sh -c "wg show wge listen-port | grep -qx 51820"
check genl_set_peers sh -c "wg show wge peers | grep -qx \"\$(cat /etc/edged/c.pub)\""

# The client: kernel WireGuard too, configured by wg(8).
inns client $IP link add wgc type wireguard
inns client wg set wgc private-key /etc/edged/c.key peer "$(cat /etc/edged/edge.pub)" \
	endpoint 192.0.2.2:51820 allowed-ips 0.0.0.0/0 persistent-keepalive 1
inns client $IP addr add 100.64.0.2/32 dev wgc
inns client $IP link set wgc up
inns client $IP route add 198.51.100.0/24 dev wgc
check tunnel_snat_ping retry 15 inns client ping -c1 -W1 198.51.100.10
check peers_handshake sh -c "edgectl -s /run/edged.sock -j egress peers | grep -q '\"handshake_age_s\":[0-9]'"
check peers_counted sh -c "edgectl -s /run/edged.sock -j egress peers | grep -q '\"packets_out\":[1-9]'"
edgectl -s /run/edged.sock egress peers | sed 's/^/edged-guest: peers: /'
check runtime_add edgectl -s /run/edged.sock egress peer add dora "$(cat /etc/edged/d.pub)" 100.64.0.9/32
check runtime_add_genl sh -c "wg show wge allowed-ips | grep -q '100.64.0.9/32'"
check runtime_del edgectl -s /run/edged.sock egress peer del dora
check runtime_del_genl sh -c "! wg show wge peers | grep -q \"\$(cat /etc/edged/d.pub)\""
check still_tunnels inns client ping -c1 -W2 198.51.100.10
edged --teardown -c /etc/edged/edge.yaml >/dev/null 2>&1
check teardown_device sh -c "! $IP link show wge 2>/dev/null"
echo "edged-guest: done"
reboot -f
