#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Anycast GRE transit on a fleet: three edges carry the same endpoint and the same customer
# behind a router that spreads flows over them with ECMP (L4 hash). The customer site's
# router (scapy GRE, tests/e2e/transit_site.py) has one tunnel to the anycast endpoint. An
# edge is killed while flows run (edged killed, its links cut: the router's nexthop goes);
# GRE is stateless, so the other edges carry on with every flow: TCP connections that were
# open keep working, and new ones open. A second customer's site (site6) is reached over an
# IPv6 underlay, through the same fleet: its IPv6 keepalives come back to every edge (each to
# its own address), and its traffic survives the loss of an edge too.
#
#                               +-- e1 [edge1: edged] --+
#   client 192.0.2.1 --- [rtr] -+-- e2 [edge2: edged] --+  (each edge's uplink to rtr)
#   site 198.51.100.50 --/      +-- e3 [edge3: edged] --+
#   hostA 203.0.113.10 behind site (acme: 203.0.113.0/26, endpoint 192.0.2.100 on every edge)
#   site6 2001:db8:5::50 --/                                (umbrella: 203.0.113.128/26, hostC
#     203.0.113.138 behind site6, endpoint 2001:db8:e::100 on every edge, GRE over IPv6)
#   rtr: 203.0.113.0/24, 192.0.2.100 and 2001:db8:e::100 via edge1|edge2|edge3 (multipath, L4 hash)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh

SITE=tests/e2e/transit_site.py
TOOL=tests/e2e/transit_tool.py
EDGES=(1 2 3)
declare -A EDGED_PIDS

conf() { echo "$E2E_DIR/edge$1.yaml"; }
sock() { echo "$E2E_DIR/edge$1.sock"; }
ctl() { nsx "edge$1" "$EDGECTL" -s "$(sock "$1")" "${@:2}"; }

setup() {
	local e
	add_ns client rtr site hostA site6 hostC edge1 edge2 edge3 || exit 1
	ip link add c0 netns "$(ns client)" type veth peer name r0 netns "$(ns rtr)"
	ip link add s0 netns "$(ns site)" type veth peer name rs netns "$(ns rtr)"
	ip link add a1 netns "$(ns site)" type veth peer name h0 netns "$(ns hostA)"
	nsx client ip addr add 192.0.2.1/25 dev c0
	nsx rtr ip addr add 192.0.2.126/25 dev r0
	nsx site ip addr add 198.51.100.50/24 dev s0
	nsx rtr ip addr add 198.51.100.1/24 dev rs
	nsx site ip addr add 203.0.113.1/26 dev a1
	nsx hostA ip addr add 203.0.113.10/26 dev h0
	for l in "client c0" "rtr r0" "site s0" "rtr rs" "site a1" "hostA h0"; do
		# shellcheck disable=SC2086
		set -- $l
		nsx "$1" ip link set "$2" up
	done
	nsx client ip route add default via 192.0.2.126
	nsx site ip route add default via 198.51.100.1
	nsx hostA ip route add default via 203.0.113.1
	nsx rtr sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1 \
		net.ipv4.conf.all.ignore_routes_with_linkdown=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv6.fib_multipath_hash_policy=1 net.ipv6.conf.all.ignore_routes_with_linkdown=1
	for e in "${EDGES[@]}"; do
		ip link add "u$e" netns "$(ns "edge$e")" type veth peer name "re$e" netns "$(ns rtr)"
		nsx "edge$e" ip addr add "100.64.$e.2/30" dev "u$e"
		nsx rtr ip addr add "100.64.$e.1/30" dev "re$e"
		nsx "edge$e" ip link set "u$e" up
		nsx rtr ip link set "re$e" up
		nsx "edge$e" ip route add default via "100.64.$e.1"
		nsx "edge$e" ip addr add "2001:db8:64:$e::2/64" dev "u$e" nodad
		nsx rtr ip addr add "2001:db8:64:$e::1/64" dev "re$e" nodad
		nsx "edge$e" ip -6 route add default via "2001:db8:64:$e::1"
		nsx "edge$e" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
		# Checksums complete on the wire, as a NIC sends them (see transit.sh).
		nsx "edge$e" ethtool -K "u$e" tx off >/dev/null
		write_config "$e"
		on_cleanup "nsenter --net=/run/netns/$(ns "edge$e") $EDGED --teardown -c $(conf "$e")"
	done
	for p in 203.0.113.0/24 192.0.2.100/32; do
		nsx rtr ip route add "$p" nexthop via 100.64.1.2 nexthop via 100.64.2.2 nexthop via 100.64.3.2
	done
	nsx rtr ip -6 route add 2001:db8:e::100/128 nexthop via 2001:db8:64:1::2 dev re1 \
		nexthop via 2001:db8:64:2::2 dev re2 nexthop via 2001:db8:64:3::2 dev re3
	setup_site6
	nsx site sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0
	bg site "$E2E_DIR/site.out" /usr/bin/python3 "$SITE" --tun gresite --local 198.51.100.50 \
		--endpoint 192.0.2.100 --key 42 --log "$E2E_DIR/site.log"
	wait_for 5 grep -q ready "$E2E_DIR/site.log" || exit 1
	nsx site ip link set gresite up
	nsx site sysctl -qw net.ipv4.conf.gresite.accept_local=1 net.ipv4.conf.gresite.rp_filter=0
	nsx site ip rule add from 203.0.113.0/26 iif a1 lookup 100
	nsx site ip route add default dev gresite table 100
	bg hostA "$E2E_DIR/hostA.tool" /usr/bin/python3 "$TOOL" serve 0.0.0.0 8080
	on_cleanup "for n in \$(ip netns list | awk '/^edged-tf-$E2E_RUN-/{print \$1}'); do ip netns del \$n; done"
}

