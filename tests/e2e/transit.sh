#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Anycast GRE transit end to end: an internet client reaches hosts behind two customer sites
# through edged's per-customer namespaces and GRE; the sites decode and build GRE themselves
# with scapy (tests/e2e/transit_site.py: this kernel has no GRE device), so edged is not only
# checked against itself. Return traffic, a firewall rule that blocks a port, isolation of the
# two customers, tunnel health from GRE keepalives, a reload with a bad rule that changes
# nothing, a reload that touches one customer only, runtime add/remove, a restart that adopts
# the namespaces, and a teardown that leaves nothing behind. A third site (umbrella) is reached
# over an IPv6 underlay: GRE in outer IPv6 both ways, keepalives over IPv6.
#
#   client 192.0.2.1 c0 --- e0 +------------------------------+ e1 --- a0 siteA 198.51.100.50 a1 --- hostA 203.0.113.10
#                              | edge: edged, anycast GRE      |          (scapy GRE, key 42)
#                              | endpoint 192.0.2.100 (lo)     | e2 --- b0 siteB 198.51.100.160 b1 --- hostB 203.0.113.74
#                              | ns acme (tr1), ns globex (tr2)|          (scapy GRE, no key)
#                              | endpoint 2001:db8:e::100 (lo) | e3 --- u0 siteC 2001:db8:5::50 u1 --- hostC 203.0.113.138
#                              +------------------------------+          (scapy GRE over IPv6, key 44)    2001:db8:cc::10
#   acme: 203.0.113.0/26, deny tcp 23; globex: 203.0.113.64/26;
#   umbrella: 203.0.113.128/26 and 2001:db8:cc::/48, its tunnel over IPv6
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh

INSTANCE="tr-$E2E_RUN"
CONF=$E2E_DIR/edge.yaml
SOCK=$E2E_DIR/edged.sock
LOG=$E2E_DIR/edged.log
PORT=$((20000 + RANDOM % 20000))
SITE=tests/e2e/transit_site.py
TOOL=tests/e2e/transit_tool.py
NS_ACME=edged-$INSTANCE-acme
NS_GLOBEX=edged-$INSTANCE-globex

link() { # link NS1 IF1 ADDR1 NS2 IF2 ADDR2
	ip link add "$2" netns "$(ns "$1")" type veth peer name "$5" netns "$(ns "$4")"
	nsx "$1" ip addr add "$3" dev "$2"
	nsx "$4" ip addr add "$6" dev "$5"
	nsx "$1" ip link set "$2" up
	nsx "$4" ip link set "$5" up
}

# site NAME LOCAL KEYS PREFIX HOSTIF [ENDPOINT]: the customer router: GRE in userspace on a
# TUN device, over IPv6 when LOCAL and ENDPOINT are IPv6.
site() {
	local n=$1 tun=gre$1
	nsx "$n" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0
	# shellcheck disable=SC2086 # $3: zero or more "--key N"
	bg "$n" "$E2E_DIR/$n.out" /usr/bin/python3 "$SITE" --tun "$tun" --local "$2" \
		--endpoint "${6:-192.0.2.100}" $3 --mute-dir "$E2E_DIR" --log "$E2E_DIR/$n.log"
	wait_for 5 grep -q ready "$E2E_DIR/$n.log" || return 1
	nsx "$n" ip link set "$tun" up
	# The inner packets it writes to the TUN device may come from its own address (the
	# keepalives edged sends carry the router's address as their source).
	nsx "$n" sysctl -qw "net.ipv4.conf.$tun.accept_local=1" "net.ipv4.conf.$tun.rp_filter=0"
	# The customer's own traffic toward the internet goes into the tunnel.
	nsx "$n" ip rule add from "$4" iif "$5" lookup 100
	nsx "$n" ip route add default dev "$tun" table 100
	nsx "$n" ip -6 rule add from 2001:db8::/32 iif "$5" lookup 100
	nsx "$n" ip -6 route add default dev "$tun" table 100
}

