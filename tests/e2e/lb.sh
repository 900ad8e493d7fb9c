#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The L4 load balancer end to end: three edges behind a router doing ECMP, each edge also a
# server, every one running edged with the same lb section. Real TCP connections to the VIP.
#
#                       +-----------------------------+
#   client 192.0.2.1 ---| router 192.0.2.254          |  203.0.113.10/32, 2001:db8:a0::10/128:
#      2001:db8::1      |  2001:db8::fe               |  ECMP over the three edges (L4 hash)
#                       |  r1 100.64.1.1  r2 .2.1  r3 .3.1   (2001:db8:ff:E::1)
#                       +----|-------------|---------|--+
#                            | up0         | up0     | up0
#                  edge1 100.64.1.2   edge2 .2.2   edge3 .3.2    edged (lb), XDP on up0
#                  2001:db8:ff:1::2   ..:2::2      ..:3::2
#                  s1 weight 100      s2 100       s3 200        VIPs on lo, server on :80
#                  s1v6 100           s2v6 100     s3v6 200      (web6: the IPv6 fleet)
#
# A packet reaches whichever edge ECMP picks; that edge sends it (GUE) to the flow's server by
# the shared Maglev table; the server replies straight to the client (DSR). Checked: the edges
# compute the same table, new connections spread by weight, a drained server keeps its
# connections and gets no new ones, killing an edge and bringing it back resets no
# connection of the other servers (second chance), health checks follow the servers. IPv6: a
# VIP of its own whose servers are the edges' IPv6 addresses (IPv6 in GUE over IPv6). Packets
# that do not fit the tunnel: the client learns the smaller MTU from the edge's ICMP error.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh

VIP=203.0.113.10
VIP6=2001:db8:a0::10
TOOL=tests/e2e/lb_tool.py
HOLD=60 # long-lived connections
EDGES=(1 2 3)

conf() { echo "$E2E_DIR/e$1.yaml"; }
sock() { echo "$E2E_DIR/e$1.sock"; }
ctl() {
	local e=$1
	shift
	"$EDGECTL" -s "$(sock "$e")" "$@"
}

write_config() {
	cat >"$(conf "$1")" <<-YAML
		instance: lb-$E2E_RUN-e$1
		uplinks: [up0]
		control_socket: $(sock "$1")
		metrics: {listen: off}
		lb:
		  servers:
		    - {name: s1, address: 100.64.1.2, weight: 100}
		    - {name: s2, address: 100.64.2.2, weight: 100}
		    - {name: s3, address: 100.64.3.2, weight: 200}
		    - {name: s1v6, address: "2001:db8:ff:1::2", weight: 100}
		    - {name: s2v6, address: "2001:db8:ff:2::2", weight: 100}
		    - {name: s3v6, address: "2001:db8:ff:3::2", weight: 200}
		  services:
		    - name: web
		      vip: $VIP
		      proto: tcp
		      port: 80
		      servers: [s1, s2, s3]
		      health: {check: tcp, interval: 1s, timeout: 1s, rise: 1, fall: 2}
		    - name: web6
		      vip: "$VIP6"
		      proto: tcp
		      port: 80
		      servers: [s1v6, s2v6, s3v6]
		      health: {check: http, path: /healthz, interval: 1s, timeout: 1s, rise: 1, fall: 2}
	YAML
}

ecmp() { # ecmp EDGE...: the router's routes to the VIPs over these edges
	local args=() args6=() e
	for e in "$@"; do
		args+=(nexthop via "100.64.$e.2")
		args6+=(nexthop via "2001:db8:ff:$e::2")
	done
	nsx router ip route replace "$VIP/32" "${args[@]}"
	nsx router ip -6 route replace "$VIP6/128" "${args6[@]}"
}