# site6: umbrella's router, reached from the fleet over IPv6 only.
setup_site6() {
	ip link add s6 netns "$(ns site6)" type veth peer name r6 netns "$(ns rtr)"
	ip link add c1 netns "$(ns site6)" type veth peer name h0 netns "$(ns hostC)"
	nsx site6 ip addr add 2001:db8:5::50/64 dev s6 nodad
	nsx rtr ip addr add 2001:db8:5::1/64 dev r6 nodad
	nsx site6 ip addr add 203.0.113.129/26 dev c1
	nsx hostC ip addr add 203.0.113.138/26 dev h0
	for l in "site6 s6" "rtr r6" "site6 c1" "hostC h0"; do
		# shellcheck disable=SC2086
		set -- $l
		nsx "$1" ip link set "$2" up
	done
	nsx site6 ip -6 route add default via 2001:db8:5::1
	nsx hostC ip route add default via 203.0.113.129
	nsx site6 sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv6.conf.all.forwarding=1
	bg site6 "$E2E_DIR/site6.out" /usr/bin/python3 "$SITE" --tun gresite6 --local 2001:db8:5::50 \
		--endpoint 2001:db8:e::100 --key 44 --log "$E2E_DIR/site6.log"
	wait_for 5 grep -q ready "$E2E_DIR/site6.log" || exit 1
	nsx site6 ip link set gresite6 up
	nsx site6 ip rule add from 203.0.113.128/26 iif c1 lookup 100
	nsx site6 ip route add default dev gresite6 table 100
	bg hostC "$E2E_DIR/hostC.tool" /usr/bin/python3 "$TOOL" serve 0.0.0.0 8080
}

# Every edge: the same transit section; only the instance (and so the namespaces' names,
# which are machine-wide) differs.
write_config() {
	cat >"$(conf "$1")" <<-YAML
		instance: tf-$E2E_RUN-$1
		uplinks: [u$1]
		control_socket: $(sock "$1")
		metrics: {listen: off}
		transit:
		  endpoints: [192.0.2.100, "2001:db8:e::100"]
		  customers:
		    - name: acme
		      prefixes: [203.0.113.0/26]
		      tunnels: [{name: acme-1, remote: 198.51.100.50, key: 42, health: {interval: 500ms, timeout: 3s}}]
		      firewall: {default: allow, rules: [{action: deny, proto: tcp, dst_port: 23}]}
		    - name: umbrella
		      prefixes: [203.0.113.128/26]
		      tunnels: [{name: umb-1, remote: "2001:db8:5::50", key: 44, health: {interval: 500ms, timeout: 3s}}]
	YAML
}

# in_packets EDGE: packets edge EDGE sent toward the site (encapsulated) so far.
out_packets() {
	json_get "$(ctl "$1" -j transit tunnels)" "[t['out_packets'] for t in j['tunnels'] if t['name']=='${2:-acme-1}'][0]"
}

# answered EDGE TUNNEL: TUNNEL's keepalives came back to EDGE.
answered() {
	test "$(json_get "$(ctl "$1" -j transit tunnels)" "[t['keepalives_answered'] for t in j['tunnels'] if t['name']=='$2'][0]")" -gt 0
}

test_start() {
	local e
	for e in "${EDGES[@]}"; do
		bg "edge$e" "$E2E_DIR/edged$e.log" "$EDGED" -c "$(conf "$e")"
		EDGED_PIDS[$e]=$BG_PID
	done
	for e in "${EDGES[@]}"; do
		check "edge$e: edged starts with the customer" wait_for 10 ctl "$e" status
	done
}