# siteC: reached from the edge over IPv6 only (no IPv4 between them).
setup_v6_site() {
	ip link add e3 netns "$(ns edge)" type veth peer name u0 netns "$(ns siteC)"
	nsx edge ip addr add 2001:db8:5::1/64 dev e3 nodad
	nsx siteC ip addr add 2001:db8:5::50/64 dev u0 nodad
	link siteC u1 203.0.113.129/26 hostC h0 203.0.113.138/26
	nsx siteC ip addr add 2001:db8:cc::1/64 dev u1 nodad
	nsx hostC ip addr add 2001:db8:cc::10/64 dev h0 nodad
	nsx edge ip link set e3 up
	nsx siteC ip link set u0 up
	nsx edge ethtool -K e3 tx off >/dev/null
	nsx siteC sysctl -qw net.ipv6.conf.all.forwarding=1
	nsx siteC ip -6 route add default via 2001:db8:5::1
	nsx hostC ip route add default via 203.0.113.129
	nsx hostC ip -6 route add default via 2001:db8:cc::1
	site siteC 2001:db8:5::50 "--key 44" 203.0.113.128/26 u1 2001:db8:e::100 || exit 1
	bg hostC "$E2E_DIR/hostC.tool" /usr/bin/python3 "$TOOL" serve 0.0.0.0 8080
	bg hostC "$E2E_DIR/hostC6.tool" /usr/bin/python3 "$TOOL" serve :: 8080
}

setup() {
	add_ns client edge siteA hostA siteB hostB siteC hostC || exit 1
	link client c0 192.0.2.1/24 edge e0 192.0.2.2/24
	link edge e1 198.51.100.1/25 siteA a0 198.51.100.50/25
	link edge e2 198.51.100.129/25 siteB b0 198.51.100.160/25
	# Checksums as a NIC leaves them on the wire: complete. Over veth they would stay
	# partial (offloaded) inside the GRE packets, which a real router never sees.
	nsx edge ethtool -K e1 tx off >/dev/null
	nsx edge ethtool -K e2 tx off >/dev/null
	link siteA a1 203.0.113.1/26 hostA h0 203.0.113.10/26
	link siteB b1 203.0.113.65/26 hostB h0 203.0.113.74/26
	nsx client ip route add default via 192.0.2.2
	# IPv6: acme has 2001:db8:ac::/48 (hostA 2001:db8:ac::10 behind siteA).
	nsx client ip addr add 2001:db8:c::1/64 dev c0 nodad
	nsx edge ip addr add 2001:db8:c::2/64 dev e0 nodad
	nsx siteA ip addr add 2001:db8:ac::1/64 dev a1 nodad
	nsx hostA ip addr add 2001:db8:ac::10/64 dev h0 nodad
	nsx client ip -6 route add default via 2001:db8:c::2
	nsx hostA ip -6 route add default via 2001:db8:ac::1
	nsx edge sysctl -qw net.ipv6.conf.all.forwarding=1
	nsx siteA sysctl -qw net.ipv6.conf.all.forwarding=1
	nsx siteA ip route add default via 198.51.100.1
	nsx siteB ip route add default via 198.51.100.129
	nsx hostA ip route add default via 203.0.113.1
	nsx hostB ip route add default via 203.0.113.65
	nsx edge sysctl -qw net.ipv4.ip_forward=1
	site siteA 198.51.100.50 "--key 42 --key 43" 203.0.113.0/26 a1 || exit 1
	site siteB 198.51.100.160 "" 203.0.113.64/26 b1 || exit 1
	for h in hostA hostB; do
		bg "$h" "$E2E_DIR/$h.tool" /usr/bin/python3 "$TOOL" serve 0.0.0.0 8080 23
	done
	bg hostA "$E2E_DIR/hostA6.tool" /usr/bin/python3 "$TOOL" serve :: 8080
	setup_v6_site
	write_config 'firewall: {default: allow, rules: [{action: deny, proto: tcp, dst_port: 23}]}' \
		'firewall: {default: allow}'
	on_cleanup "nsenter --net=/run/netns/$(ns edge) $EDGED --teardown -c $CONF"
	# Whatever happens, no namespace of this run's instance stays.
	on_cleanup "for n in \$(ip netns list | awk '/^edged-$INSTANCE-/{print \$1}'); do ip netns del \$n; done"
}