# The router's side of each edge link runs this, so that the edges' XDP_TX frames arrive.
build_xdp_pass() {
	cat >"$E2E_DIR/pass.c" <<-'C'
		#include <linux/bpf.h>
		__attribute__((section("xdp"), used)) int xdp_pass(struct xdp_md *ctx)
		{
			return XDP_PASS;
		}
		char _license[] __attribute__((section("license"), used)) = "GPL";
	C
	"${CLANG:-clang}" -O2 -target bpf -c "$E2E_DIR/pass.c" -o "$E2E_DIR/pass.o"
}

setup() {
	local e
	build_xdp_pass || exit 1
	add_ns client router edge1 edge2 edge3 || exit 1
	ip link add c0 netns "$(ns client)" type veth peer name r0 netns "$(ns router)"
	nsx client ip addr add 192.0.2.1/24 dev c0
	nsx client ip link set c0 up
	# A veth hands on TCP segments with the checksum left to "offload" (CHECKSUM_PARTIAL);
	# the metadata does not survive an XDP_TX, and the server's stack then drops the segment
	# as corrupt. Real NICs put full checksums on the wire: so does the client here.
	nsx client ethtool -K c0 tx off >/dev/null
	nsx client ip route add default via 192.0.2.254
	nsx client ip addr add 2001:db8::1/64 dev c0 nodad
	nsx client ip -6 route add default via 2001:db8::fe
	nsx router ip addr add 192.0.2.254/24 dev r0
	nsx router ip addr add 2001:db8::fe/64 dev r0 nodad
	nsx router ip link set r0 up
	nsx router sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv6.conf.all.forwarding=1 net.ipv6.fib_multipath_hash_policy=1
	for e in "${EDGES[@]}"; do
		ip link add "r$e" netns "$(ns router)" type veth peer name up0 netns "$(ns "edge$e")"
		nsx router ip addr add "100.64.$e.1/24" dev "r$e"
		nsx router ip addr add "2001:db8:ff:$e::1/64" dev "r$e" nodad
		nsx router ip link set "r$e" up
		# XDP_TX into a veth is delivered only when the peer has an XDP program (GRO on
		# the peer, the other way platform.md gives, did not deliver them on 6.18).
		nsx router ip link set dev "r$e" xdp obj "$E2E_DIR/pass.o" sec xdp || exit 1
		nsx "edge$e" ip addr add "100.64.$e.2/24" dev up0
		nsx "edge$e" ip addr add "2001:db8:ff:$e::2/64" dev up0 nodad
		nsx "edge$e" ip link set up0 up
		nsx "edge$e" ip addr add "$VIP/32" dev lo
		nsx "edge$e" ip addr add "$VIP6/128" dev lo
		nsx "edge$e" ip route add default via "100.64.$e.1"
		nsx "edge$e" ip -6 route add default via "2001:db8:ff:$e::1"
		nsx "edge$e" sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv4.conf.all.rp_filter=0 \
			net.ipv6.conf.all.forwarding=1
		write_config "$e"
		on_cleanup "$EDGED --teardown -c $(conf "$e")"
	done
	ecmp 1 2 3
}

start_server() {
	bg "edge$1" "$E2E_DIR/server$1.log" /usr/bin/python3 "$TOOL" serve "s$1" 80
	eval "SERVER_PID_$1=$BG_PID"
}

start_edged() {
	bg "edge$1" "$E2E_DIR/edged$1.log" "$EDGED" -c "$(conf "$1")"
	eval "EDGED_PID_$1=$BG_PID"
}

