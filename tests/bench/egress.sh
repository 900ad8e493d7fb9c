#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# What egress's NAT, conntrack marks and policy routing cost: the same WireGuard tunnel
# (wireguard-go on both ends, the same client) through edged's egress, and through a plain
# edge that only routes (no nftables, no NAT, no marks; the internet host routes the client
# network back to it). iperf3 TCP throughput and connections per second, side by side, in
# alternating rounds, same run. edged attaches its XDP program to its uplinks, which changes
# how veths deliver (a native XDP program on a veth turns off its GRO path): the plain edge is
# measured a second time with an XDP_PASS program on its interfaces, so that the second ratio
# is the cost of NAT, marks and policy routing alone.
#
#   +-----------------+ c1   e1 +-------------------------------+ e0   i0 +--------------------+
#   | vpnA 100.64.0.2 |---------| edge: edged egress, SNAT      |---------| inet               |
#   +-----------------+         | 203.0.113.10                  |         | 198.51.100.10/24   |
#   +-----------------+ c2   p1 +-------------------------------+ p0   i1 | 192.0.2.66/26      |
#   | vpnB 100.64.0.2 |---------| plain: wireguard-go, routing  |---------| iperf3 -s, server  |
#   +-----------------+         +-------------------------------+         +--------------------+
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh

OUT=${OUT:-build}
EDGED=${EDGED:-$OUT/edged}
EDGECTL=${EDGECTL:-$OUT/edgectl}
ROUNDS=${EGRESS_BENCH_ROUNDS:-3}
XDP_PASS_OBJ=$E2E_DIR/xdp_pass.bpf.o
SECS=${EGRESS_BENCH_SECONDS:-4}
CONF=$E2E_DIR/edge.yaml
SOCK=$E2E_DIR/edged.sock
TOOL=tests/e2e/egress_tool.py
SRV_PORT=8080
WG_EDGE="wbe$E2E_RUN"
WG_PLAIN="wbp$E2E_RUN"
WG_A="wba$E2E_RUN"
WG_B="wbb$E2E_RUN"

link() { # link NS1 IF1 NS2 IF2 ADDR1 ADDR2
	ip link add "$2" netns "$(ns "$1")" type veth peer name "$4" netns "$(ns "$3")"
	nsx "$1" ip addr add "$5" dev "$2"
	nsx "$3" ip addr add "$6" dev "$4"
	nsx "$1" ip link set "$2" up
	nsx "$3" ip link set "$4" up
}

# wg_go NODE IFNAME: a wireguard-go on IFNAME in NODE, stopped at cleanup.
wg_go() {
	bg "$1" "$E2E_DIR/$2.log" env WG_PROCESS_FOREGROUND=1 wireguard-go "$2"
	on_cleanup "kill $BG_PID; rm -f /var/run/wireguard/$2.sock"
	wait_for 5 test -S "/var/run/wireguard/$2.sock"
}

# client NODE IFNAME KEY PEERPUB ENDPOINT TARGET
client() {
	wg_go "$1" "$2" || return 1
	nsx "$1" wg set "$2" private-key "$E2E_DIR/$3.key" peer "$(cat "$E2E_DIR/$4.pub")" \
		endpoint "$5:51820" allowed-ips 0.0.0.0/0
	nsx "$1" ip addr add 100.64.0.2/32 dev "$2"
	nsx "$1" ip link set "$2" up
	nsx "$1" ip route add "$6/32" dev "$2"
}