# write_config ACME_FIREWALL GLOBEX_FIREWALL
write_config() {
	cat >"$CONF" <<-YAML
		instance: $INSTANCE
		uplinks: [e0, e1, e2, e3]
		control_socket: $SOCK
		metrics: {listen: 127.0.0.1:$PORT}
		transit:
		  endpoints: [192.0.2.100, "2001:db8:e::100"]
		  customers:
		    - name: acme
		      prefixes: [203.0.113.0/26, "2001:db8:ac::/48"]
		      tunnels:
		        - {name: acme-1, remote: 198.51.100.50, key: 42, health: {interval: 300ms, timeout: 2s}}
		        - {name: acme-2, remote: 198.51.100.50, key: 43, health: {interval: 300ms, timeout: 2s}}
		      $1
		    - name: globex
		      prefixes: [203.0.113.64/26]
		      tunnels: [{name: globex-1, remote: 198.51.100.160, health: {interval: 300ms, timeout: 2s}}]
		      $2
		    - name: umbrella
		      prefixes: [203.0.113.128/26, "2001:db8:cc::/48"]
		      tunnels:
		        - {name: umb-1, remote: "2001:db8:5::50", endpoint: "2001:db8:e::100", key: 44, health: {interval: 300ms, timeout: 2s}}
	YAML
}

ctl() { nsx edge "$EDGECTL" -s "$SOCK" "$@"; }
tcp() { nsx "$1" /usr/bin/python3 "$TOOL" tcp "$2" "$3" "${4:-5}"; }
# counter CUSTOMER INDEX: packets of firewall rule INDEX (-1: defaults) of CUSTOMER.
counter() {
	json_get "$(ctl -j transit rules "$1")" "[r['packets'] for r in j['rules'] if r['index']==$2 and r['chain']=='${3:-in}'][0]"
}
health() { json_get "$(ctl -j transit tunnels)" "[t['health'] for t in j['tunnels'] if t['name']=='$1'][0]"; }
health_is() { test "$(health "$1")" = "$2"; }

test_start() {
	bg edge "$LOG" "$EDGED" -c "$CONF"
	EDGED_PID=$BG_PID
	check "edged starts with two transit customers" wait_for 10 ctl status
	check "a namespace per customer ($NS_ACME, $NS_GLOBEX)" \
		sh -c "ip netns list | grep -q '^$NS_ACME' && ip netns list | grep -q '^$NS_GLOBEX'"
	check "edged's namespace: fwmark rules to the customers' tables" \
		sh -c "nsenter --net=/run/netns/$(ns edge) ip rule | grep -q 'fwmark 0x10000001/0xf000ffff lookup 20001 proto 235'"
	check "the customer firewall is an nftables table in acme's namespace" \
		sh -c "ip netns exec $NS_ACME nft list table inet edged_transit | grep -q 'tcp dport 23 counter .* drop comment \"rule 0\"'"
}

test_through_gre() {
	check "client -> hostA (acme) TCP through GRE, and back" tcp client 203.0.113.10 8080
	check "client -> hostB (globex) TCP through GRE, and back" tcp client 203.0.113.74 8080
	check "client -> hostA: 64 KB echoed (MSS and segmentation through the tunnel)" \
		tcp client 203.0.113.10 8080 65536
	check "client -> hostA ping" nsx client ping -c 2 -W 2 -q 203.0.113.10
	check "client -> hostA over IPv6 (inner IPv6 in GRE over IPv4), and back" \
		tcp client 2001:db8:ac::10 8080
	check "siteA decoded an IPv6 inner packet" grep -qE 'decap .* IPv6 .*2001:db8:ac::10' "$E2E_DIR/siteA.log"
	check "siteA decoded edged's GRE with scapy: from the endpoint, key 42 or 43, TTL 64, DF" \
		grep -qE 'decap src=192.0.2.100 dst=198.51.100.50 key=4[23] ttl=64 df=1 .*203.0.113.10' \
		"$E2E_DIR/siteA.log"
	check "siteB decoded GRE without a key" \
		grep -qE 'decap src=192.0.2.100 dst=198.51.100.160 key=None .*203.0.113.74' "$E2E_DIR/siteB.log"
	check "siteA encapsulated hostA's answers toward the endpoint" \
		grep -qE 'encap dst=192.0.2.100 key=42 .*203.0.113.10' "$E2E_DIR/siteA.log"
	check "siteA rejected nothing edged sent" sh -c "! grep -q reject $E2E_DIR/siteA.log"
	check "edgectl transit tunnels counts acme's packets both ways" \
		test "$(json_get "$(ctl -j transit tunnels)" "min(sum(t['in_packets'] for t in j['tunnels'] if t['customer']=='acme'), sum(t['out_packets'] for t in j['tunnels'] if t['customer']=='acme'))")" -gt 0
	check "metrics: per-customer packets toward the site" \
		sh -c "nsenter --net=/run/netns/$(ns edge) curl -s http://127.0.0.1:$PORT/metrics | grep -qE 'edged_transit_packets_total\\{customer=\"globex\",direction=\"out\"\\} [1-9]'"
}