# servers_up EDGE N [SERVICE]: edge EDGE has N servers in the table of web (0) or web6 (1).
servers_up() { [[ $(json_get "$(ctl "$1" -j lb list)" "j['services'][${3:-0}]['servers_active']") == "$2" ]]; }
digest() { json_get "$(ctl "$1" -j lb list)" "j['services'][${2:-0}]['digest']"; }
# svc_sum SERVICE COUNTER: the counter of service SERVICE (0 web, 1 web6) summed over the edges.
svc_sum() {
	local e n=0
	for e in "${EDGES[@]}"; do
		n=$((n + $(json_get "$(ctl "$e" -j lb list)" "j['services'][$1]['counters']['$2']")))
	done
	echo "$n"
}
second_chances() {
	local e n=0
	for e in "${EDGES[@]}"; do
		n=$((n + $(json_get "$(ctl "$e" -j lb list)" "j['services'][0]['counters']['second_chance']")))
	done
	echo "$n"
}
spread() { nsx client /usr/bin/python3 "$TOOL" spread "$VIP" 80 "$1"; }
# held EXPR: a number about the long-lived connections, from the client's last round.
held() { json_get "$(cat "$E2E_DIR/hold.json")" "$1"; }
rounds() { held "j['rounds']"; }
# next_round: waits for two more rounds, so every connection was asked after the change.
next_rounds() {
	local r
	r=$(rounds)
	wait_for 15 test "$(rounds)" -ge $((r + 2))
}

test_start() {
	local e
	for e in "${EDGES[@]}"; do start_server "$e"; done
	for e in "${EDGES[@]}"; do start_edged "$e"; done
	for e in "${EDGES[@]}"; do
		check "edge$e: edged starts with the lb section" wait_for 10 ctl "$e" status
	done
	for e in "${EDGES[@]}"; do
		check "edge$e: health checks see all three servers" wait_for 10 servers_up "$e" 3
		check "edge$e: and all three IPv6 servers" wait_for 10 servers_up "$e" 3 1
	done
	check "every edge computes the same table (digest $(digest 1))" \
		test "$(digest 1)" = "$(digest 2)" -a "$(digest 2)" = "$(digest 3)"
}

test_spread() {
	local counts n1 n2 n3 e used=0
	counts=$(spread 400)
	n1=$(json_get "$counts" "j.get('s1', 0)")
	n2=$(json_get "$counts" "j.get('s2', 0)")
	n3=$(json_get "$counts" "j.get('s3', 0)")
	check "400 new connections all answered ($counts)" test $((n1 + n2 + n3)) -eq 400
	check "spread by weight 1:1:2 (s1 $n1, s2 $n2, s3 $n3; each within 10 points)" \
		test "$n1" -ge 60 -a "$n1" -le 140 -a "$n2" -ge 60 -a "$n2" -le 140 \
		-a "$n3" -ge 160 -a "$n3" -le 240
	for e in "${EDGES[@]}"; do
		[[ $(json_get "$(ctl "$e" -j lb list)" "j['services'][0]['counters']['encapsulated']") -gt 0 ]] &&
			used=$((used + 1))
	done
	check "ECMP brought flows to every edge, and each sent some to other servers" test "$used" -eq 3
}

# edgectl lb weight: s3 at 100 like the others, then back to its configured 200.
test_weight() {
	local counts n3 e
	for e in "${EDGES[@]}"; do check "edge$e: edgectl lb weight s3 100" ctl "$e" lb weight s3 100; done
	check "edgectl lb servers shows s3 at weight 100" \
		sh -c "$EDGECTL -s $(sock 1) lb servers | grep -qE '^s3 +100.64.3.2 +100 '"
	check "every edge computes the same table again (digest $(digest 1))" \
		test "$(digest 1)" = "$(digest 2)" -a "$(digest 2)" = "$(digest 3)"
	counts=$(spread 300)
	n3=$(json_get "$counts" "j.get('s3', 0)")
	check "new connections 1:1:1 now: s3 has $n3 of 300 (a third within 10 points)" \
		test "$n3" -ge 70 -a "$n3" -le 130
	for e in "${EDGES[@]}"; do ctl "$e" lb weight s3 config >/dev/null; done
	check "edgectl lb weight s3 config: back to 200" \
		sh -c "$EDGECTL -s $(sock 1) lb servers | grep -qE '^s3 +100.64.3.2 +200 '"
}

