#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Throughput through the whole anycast GRE transit path (issue 8) against the same hosts
# routed plainly, same machine, same run, with iperf3 (TCP, one stream, 5 s; the three paths
# in turn, TRANSIT_BENCH_ROUNDS times (3), medians):
#
#   client 192.0.2.1 c0 --- e0 [edge] e1 --- r0 [site] s1 --- h0 host 203.0.113.10
#                              edged: XDP decap,       router 198.51.100.50: GRE in BPF
#                              customer namespace,     (tests/bench/gre_site.bpf.c, TC), key 42
#                              TC encap, endpoint
#                              192.0.2.100
#
#   routed    no edged, no GRE: the edge routes 203.0.113.0/24 to the site
#   routed with edged's XDP: the same with edged on the uplinks (no transit section): what the
#             uplink XDP alone costs (veth peers lose GSO while native XDP is attached)
#   transit   client -> edge: marked into acme's namespace (firewall) -> TC GRE encap -> site
#             strips GRE -> host; back: site wraps in GRE -> edge XDP decap -> acme's
#             namespace -> client
# "to_site" sends client -> host (edged encapsulates the data), "from_site" (iperf3 -R) host ->
# client (edged decapsulates it).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh

INSTANCE="grebench-$E2E_RUN"
CONF=$E2E_DIR/edge.yaml
SOCK=$E2E_DIR/edged.sock
SITE_OBJ=build/bench/gre_site.bpf.o
SECS=${TRANSIT_BENCH_SECS:-5}
ROUNDS=${TRANSIT_BENCH_ROUNDS:-3}

link() { # link NS1 IF1 ADDR1 NS2 IF2 ADDR2
	ip link add "$2" netns "$(ns "$1")" type veth peer name "$5" netns "$(ns "$4")"
	nsx "$1" ip addr add "$3" dev "$2"
	nsx "$4" ip addr add "$6" dev "$5"
	nsx "$1" ip link set "$2" up
	nsx "$4" ip link set "$5" up
}

setup() {
	add_ns client edge site host || exit 1
	link client c0 192.0.2.1/24 edge e0 192.0.2.2/24
	link edge e1 198.51.100.1/24 site r0 198.51.100.50/24
	link site s1 203.0.113.1/24 host h0 203.0.113.10/24
	nsx client ip route add default via 192.0.2.2
	nsx host ip route add default via 203.0.113.1
	nsx site ip route add default via 198.51.100.1
	nsx edge ip route add 203.0.113.0/24 via 198.51.100.50
	nsx edge sysctl -qw net.ipv4.ip_forward=1
	nsx site sysctl -qw net.ipv4.ip_forward=1
	# The site's packets reach edged with their checksums complete, as from a wire: a veth
	# hands on a local CHECKSUM_PARTIAL skb, whose checksum state an XDP_REDIRECT (edged's
	# decap) cannot carry, and the host would then drop it as corrupt.
	nsx site ethtool -K r0 tx off >/dev/null
	# GRO on the edge's uplinks, as a NIC has it by default (a veth has it off): without it
	# every segment crosses the stack, the customer's namespace and the encapsulation one by
	# one (measured: 1463 bytes a packet on the customer veth), twice the forwarding work of
	# the routed path per segment.
	nsx edge ethtool -K e0 gro on >/dev/null
	nsx edge ethtool -K e1 gro on >/dev/null
	bg host "$E2E_DIR/iperf3.log" iperf3 -s -B 203.0.113.10
	cat >"$CONF.plain" <<-YAML
		instance: $INSTANCE
		uplinks: [e0, e1]
		control_socket: $SOCK
		metrics: {listen: off}
	YAML
	cat >"$CONF" <<-YAML
		instance: $INSTANCE
		uplinks: [e0, e1]
		control_socket: $SOCK
		metrics: {listen: off}
		transit:
		  endpoints: [192.0.2.100]
		  customers:
		    - name: acme
		      prefixes: [203.0.113.0/24]
		      tunnels: [{name: acme-1, remote: 198.51.100.50, key: 42, health: off}]
		      firewall: {default: allow}
	YAML
	on_cleanup remove_edged
	on_cleanup "for n in \$(ip netns list | awk '/^edged-$INSTANCE-/{print \$1}'); do ip netns del \$n; done"
	wait_for 5 nsx host sh -c "ss -ltn | grep -q 5201"
}

# remove_edged: the trap's part (also on Ctrl-C, whichever config edged ran): edged stopped
# by its PID, `edged --teardown` (both configs have the same instance), and the instance's
# pins removed if the teardown left any (an edged killed before it pinned everything, a
# teardown that failed), so no /sys/fs/bpf/edged/grebench-* outlives the run.
remove_edged() {
	if [[ -n ${EDGED_PID:-} ]]; then
		kill "$EDGED_PID" 2>/dev/null
		wait "$EDGED_PID" 2>/dev/null
	fi
	nsx edge "$EDGED" --teardown -c "$CONF" >/dev/null 2>&1
	if [[ -e /sys/fs/bpf/edged/$INSTANCE ]]; then
		echo "transit_throughput: edged --teardown left /sys/fs/bpf/edged/$INSTANCE: removing it" >&2
		rm -rf "/sys/fs/bpf/edged/$INSTANCE"
	fi
}