tunnel_field() { json_get "$(ctl -j transit tunnels)" "[t['$2'] for t in j['tunnels'] if t['name']=='$1'][0]"; }
# answered TUNNEL: some keepalive of TUNNEL came back.
answered() { test "$(tunnel_field "$1" keepalives_answered)" -gt 0; }
# metrics_has TEXT: the metrics page has a line with TEXT. (Read whole first: under pipefail,
# `curl | grep -q` fails when grep stops reading early and curl gets SIGPIPE.)
metrics_has() {
	local page
	page=$(nsenter --net="/run/netns/$(ns edge)" curl -s "http://127.0.0.1:$PORT/metrics") &&
		grep -qF "$1" <<<"$page"
}

test_ipv6_underlay() {
	check "umbrella's tunnel is GRE over IPv6 (edgectl transit tunnels)" \
		test "$(tunnel_field umb-1 family) $(tunnel_field umb-1 remote) $(tunnel_field umb-1 endpoint)" = "ipv6 2001:db8:5::50 2001:db8:e::100"
	check "umb-1's IPv6 keepalives come back through siteC" wait_for 5 answered umb-1
	check "umb-1 is up" health_is umb-1 up
	check "edgectl transit tunnels (text): umb-1's IPv6 remote and endpoint, key, MTU, health" \
		sh -c "nsenter --net=/run/netns/$(ns edge) $EDGECTL -s $SOCK transit tunnels | grep -qE '^umb-1 +umbrella +2001:db8:5::50 +2001:db8:e::100 +44 +1452 +up '"
	check "client -> hostC TCP, inner IPv4 in GRE over IPv6, and back" tcp client 203.0.113.138 8080
	check "client -> hostC TCP, inner IPv6 in GRE over IPv6, and back" tcp client 2001:db8:cc::10 8080
	check "client -> hostC: 64 KB echoed over the IPv6 underlay (MSS, segmentation)" \
		tcp client 203.0.113.138 8080 65536
	check "client -> hostC ping6" nsx client ping -6 -c 2 -W 2 -q 2001:db8:cc::10
	check "siteC decoded edged's GRE over IPv6 with scapy: from the IPv6 endpoint, key 44, hop limit 64" \
		grep -qE 'decap outer=ipv6 src=2001:db8:e::100 dst=2001:db8:5::50 key=44 hlim=64 .*203.0.113.138' "$E2E_DIR/siteC.log"
	check "siteC decoded inner IPv6 over the IPv6 underlay" \
		grep -qE 'decap outer=ipv6 .*key=44 .*IPv6 .*2001:db8:cc::10' "$E2E_DIR/siteC.log"
	check "siteC decoded edged's IPv6 keepalives (inner ICMPv6 echo reply to the edge's 2001:db8:5::1)" \
		grep -qE 'decap outer=ipv6 .*key=44 .*IPv6 / ICMPv6 Echo Reply' "$E2E_DIR/siteC.log"
	check "siteC encapsulated hostC's answers toward the IPv6 endpoint" \
		grep -qE 'encap dst=2001:db8:e::100 key=44 .*203.0.113.138' "$E2E_DIR/siteC.log"
	check "siteC rejected nothing edged sent" sh -c "! grep -q reject $E2E_DIR/siteC.log"
	check "edgectl counts umb-1's packets both ways" \
		test "$(json_get "$(ctl -j transit tunnels)" "[min(t['in_packets'], t['out_packets']) for t in j['tunnels'] if t['name']=='umb-1'][0]")" -gt 0
	check "umb-1's MTU is IPv6's: 1500 - 40 - GRE 8" test "$(tunnel_field umb-1 mtu)" = 1452
	check "metrics: umb-1 with family ipv6 and its outer addresses" \
		metrics_has 'edged_transit_tunnel_info{customer="umbrella",tunnel="umb-1",family="ipv6",remote="2001:db8:5::50",endpoint="2001:db8:e::100"} 1'
	check "the IPv6 endpoint has its local route (keepalive fallback)" \
		sh -c "nsenter --net=/run/netns/$(ns edge) ip -6 route show table local | grep -q '^local 2001:db8:e::100 dev lo proto 235'"
	# siteC stops answering: it drops the keepalives' inner packets (to the edge's own IPv6
	# address toward it, where the answers must come back).
	nsx siteC ip -6 rule add to 2001:db8:5::1 iif gresiteC prohibit
	check "umb-1 goes down when IPv6 keepalives stop coming back" wait_for 6 health_is umb-1 down
	check "metrics: edged_transit_tunnel_up 0 for umb-1" \
		metrics_has 'edged_transit_tunnel_up{customer="umbrella",tunnel="umb-1"} 0'
	check "acme's IPv4 tunnels stay up meanwhile" health_is acme-1 up
	check "umbrella, all tunnels down, is still served (over all of them)" tcp client 203.0.113.138 8080
	nsx siteC ip -6 rule del to 2001:db8:5::1 iif gresiteC prohibit
	check "umb-1 comes back up" wait_for 5 health_is umb-1 up
	check "keepalives over IPv6 answered are counted" test "$(tunnel_field umb-1 keepalives_answered)" -gt 0
}