setup() {
	local n
	add_ns vpnA vpnB edge plain inet || exit 1
	for n in edge plain a b; do
		(umask 077 && wg genkey >"$E2E_DIR/$n.key")
		wg pubkey <"$E2E_DIR/$n.key" >"$E2E_DIR/$n.pub"
	done
	link vpnA c1 edge e1 192.0.2.1/30 192.0.2.2/30
	link edge e0 inet i0 198.51.100.2/24 198.51.100.10/24
	link vpnB c2 plain p1 192.0.2.5/30 192.0.2.6/30
	link plain p0 inet i1 192.0.2.65/26 192.0.2.66/26
	nsx inet ip route add 203.0.113.0/24 via 198.51.100.2
	nsx inet ip route add 100.64.0.0/10 via 192.0.2.65
	# The plain edge: the same wireguard-go, routing only.
	wg_go plain "$WG_PLAIN" || exit 1
	nsx plain wg set "$WG_PLAIN" private-key "$E2E_DIR/plain.key" listen-port 51820 \
		peer "$(cat "$E2E_DIR/b.pub")" allowed-ips 100.64.0.2/32
	nsx plain ip addr add 100.64.0.1/10 dev "$WG_PLAIN"
	nsx plain ip link set "$WG_PLAIN" up
	nsx plain sysctl -qw net.ipv4.ip_forward=1
	cat >"$CONF" <<-YAML
		instance: egb-$E2E_RUN
		uplinks: [e0, e1]
		control_socket: $SOCK
		metrics: {listen: off}
		egress:
		  interface: $WG_EDGE
		  backend: wireguard-go
		  private_key_file: $E2E_DIR/edge.key
		  address: [100.64.0.1/10]
		  peers: [{name: a, public_key: "$(cat "$E2E_DIR/a.pub")", addresses: [100.64.0.2/32]}]
		  snat: [{address: 203.0.113.10}]
	YAML
	on_cleanup "nsenter --net=/run/netns/$(ns edge) $EDGED --teardown -c $CONF"
	bg edge "$E2E_DIR/edged.log" "$EDGED" -c "$CONF"
	wait_for 10 nsx edge "$EDGECTL" -s "$SOCK" status || { echo "edged did not start"; exit 1; }
	client vpnA "$WG_A" a edge 192.0.2.2 198.51.100.10 || exit 1
	client vpnB "$WG_B" b plain 192.0.2.6 192.0.2.66 || exit 1
	bg inet "$E2E_DIR/iperf.log" iperf3 -s
	bg inet "$E2E_DIR/server.log" "$TOOL" serve "$SRV_PORT"
	wait_for 15 nsx vpnA ping -c1 -W1 198.51.100.10 || { echo "no tunnel through edged"; exit 1; }
	wait_for 15 nsx vpnB ping -c1 -W1 192.0.2.66 || { echo "no plain tunnel"; exit 1; }
}

mbits() { # mbits NODE TARGET
	nsx "$1" iperf3 -c "$2" -t "$SECS" -J 2>/dev/null |
		/usr/bin/python3 -c 'import json,sys; print("%.0f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e6))'
}

# plain_xdp on|off: the XDP_PASS program on the plain edge's two interfaces.
plain_xdp() {
	local i
	for i in p0 p1; do
		if [[ $1 == on ]]; then
			nsx plain ip link set dev "$i" xdpdrv obj "$XDP_PASS_OBJ" sec xdp
		else
			nsx plain ip link set dev "$i" xdpdrv off
		fi
	done
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }

run() {
	local r ea="" pa="" xa="" ec="" pc="" xc=""
	clang -O2 -g -target bpf -c lab/roles/xdp_pass.bpf.c -o "$XDP_PASS_OBJ" || return 1
	for r in $(seq 1 "$ROUNDS"); do
		ea="$ea $(mbits vpnA 198.51.100.10)"
		pa="$pa $(mbits vpnB 192.0.2.66)"
		ec="$ec $(nsx vpnA "$TOOL" rate 198.51.100.10 "$SRV_PORT" "$SECS")"
		pc="$pc $(nsx vpnB "$TOOL" rate 192.0.2.66 "$SRV_PORT" "$SECS")"
		plain_xdp on
		xa="$xa $(mbits vpnB 192.0.2.66)"
		xc="$xc $(nsx vpnB "$TOOL" rate 192.0.2.66 "$SRV_PORT" "$SECS")"
		plain_xdp off
		echo "round $r: Mbit/s edged${ea##* } plain${pa##* } plain+xdp_pass${xa##* };" \
			"conn/s edged${ec##* } plain${pc##* } plain+xdp_pass${xc##* }"
	done
	/usr/bin/python3 -c "import sys; a,b,x,c,d,y=map(float,sys.argv[1:]);
print('BENCH egress_wg_tcp_throughput Mbit/s edged=%.0f wg_plain_routing=%.0f ratio=%.2f' % (a, b, a / b))
print('BENCH egress_wg_connections conn/s edged=%.0f wg_plain_routing=%.0f ratio=%.2f' % (c, d, c / d))
print('BENCH egress_wg_tcp_throughput_nat_only Mbit/s edged=%.0f wg_routing_xdp_pass=%.0f ratio=%.2f' % (a, x, a / x))
print('BENCH egress_wg_connections_nat_only conn/s edged=%.0f wg_routing_xdp_pass=%.0f ratio=%.2f' % (c, y, c / y))" \
		"$(echo "$ea" | median)" "$(echo "$pa" | median)" "$(echo "$xa" | median)" \
		"$(echo "$ec" | median)" "$(echo "$pc" | median)" "$(echo "$xc" | median)"
}

setup
run