# The IPv6 VIP, served by the edges' IPv6 addresses: IPv6 in GUE over IPv6 between edges.
# Its health checks are HTTP GETs (the servers answer 200).
test_ipv6() {
	local counts n1 n2 n3
	check "every edge computes the same IPv6 table (digest $(digest 1 1))" \
		test "$(digest 1 1)" = "$(digest 2 1)" -a "$(digest 2 1)" = "$(digest 3 1)"
	counts=$(nsx client /usr/bin/python3 "$TOOL" spread "$VIP6" 80 200)
	n1=$(json_get "$counts" "j.get('s1', 0)")
	n2=$(json_get "$counts" "j.get('s2', 0)")
	n3=$(json_get "$counts" "j.get('s3', 0)")
	check "200 new IPv6 connections all answered ($counts)" test $((n1 + n2 + n3)) -eq 200
	check "IPv6 spread by weight 1:1:2 (s1 $n1, s2 $n2, s3 $n3; each within 10 points)" \
		test "$n1" -ge 30 -a "$n1" -le 70 -a "$n2" -ge 30 -a "$n2" -le 70 \
		-a "$n3" -ge 80 -a "$n3" -le 120
	check "edges sent IPv6 flows to each other's IPv6 addresses ($(svc_sum 1 encapsulated))" \
		test "$(svc_sum 1 encapsulated)" -gt 0
}

# Full-sized segments (1500 bytes on the client's link) do not fit GUE on the edges' 1500-byte
# links: the edge answers fragmentation needed / packet too big with the MTU inside the tunnel,
# and the client's TCP sends smaller segments. Without that answer these uploads stall.
test_pmtu() {
	local vip svc out
	for svc in 0 1; do
		vip=$VIP
		[[ $svc == 1 ]] && vip=$VIP6
		out=$(nsx client timeout 60 /usr/bin/python3 "$TOOL" upload "$vip" 80 12 200000)
		check "$vip: 12 uploads of 200 kB in full-sized segments all answered ($out)" \
			test "$(json_get "$out" "j.get('done', 0)")" -eq 12
		check "$vip: the edges answered too-big with ICMP ($(svc_sum "$svc" too_big_icmp) times)" \
			test "$(svc_sum "$svc" too_big_icmp)" -gt 0
	done
	check "the client learned the tunnel's MTU for the IPv4 VIP (1468)" \
		sh -c "nsenter --net=/run/netns/$(ns client) ip route get $VIP | grep -q 'mtu 1468'"
	check "and for the IPv6 VIP (1448)" \
		sh -c "nsenter --net=/run/netns/$(ns client) ip -6 route get $VIP6 | grep -q 'mtu 1448'"
}

test_hold() {
	bg client "$E2E_DIR/hold.log" /usr/bin/python3 "$TOOL" hold "$VIP" 80 "$HOLD" "$E2E_DIR/hold.json"
	HOLD_PID=$BG_PID
	check "$HOLD long-lived connections established and answering" \
		wait_for 30 sh -c "[ -s $E2E_DIR/hold.json ]"
	next_rounds
	check "all $HOLD alive, each always answered by the same server" \
		test "$(held "sum(c['alive'] and not c['moved'] for c in j['conns'])")" -eq "$HOLD"
}

test_drain() {
	local on_s2 counts e
	on_s2=$(held "sum(c['server'] == 's2' for c in j['conns'])")
	for e in "${EDGES[@]}"; do check "edge$e: edgectl lb drain s2" ctl "$e" lb drain s2; done
	check "edgectl lb servers shows s2 draining" \
		sh -c "$EDGECTL -s $(sock 1) lb servers | grep -q '^s2 .*draining'"
	counts=$(spread 200)
	check "no new connection reaches the drained server ($counts)" \
		test "$(json_get "$counts" "j.get('s2', 0)")" -eq 0
	next_rounds
	check "its $on_s2 established connections still answer (second chance)" \
		test "$(held "sum(c['alive'] and not c['moved'] for c in j['conns'] if c['server'] == 's2')")" -eq "$on_s2"
	check "second chance forwarded them (edges' counters: $(second_chances))" test "$(second_chances)" -gt 0
	for e in "${EDGES[@]}"; do ctl "$e" lb undrain s2 >/dev/null; done
	next_rounds
	check "after undrain, all $HOLD connections still answer" \
		test "$(held "sum(c['alive'] and not c['moved'] for c in j['conns'])")" -eq "$HOLD"
}