test_firewall() {
	local before
	before=$(counter acme 0)
	check "acme's firewall blocks TCP port 23 to hostA" sh -c "! nsenter --net=/run/netns/$(ns client) /usr/bin/python3 $TOOL tcp 203.0.113.10 23"
	check "globex has no such rule: port 23 of hostB answers" tcp client 203.0.113.74 23
	check "edgectl transit rules acme counts the drops of rule 0" \
		test "$(counter acme 0)" -gt "$before"
	check "metrics: firewall drops by rule" \
		sh -c "nsenter --net=/run/netns/$(ns edge) curl -s http://127.0.0.1:$PORT/metrics | grep -qE 'edged_transit_firewall_packets_total\\{customer=\"acme\",chain=\"in\",rule=\"0\",action=\"deny\"\\} [1-9]'"
}

test_isolation() {
	local gl
	gl=$(json_get "$(ctl -j transit customers)" "[c for c in j['customers'] if c['name']=='globex'][0]['id']")
	check "hostA (acme) cannot reach hostB (globex's prefix)" sh -c "! nsenter --net=/run/netns/$(ns hostA) /usr/bin/python3 $TOOL tcp 203.0.113.74 8080"
	check "hostA cannot ping globex's namespace (169.254.0.$((gl * 4 + 2)))" \
		sh -c "! nsenter --net=/run/netns/$(ns hostA) ping -c 1 -W 1 -q 169.254.0.$((gl * 4 + 2))"
	check "from acme's namespace, globex's prefix is unreachable" \
		sh -c "! ip netns exec $NS_ACME ping -c 1 -W 1 -q 203.0.113.74"
	check "edged's isolation rule counted the attempts" \
		sh -c "nsenter --net=/run/netns/$(ns edge) nft list chain inet edged_transit forward | grep -qE 'counter packets [1-9].*between customers'"
	check "the internet still reaches hostB" tcp client 203.0.113.74 8080
}