# gbps [-R]: one iperf3 run's throughput in Gbit/s (receiver side), or 0.
gbps() {
	nsx client timeout $((SECS + 10)) iperf3 -c 203.0.113.10 -t "$SECS" -J "$@" 2>/dev/null |
		/usr/bin/python3 -c 'import json,sys
try:
    e = json.load(sys.stdin)["end"]
    print("%.2f" % (e["sum_received"]["bits_per_second"] / 1e9))
    print("retransmits %s" % e["sum_sent"].get("retransmits"), file=sys.stderr)
except Exception: print(0)'
}

site_gre_on() {
	nsx site tc qdisc add dev r0 clsact &&
		nsx site tc filter add dev r0 ingress bpf da obj "$SITE_OBJ" sec tc/ingress &&
		nsx site tc filter add dev r0 egress bpf da obj "$SITE_OBJ" sec tc/egress
}

ratio() { /usr/bin/python3 -c "import sys; a, b = map(float, sys.argv[1:]); print('%.2f' % (a / b if b else 0))" "$1" "$2"; }
median() { /usr/bin/python3 -c "import statistics, sys; print('%.2f' % statistics.median(map(float, sys.argv[1:])))" "$@"; }

# start_edged CONF: edged in the edge namespace until the next stop_edged.
start_edged() {
	bg edge "$E2E_DIR/edged.log" "$EDGED" -c "$1"
	EDGED_PID=$BG_PID
	if ! wait_for 10 nsx edge "$EDGECTL" -s "$SOCK" status; then
		echo "transit_throughput: edged did not start:"
		cat "$E2E_DIR/edged.log"
		exit 1
	fi
}

# stop_edged: edged stopped and torn down (both configs name the same instance).
stop_edged() {
	[[ -n ${EDGED_PID:-} ]] || return 0
	kill "$EDGED_PID"
	wait "$EDGED_PID" 2>/dev/null
	EDGED_PID=
	nsx edge "$EDGED" --teardown -c "$CONF" >/dev/null 2>&1
}

# mode routed|xdp|transit: the path the next measurements take.
mode() {
	stop_edged
	nsx site tc qdisc del dev r0 clsact 2>/dev/null
	case $1 in
	xdp) start_edged "$CONF.plain" ;;
	transit)
		site_gre_on || { echo "transit_throughput: couldn't load the site's GRE programs"; exit 1; }
		start_edged "$CONF"
		;;
	esac
	nsx client ping -c 1 -W 2 203.0.113.10 >/dev/null || echo "transit_throughput: $1: no answer to a ping"
}

# Rounds of the three paths in turn (routed, XDP, transit): the machine's load changes by the
# second, so each ratio compares medians of measurements taken side by side.
setup
declare -A to from
for ((r = 1; r <= ROUNDS; r++)); do
	for m in routed xdp transit; do
		mode "$m"
		to[$m]+=" $(gbps)"
		from[$m]+=" $(gbps -R)"
	done
done
stop_edged
for m in routed xdp transit; do
	# shellcheck disable=SC2086 # the lists of figures, one word each
	read -r "${m}_to" "${m}_from" <<<"$(median ${to[$m]}) $(median ${from[$m]})"
done
echo "rounds: $ROUNDS x ${SECS}s per path and direction; Gbit/s per round:"
for m in routed xdp transit; do echo "  $m: to_site${to[$m]}; from_site${from[$m]}"; done
# shellcheck disable=SC2154 # set by read above
{
	echo "routed:  to_site $routed_to Gbit/s, from_site $routed_from Gbit/s (medians)"
	echo "routed, edged's XDP on the uplinks: to_site $xdp_to Gbit/s, from_site $xdp_from Gbit/s"
	echo "transit: to_site $transit_to Gbit/s, from_site $transit_from Gbit/s"
	echo "BENCH transit_tcp_to_site gbit_per_s edged=$transit_to routed=$routed_to ratio=$(ratio "$transit_to" "$routed_to")"
	echo "BENCH transit_tcp_from_site gbit_per_s edged=$transit_from routed=$routed_from ratio=$(ratio "$transit_from" "$routed_from")"
	echo "BENCH transit_tcp_to_site_vs_xdp gbit_per_s edged=$transit_to routed_edged_xdp=$xdp_to ratio=$(ratio "$transit_to" "$xdp_to")"
	echo "BENCH transit_tcp_from_site_vs_xdp gbit_per_s edged=$transit_from routed_edged_xdp=$xdp_from ratio=$(ratio "$transit_from" "$xdp_from")"
}