# An edge dies: its link goes, its edged and its server stop, the router drops its route.
test_kill_edge() {
	local others counts
	others=$(held "sum(c['server'] != 's3' for c in j['conns'])")
	ecmp 1 2
	nsx edge3 ip link set up0 down
	kill -9 "$EDGED_PID_3" "$SERVER_PID_3" 2>/dev/null
	check "edge1 and edge2 take s3 out of the table (health)" \
		wait_for 10 sh -c "$EDGECTL -s $(sock 1) -j lb list | grep -q '\"servers_active\":2' &&
			$EDGECTL -s $(sock 2) -j lb list | grep -q '\"servers_active\":2'"
	next_rounds
	check "the $others connections of s1 and s2 continue without a reset" \
		test "$(held "sum(c['alive'] and not c['moved'] for c in j['conns'] if c['server'] != 's3')")" -eq "$others"
	counts=$(spread 50)
	check "new connections go to s1 and s2 only ($counts)" \
		test "$(json_get "$counts" "j.get('s1', 0) + j.get('s2', 0)")" -eq 50
}

# The edge comes back as a rebooted machine: no pins, no history; it joins, then ECMP again.
test_edge_back() {
	local others counts e
	others=$(held "sum(c['alive'] for c in j['conns'])")
	"$EDGED" --teardown -c "$(conf 3)" >/dev/null 2>&1
	nsx edge3 ip link set up0 up
	nsx edge3 ip route add default via 100.64.3.1 2>/dev/null
	# A link going down takes its IPv6 addresses with it (keep_addr_on_down is 0).
	nsx edge3 ip addr replace 2001:db8:ff:3::2/64 dev up0 nodad
	nsx edge3 ip -6 route add default via 2001:db8:ff:3::1 2>/dev/null
	start_server 3
	start_edged 3
	check "edge3 comes back" wait_for 10 ctl 3 status
	for e in "${EDGES[@]}"; do
		check "edge$e: s3 is in the table again" wait_for 10 servers_up "$e" 3
		check "edge$e: s3v6 is in the IPv6 table again" wait_for 10 servers_up "$e" 3 1
	done
	next_rounds
	check "s3 back in the tables: the $others surviving connections continue" \
		test "$(held "sum(c['alive'] and not c['moved'] for c in j['conns'] if c['alive'])")" -eq "$others"
	ecmp 1 2 3
	next_rounds
	check "edge3 back in ECMP: still all $others connections, none reset" \
		test "$(held "sum(c['alive'] and not c['moved'] for c in j['conns'])")" -eq "$others"
	check "every edge computes the same table again" \
		test "$(digest 1)" = "$(digest 3)" -a "$(digest 2)" = "$(digest 3)"
	counts=$(spread 60)
	check "new connections reach s3 again ($counts)" test "$(json_get "$counts" "j.get('s3', 0)")" -gt 0
}

test_metrics_and_teardown() {
	local e
	check "edgectl lb servers lists s3 with its weight" \
		sh -c "$EDGECTL -s $(sock 1) lb servers | grep -qE '^s3 +100.64.3.2 +200 '"
	kill "$HOLD_PID" 2>/dev/null
	for e in "${EDGES[@]}"; do
		check "edge$e: teardown" ctl "$e" teardown
		check "edge$e: no pins left" wait_for 5 test ! -e "/sys/fs/bpf/edged/lb-$E2E_RUN-e$e"
		check "edge$e: no sanitizer report" sh -c "! grep -E 'Sanitizer|runtime error' $E2E_DIR/edged$e.log"
	done
}

setup
test_start
test_spread
test_weight
test_ipv6
test_hold
test_drain
test_kill_edge
test_edge_back
test_pmtu
test_metrics_and_teardown
summary