test_health() {
	local bad=0 before
	check "acme-1 is up: keepalives come back through siteA" wait_for 5 health_is acme-1 up
	check "acme-2 (key 43) is up too" wait_for 5 health_is acme-2 up
	for _ in $(seq 1 20); do tcp client 203.0.113.10 8080 >/dev/null || bad=$((bad + 1)); done
	check "20 connections while both tunnels are up" test "$bad" -eq 0
	check "both of acme's tunnels carried traffic (flows spread over healthy tunnels)" \
		sh -c "grep -q 'decap .*key=42 .*TCP' $E2E_DIR/siteA.log && grep -q 'decap .*key=43 .*TCP' $E2E_DIR/siteA.log"
	# siteA breaks its tunnel with key 43: everything arriving on it is dropped.
	touch "$E2E_DIR/key-43"
	check "acme-2 goes down (its keepalives are dropped at the site)" wait_for 6 health_is acme-2 down
	check "acme-1 stays up" health_is acme-1 up
	before=$(grep -c 'muted key=43 .*TCP' "$E2E_DIR/siteA.log")
	for _ in $(seq 1 20); do tcp client 203.0.113.10 8080 >/dev/null || bad=$((bad + 1)); done
	check "20 new connections all work: edged sends none into the broken tunnel" test "$bad" -eq 0
	check "... none of their packets reached the dead tunnel (only keepalives did)" \
		test "$(grep -c 'muted key=43 .*TCP' "$E2E_DIR/siteA.log")" -eq "$before"
	rm "$E2E_DIR/key-43"
	check "acme-2 comes back up" wait_for 5 health_is acme-2 up
	check "keepalives answered are counted" \
		test "$(json_get "$(ctl -j transit tunnels)" "[t['keepalives_answered'] for t in j['tunnels'] if t['name']=='acme-1'][0]")" -gt 0
	# siteA stops answering: its router drops the keepalives' inner packets (addressed to the
	# edge's own address toward siteA, 198.51.100.1, where the answers must come back).
	nsx siteA ip rule add to 198.51.100.1 iif gresiteA prohibit
	check "acme-1 goes down when keepalives stop coming back" wait_for 6 health_is acme-1 down
	check "metrics: edged_transit_tunnel_up 0 for acme-1" \
		sh -c "nsenter --net=/run/netns/$(ns edge) curl -s http://127.0.0.1:$PORT/metrics | grep -q 'edged_transit_tunnel_up{customer=\"acme\",tunnel=\"acme-1\"} 0'"
	check "acme-2 goes down too" wait_for 6 health_is acme-2 down
	check "a customer with all tunnels down is still served (over all of them)" tcp client 203.0.113.10 8080
	nsx siteA ip rule del to 198.51.100.1 iif gresiteA prohibit
	check "acme-1 comes back up" wait_for 5 health_is acme-1 up
}

test_reload() {
	local acme_before globex_before acme_rule0
	acme_before=$(ip netns exec "$NS_ACME" nft -a list table inet edged_transit)
	globex_before=$(ip netns exec "$NS_GLOBEX" nft -a list table inet edged_transit)
	acme_rule0=$(counter acme 0)
	write_config 'firewall: {default: allow, rules: [{action: deny, proto: tcp, dst_port: 23}]}' \
		'firewall: {default: allow, rules: [{action: deny, proto: tcpp, dst_port: 8080}]}'
	check "reload with a bad rule in globex's firewall is refused" sh -c "! nsenter --net=/run/netns/$(ns edge) $EDGECTL -s $SOCK reload"
	check "... and names the rule and its fault ('tcpp')" \
		sh -c "nsenter --net=/run/netns/$(ns edge) $EDGECTL -s $SOCK reload 2>&1 | grep -q \"proto: 'tcpp'\""
	check "... acme's firewall unchanged" test "$(ip netns exec "$NS_ACME" nft -a list table inet edged_transit)" = "$acme_before"
	check "... globex's firewall unchanged" test "$(ip netns exec "$NS_GLOBEX" nft -a list table inet edged_transit)" = "$globex_before"
	check "... and hostB still answers on 8080" tcp client 203.0.113.74 8080
	write_config 'firewall: {default: allow, rules: [{action: deny, proto: tcp, dst_port: 23}]}' \
		'firewall: {default: allow, rules: [{action: deny, proto: tcp, dst_port: 8080}]}'
	check "reload with globex denying 8080" ctl reload
	check "hostB's 8080 is blocked now" sh -c "! nsenter --net=/run/netns/$(ns client) /usr/bin/python3 $TOOL tcp 203.0.113.74 8080"
	check "acme was not touched: same table, handles and counters" \
		test "$(ip netns exec "$NS_ACME" nft -a list table inet edged_transit | grep -v 'rule 0')" = "$(echo "$acme_before" | grep -v 'rule 0')"
	check "acme's rule 0 kept its count (not rebuilt)" test "$(counter acme 0)" -ge "$acme_rule0"
	check "hostA still answers" tcp client 203.0.113.10 8080
}