test_spread() {
	local e bad=0 used=0
	for _ in $(seq 1 30); do
		nsx client /usr/bin/python3 "$TOOL" tcp 203.0.113.10 8080 >/dev/null || bad=$((bad + 1))
	done
	check "30 connections client -> hostA through the fleet" test "$bad" -eq 0
	for e in "${EDGES[@]}"; do
		[[ $(out_packets "$e") -gt 0 ]] && used=$((used + 1))
	done
	check "ECMP spread them: $used of 3 edges encapsulated toward the site" test "$used" -ge 2
}

test_ipv6_underlay() {
	local e bad=0 used=0
	for e in "${EDGES[@]}"; do
		check "edge$e: umb-1's IPv6 keepalives come back to this edge (its own address)" \
			wait_for 5 answered "$e" umb-1
	done
	for _ in $(seq 1 30); do
		nsx client /usr/bin/python3 "$TOOL" tcp 203.0.113.138 8080 >/dev/null || bad=$((bad + 1))
	done
	check "30 connections client -> hostC through the fleet, GRE over IPv6" test "$bad" -eq 0
	for e in "${EDGES[@]}"; do
		[[ $(out_packets "$e" umb-1) -gt 0 ]] && used=$((used + 1))
	done
	check "$used of 3 edges encapsulated toward site6 in outer IPv6" test "$used" -ge 2
	check "site6 decoded GRE over IPv6 from the anycast endpoint" \
		grep -qE 'decap outer=ipv6 src=2001:db8:e::100 dst=2001:db8:5::50 key=44 .*203.0.113.138' "$E2E_DIR/site6.log"
	check "site6 rejected nothing" sh -c "! grep -q reject $E2E_DIR/site6.log"
}

# A client that keeps 20 TCP connections open and sends on each every 100 ms for 12 s;
# it prints how many lived to the end with every echo back.
HOLD='
import socket, sys, time
conns = [socket.create_connection(("203.0.113.10", 8080), timeout=4) for _ in range(20)]
alive = [True] * 20
end = time.time() + 12
while time.time() < end:
    for i, c in enumerate(conns):
        if not alive[i]:
            continue
        try:
            c.sendall(b"x" * 100)
            got = b""
            while len(got) < 100:
                d = c.recv(100 - len(got))
                if not d:
                    raise OSError("closed")
                got += d
        except OSError:
            alive[i] = False
    time.sleep(0.1)
print(sum(alive))
'

test_kill_edge() {
	local victim=0 n e held
	nsx client /usr/bin/python3 -c "$HOLD" >"$E2E_DIR/hold.out" 2>&1 &
	HOLD_PID=$!
	E2E_PIDS+=("$HOLD_PID")
	sleep 3
	# The edge that carries the most toward the site dies.
	for e in "${EDGES[@]}"; do
		n=$(out_packets "$e")
		if [[ $victim -eq 0 || $n -gt $(out_packets "$victim") ]]; then victim=$e; fi
	done
	n=$(out_packets "$victim")
	sleep 0.5
	check "edge$victim carries some of the open connections" test "$(out_packets "$victim")" -gt "$n"
	kill -9 "${EDGED_PIDS[$victim]}"
	nsx rtr ip link set "re$victim" down
	nsx "edge$victim" ip link set "u$victim" down
	ok "edge$victim (the busiest) killed: edged SIGKILLed, its link cut"
	wait "$HOLD_PID"
	held=$(tail -n 1 "$E2E_DIR/hold.out")
	check "all 20 open TCP connections kept working through the other edges ($held of 20)" \
		test "$held" = 20
	for _ in $(seq 1 10); do
		nsx client /usr/bin/python3 "$TOOL" tcp 203.0.113.10 8080 >/dev/null || bad=$((bad + 1))
	done
	check "new connections after the loss" test "${bad:-0}" -eq 0
	bad=0
	for _ in $(seq 1 10); do
		nsx client /usr/bin/python3 "$TOOL" tcp 203.0.113.138 8080 >/dev/null || bad=$((bad + 1))
	done
	check "new connections to hostC (GRE over IPv6) after the loss" test "$bad" -eq 0
	check "port 23 still blocked by the surviving edges' firewalls" \
		sh -c "! nsenter --net=/run/netns/$(ns client) /usr/bin/python3 $TOOL tcp 203.0.113.10 23"
	VICTIM=$victim
}

test_teardown() {
	local e
	for e in "${EDGES[@]}"; do
		[[ $e == "$VICTIM" ]] && continue
		check "edge$e: teardown" ctl "$e" teardown
	done
	nsenter --net="/run/netns/$(ns "edge$VICTIM")" "$EDGED" --teardown -c "$(conf "$VICTIM")" >/dev/null 2>&1
	check "no namespace of the fleet's instances is left" \
		wait_for 5 sh -c "! ip netns list | grep -q '^edged-tf-$E2E_RUN-'"
}

setup
test_start
test_spread
test_ipv6_underlay
test_kill_edge
test_teardown
summary