test_runtime() {
	local f=$E2E_DIR/initech.yaml
	printf -- '- name: initech\n  prefixes: [198.18.0.0/24]\n  tunnels: [{name: ini-6, remote: "2001:db8:5::70", endpoint: 192.0.2.100}]\n' >"$f"
	check "a runtime add of an IPv6 remote with an IPv4 endpoint is refused at FILE:LINE:COL" \
		sh -c "nsenter --net=/run/netns/$(ns edge) $EDGECTL -s $SOCK transit add $f 2>&1 | grep -q '$f:3:.*endpoint 192.0.2.100 is IPv4 but remote 2001:db8:5::70 is IPv6'"
	printf -- '- name: initech\n  prefixes: [198.18.0.0/24]\n  tunnels: [{name: ini-1, remote: 198.51.100.70, key: 7, health: off},\n            {name: ini-6, remote: "2001:db8:5::70", health: off}]\n' >"$f"
	check "edgectl transit add: initech, with an IPv4 and an IPv6 tunnel" ctl transit add "$f"
	check "initech's namespace exists" sh -c "ip netns list | grep -q '^edged-$INSTANCE-initech'"
	check "ini-6 took the only IPv6 endpoint" test "$(tunnel_field ini-6 endpoint)" = 2001:db8:e::100
	printf -- '- name: dup\n  prefixes: [203.0.113.8/29]\n  tunnels: [{name: dup-1, remote: 198.51.100.71}]\n' >"$f"
	check "a runtime add overlapping acme's prefix is refused" \
		sh -c "nsenter --net=/run/netns/$(ns edge) $EDGECTL -s $SOCK transit add $f 2>&1 | grep -q 'overlaps 203.0.113.0/26'"
	check "... and left no namespace" sh -c "! ip netns list | grep -q '^edged-$INSTANCE-dup'"
	check "edgectl transit remove initech" ctl transit remove initech
	check "initech's namespace is gone" sh -c "! ip netns list | grep -q '^edged-$INSTANCE-initech'"
	check "acme still served" tcp client 203.0.113.10 8080
}

test_restart() {
	local id_before
	id_before=$(json_get "$(ctl -j transit customers)" "[c['id'] for c in j['customers'] if c['name']=='acme'][0]")
	kill "$EDGED_PID"
	wait "$EDGED_PID" 2>/dev/null
	check "edged stopped: the namespaces and their traffic stay" tcp client 203.0.113.10 8080
	bg edge "$LOG.2" "$EDGED" -c "$CONF"
	EDGED_PID=$BG_PID
	check "edged restarts" wait_for 10 ctl status
	check "it adopted acme's namespace with the same id" \
		test "$(json_get "$(ctl -j transit customers)" "[c['id'] for c in j['customers'] if c['name']=='acme'][0]")" = "$id_before"
	check "traffic after the restart" tcp client 203.0.113.10 8080
}

test_teardown() {
	check "teardown" ctl teardown
	wait "$EDGED_PID" 2>/dev/null
	check "no namespace of the instance is left" sh -c "! ip netns list | grep -q '^edged-$INSTANCE-'"
	check "no transit veth, fwmark rule or table left in edged's namespace" \
		sh -c "nsenter --net=/run/netns/$(ns edge) sh -c '! ip link | grep -q \" tr[0-9]\" && ! ip rule | grep -q 0x1000 && ! nft list table inet edged_transit 2>/dev/null'"
	check "the endpoints' local routes are gone, IPv6's too" \
		sh -c "nsenter --net=/run/netns/$(ns edge) sh -c '! ip route show table local | grep -q 192.0.2.100 && ! ip -6 route show table local | grep -q 2001:db8:e::100'"
	check "no sanitizer report" sh -c "! grep -E 'Sanitizer|runtime error' $LOG $LOG.2"
}

setup
test_start
test_through_gre
test_ipv6_underlay
test_firewall
test_isolation
test_health
test_reload
test_runtime
test_restart
test_teardown
summary
