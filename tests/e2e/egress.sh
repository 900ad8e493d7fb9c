#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# VPN egress end to end (issue 7): real wireguard-go clients, configured with `wg`, reach an
# internet host through edged's egress; the host sees the egress address and a port of this
# edge's slice of the shared range; conntrack shows the mark; two clients using the same
# inner source port do not collide; tunnel clients reach neither the edge's own services nor
# each other; a peer removed at runtime loses its connections; wireguard-go is restarted when
# it dies; teardown removes everything.
#
#   +-------------------+ c1      e1 +-----------------------------------+ e0      i0 +------------------+
#   | vpn1              |------------| edge: edged (egress)              |------------| inet             |
#   | 192.0.2.1/30      |            | 192.0.2.2/30 192.0.2.6/30         |            | 198.51.100.10/24 |
#   | wg: 100.64.0.2    |  c2     e2 | 198.51.100.2/24                   |            | sees 203.0.113.10|
#   +-------------------+   +--------| wg (wireguard-go): 100.64.0.1/10  |            +------------------+
#   | vpn2 192.0.2.5/30 |---+        | SNAT 203.0.113.10:20000-24999     |
#   | wg: 100.64.0.3    |            |  (ports 20000-29999 shared by 2)  |
#   +-------------------+            +-----------------------------------+
#   bob (vpn2) may hold 5 connections; carol is added at runtime, bob removed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh

INSTANCE="eg-$E2E_RUN"
CONF=$E2E_DIR/edge.yaml
SOCK=$E2E_DIR/edged.sock
LOG=$E2E_DIR/edged.log
PORT=$((20000 + RANDOM % 20000))
SRV_PORT=8080
TOOL=tests/e2e/egress_tool.py
# Interface names are host-wide for wireguard-go (its socket path): per run.
WG_EDGE="wge$E2E_RUN"
WG_C1="wc1$E2E_RUN"
WG_C2="wc2$E2E_RUN"
MARK=16777216 # 0x01000000, egress's default mark

edge_ns() { echo "/run/netns/$(ns edge)"; }
ctl() { nsx edge "$EDGECTL" -s "$SOCK" "$@"; }
# Where edged keeps the peers added with edgectl (edged/egress.h).
RT_PEERS=/run/edged/egress-$INSTANCE.peers

keys() {
	local n
	for n in edge c1 c2 c3; do
		(umask 077 && wg genkey >"$E2E_DIR/$n.key")
		wg pubkey <"$E2E_DIR/$n.key" >"$E2E_DIR/$n.pub"
	done
}

link() { # link NS1 IF1 NS2 IF2 ADDR1 ADDR2
	ip link add "$2" netns "$(ns "$1")" type veth peer name "$4" netns "$(ns "$3")"
	nsx "$1" ip addr add "$5" dev "$2"
	nsx "$3" ip addr add "$6" dev "$4"
	nsx "$1" ip link set "$2" up
	nsx "$3" ip link set "$4" up
}

# client N ADDR: wireguard-go in vpnN with the edge as its peer, configured with `wg`.
client() {
	local n=$1 addr=$2 wgif
	wgif=$([[ $n == 1 ]] && echo "$WG_C1" || echo "$WG_C2")
	bg "vpn$n" "$E2E_DIR/wg-c$n.log" env WG_PROCESS_FOREGROUND=1 wireguard-go "$wgif"
	on_cleanup "kill $BG_PID; rm -f /var/run/wireguard/$wgif.sock"
	wait_for 5 test -S "/var/run/wireguard/$wgif.sock" || return 1
	nsx "vpn$n" wg set "$wgif" private-key "$E2E_DIR/c$n.key" \
		peer "$(cat "$E2E_DIR/edge.pub")" endpoint "192.0.2.$((n == 1 ? 2 : 6)):51820" \
		allowed-ips 0.0.0.0/0,::/0 persistent-keepalive 1
	nsx "vpn$n" ip addr add "$addr/32" dev "$wgif"
	nsx "vpn$n" ip link set "$wgif" up
	# The internet and the edge's tunnel network through the tunnel; the endpoint not.
	nsx "vpn$n" ip route add 198.51.100.0/24 dev "$wgif"
	nsx "vpn$n" ip route add 100.64.0.0/10 dev "$wgif"
	if [[ $n == 1 ]]; then
		nsx vpn1 ip addr add fd00:64::2/128 dev "$wgif" nodad
		nsx vpn1 ip -6 route add 2001:db8:1::/64 dev "$wgif"
	fi
}

write_config() {
	cat >"$CONF" <<-YAML
		instance: $INSTANCE
		uplinks: [e0, e1, e2]
		control_socket: $SOCK
		metrics: {listen: 0.0.0.0:$PORT}
		egress:
		  interface: $WG_EDGE
		  backend: wireguard-go
		  private_key_file: $E2E_DIR/edge.key
		  address: [100.64.0.1/10, "fd00:64::1/64"]
		  peers:
		    - {name: alice, public_key: "$(cat "$E2E_DIR/c1.pub")", addresses: [100.64.0.2/32, "fd00:64::2/128"]}
		    - {name: bob, public_key: "$(cat "$E2E_DIR/c2.pub")", addresses: [100.64.0.3/32], max_connections: 5}
		  snat:
		    - {address: 203.0.113.10, ports: 20000-29999, share: [192.0.2.2, 198.51.100.99]}
		    - {address: "2001:db8:5::10"}
		  self: 192.0.2.2
	YAML
}

setup() {
	add_ns vpn1 vpn2 edge inet || exit 1
	keys
	link vpn1 c1 edge e1 192.0.2.1/30 192.0.2.2/30
	link vpn2 c2 edge e2 192.0.2.5/30 192.0.2.6/30
	link edge e0 inet i0 198.51.100.2/24 198.51.100.10/24
	nsx edge ip addr add 2001:db8:1::2/64 dev e0 nodad
	nsx inet ip addr add 2001:db8:1::10/64 dev i0 nodad
	# The egress addresses route to the edge (in the fleet: its anycast announcement).
	nsx inet ip route add 203.0.113.0/24 via 198.51.100.2
	nsx inet ip -6 route add 2001:db8:5::/64 via 2001:db8:1::2
	write_config
	on_cleanup "nsenter --net=$(edge_ns) $EDGED --teardown -c $CONF"
	on_cleanup "rm -f /var/run/wireguard/$WG_EDGE.sock"
	bg inet "$E2E_DIR/server.log" "$TOOL" serve "$SRV_PORT"
}

# The wireguard-go edged started (its pid, from edged's log), for the cleanup and the kill.
edge_wg_pid() { sed -n "s/.*wireguard-go serves $WG_EDGE (pid \([0-9]*\)).*/\1/p" "$LOG" | tail -n 1; }

test_start() {
	bg edge "$LOG" "$EDGED" -c "$CONF"
	EDGED_PID=$BG_PID
	check "edged starts with the egress section" wait_for 10 ctl status
	WG_PID=$(edge_wg_pid)
	[[ -n $WG_PID ]] && on_cleanup "kill $WG_PID"
	check "edged started wireguard-go for $WG_EDGE (pid ${WG_PID:-none})" test -n "$WG_PID"
	check "the tunnel device has the edge's address" \
		sh -c "nsenter --net=$(edge_ns) ip -4 addr show dev $WG_EDGE | grep -q 'inet 100.64.0.1/10'"
	check "fwmark rule to table 51820" \
		sh -c "nsenter --net=$(edge_ns) ip rule show | grep -q 'fwmark 0x1000000/0x1000000 lookup 51820'"
	check "table 51820 routes to the tunnel device" \
		sh -c "nsenter --net=$(edge_ns) ip route show table 51820 | grep -q 'default dev $WG_EDGE'"
	check "forwarding on the tunnel device and the uplinks only" \
		bash -c "nsenter --net=$(edge_ns) bash -c 'cat /proc/sys/net/ipv4/conf/{$WG_EDGE,e0,e1,lo}/forwarding' | tr -d '\n' | grep -qx 1110"
	client 1 100.64.0.2
	client 2 100.64.0.3
	check "vpn1 pings the internet host through the tunnel" \
		wait_for 15 nsx vpn1 ping -c1 -W1 198.51.100.10
	check "vpn2 pings the internet host through the tunnel" \
		wait_for 15 nsx vpn2 ping -c1 -W1 198.51.100.10
}

# What the internet host saw of a connection from a client: "IP PORT".
seen() { nsx "$1" "$TOOL" connect 198.51.100.10 "$SRV_PORT" "${2:-0}" "${3:-0}"; }

test_snat() {
	local out ip port
	out=$(seen vpn1)
	ip=${out% *}
	port=${out#* }
	check "the internet host sees the egress address 203.0.113.10 (saw '$out')" test "$ip" = 203.0.113.10
	check "... from a port of this edge's slice 20000-24999 of the shared 20000-29999 (saw $port)" \
		test "$port" -ge 20000 -a "$port" -le 24999
	seen vpn1 0 4 >/dev/null &
	local hold=$!
	sleep 1
	check "conntrack on the edge shows the tunnel connection with mark 0x1000000" \
		bash -c "nsenter --net=$(edge_ns) conntrack -L -p tcp --dport $SRV_PORT 2>/dev/null | grep 'src=100.64.0.2' | grep -q 'mark=$MARK'"
	check "conntrack shows the reply side on the egress address" \
		bash -c "nsenter --net=$(edge_ns) conntrack -L -p tcp --dport $SRV_PORT 2>/dev/null | grep 'src=100.64.0.2' | grep -q 'dst=203.0.113.10'"
	wait "$hold"
}

# IPv6: NAT66 to the IPv6 egress address, forwarded with per-interface force_forwarding.
test_ipv6() {
	check "vpn1 pings the internet host over IPv6 through the tunnel" \
		wait_for 10 nsx vpn1 ping -6 -c1 -W1 2001:db8:1::10
	check "conntrack: the IPv6 connection is marked and SNATed to 2001:db8:5::10" \
		bash -c "nsenter --net=$(edge_ns) conntrack -L -f ipv6 2>/dev/null | grep 'src=fd00:64::2 ' | grep 'dst=2001:db8:5::10' | grep -q 'mark=$MARK'"
	check "all.forwarding stays off for IPv6 (per-interface force_forwarding instead)" \
		bash -c "[ \"\$(nsenter --net=$(edge_ns) cat /proc/sys/net/ipv6/conf/all/forwarding)\" = 0 ]"
}

# Both clients connect from inner source port 40000 at once: SNAT gives them distinct ports.
test_same_source_port() {
	local a b p1 p2
	seen vpn1 40000 3 >"$E2E_DIR/same1" &
	p1=$!
	seen vpn2 40000 3 >"$E2E_DIR/same2" &
	p2=$!
	wait "$p1" "$p2"
	a=$(cat "$E2E_DIR/same1")
	b=$(cat "$E2E_DIR/same2")
	check "two clients on inner port 40000 both connect ('$a', '$b')" \
		test -n "$a" -a -n "$b"
	check "... through distinct egress ports" test "${a#* }" != "${b#* }"
	check "... both from the egress address" test "${a% *}" = 203.0.113.10 -a "${b% *}" = 203.0.113.10
}

test_filtering() {
	check "control: the internet host reaches the edge's metrics port" \
		nsx inet curl -sf -o /dev/null "http://198.51.100.2:$PORT/metrics"
	check "a tunnel client cannot reach the metrics port on the edge's tunnel address" \
		nsx vpn1 "$TOOL" refused 100.64.0.1 "$PORT"
	check "nor on the edge's internet-side address through the tunnel" \
		nsx vpn1 "$TOOL" refused 198.51.100.2 "$PORT"
	check "the control socket is a unix socket, root only (0600), not on the network" \
		bash -c "[ \"\$(stat -c %a $SOCK)\" = 600 ]"
	check "control: vpn2 answers pings from the edge" nsx edge ping -c1 -W1 100.64.0.3
	check "a tunnel client cannot reach another (vpn1 -> vpn2)" \
		bash -c "! nsenter --net=/run/netns/$(ns vpn1) ping -c2 -W1 100.64.0.3"
	check "the internet host cannot open a connection into the tunnel" \
		bash -c "! nsenter --net=/run/netns/$(ns inet) ping -c1 -W1 -I 198.51.100.10 100.64.0.2 2>/dev/null"
}

test_edgectl() {
	local j
	j=$(ctl -j egress peers)
	check "edgectl egress peers: alice had a handshake within the last minute" \
		test "$(json_get "$j" "[p for p in j['peers'] if p['name']=='alice'][0]['handshake_age_s']")" -ge 0 -a \
		"$(json_get "$j" "[p for p in j['peers'] if p['name']=='alice'][0]['handshake_age_s']")" -lt 60
	check "... alice's packets and WireGuard bytes are counted" \
		test "$(json_get "$j" "[p for p in j['peers'] if p['name']=='alice'][0]['packets_out']")" -gt 5 -a \
		"$(json_get "$j" "[p for p in j['peers'] if p['name']=='alice'][0]['rx_bytes']")" -gt 0
	check "edgectl egress peers (table) lists both peers" \
		bash -c "[ \$(nsenter --net=$(edge_ns) $EDGECTL -s $SOCK egress peers | grep -cE '^(alice|bob) ') = 2 ]"
	ctl egress peers | sed 's/^/       /'
	ctl egress addresses | sed 's/^/       /'
	j=$(ctl -j egress addresses)
	check "edgectl egress addresses: this edge's slice is 20000-24999" \
		test "$(json_get "$j" "j['addresses'][0]['own_ports']")" = 20000-24999
	check "metrics: per-peer packets and per-address connections" \
		bash -c "nsenter --net=/run/netns/$(ns inet) curl -sf http://198.51.100.2:$PORT/metrics > $E2E_DIR/metrics &&
			grep -q 'edged_egress_peer_packets_total{peer=\"alice\",dir=\"out\"} [1-9]' $E2E_DIR/metrics &&
			grep -q 'edged_egress_address_connections{address=\"203.0.113.10\"}' $E2E_DIR/metrics &&
			grep -q 'edged_egress_address_ports{address=\"203.0.113.10\"} 5000' $E2E_DIR/metrics"
	check "metrics: 8 scrapes at once make at most 2 conntrack dumps (cached for 1 s)" \
		bash -c "m() { nsenter --net=/run/netns/$(ns inet) curl -sf http://198.51.100.2:$PORT/metrics |
			sed -n 's/^edged_egress_conntrack_dumps_total //p'; }
			a=\$(m); for i in 1 2 3 4 5 6; do m >/dev/null; done; b=\$(m); [ \$((b - a)) -le 2 ]"
	local c0
	sleep 1.1 # past the cache: c0 is fresh
	c0=$(alice_conns)
	nsx vpn1 "$TOOL" many 198.51.100.10 "$SRV_PORT" 8 4 >/dev/null &
	HOLD_PID=$!
	check "metrics: alice's 8 new held connections show within 3 s (had $c0; older ones may expire)" \
		wait_for 3 bash -c "[ \$(nsenter --net=/run/netns/$(ns inet) curl -sf http://198.51.100.2:$PORT/metrics |
			sed -n 's/^edged_egress_peer_connections{peer=\"alice\"} //p') -ge $((c0 + 5)) ]"
	wait "$HOLD_PID" 2>/dev/null
	check "a bad key at runtime is refused with the reason" \
		bash -c "nsenter --net=$(edge_ns) $EDGECTL -s $SOCK egress peer add carol abc 100.64.0.4/32 2>&1 | grep -q '44 base64 characters'"
	check "a runtime peer outside the tunnel network is refused" \
		bash -c "nsenter --net=$(edge_ns) $EDGECTL -s $SOCK egress peer add carol $(cat "$E2E_DIR/c3.pub") 10.9.9.9/32 2>&1 | grep -q 'outside the edge'"
	check "edgectl egress peer add carol (runtime)" \
		ctl egress peer add carol "$(cat "$E2E_DIR/c3.pub")" 100.64.0.4/32 keepalive 25
	check "... wireguard-go knows carol" \
		bash -c "nsenter --net=$(edge_ns) wg show $WG_EDGE peers | grep -q '$(cat "$E2E_DIR/c3.pub")'"
	check "... and edged keeps her in $RT_PEERS" grep -q "^carol " "$RT_PEERS"
}

# alice's connections as the metrics give them.
alice_conns() {
	nsx inet curl -sf "http://198.51.100.2:$PORT/metrics" |
		sed -n 's/^edged_egress_peer_connections{peer="alice"} //p'
}

# carol (added at runtime) is still a live peer: wireguard-go, edgectl and nftables know her.
# (grep without -q: under pipefail, a grep that quits at the first match fails the pipeline
# when the writer then gets SIGPIPE.)
carol_live() {
	nsx edge wg show "$WG_EDGE" peers | grep "$(cat "$E2E_DIR/c3.pub")" >/dev/null &&
		ctl egress peers | grep "^carol " >/dev/null &&
		nsx edge nft list table inet edged_egress | grep peer_carol_out >/dev/null
}

# bob may hold 5 connections (max_connections: 5, nftables ct count).
test_limit() {
	local n
	n=$(nsx vpn2 "$TOOL" many 198.51.100.10 "$SRV_PORT" 8 0)
	check "bob (max_connections 5) opens 8 connections: at most 5 connect (got $n)" \
		test "$n" -ge 1 -a "$n" -le 5
	n=$(nsx vpn1 "$TOOL" many 198.51.100.10 "$SRV_PORT" 8 0)
	check "alice (no limit) opens all 8 (got $n)" test "$n" -eq 8
}

# bob holds a connection; removing bob removes its conntrack state and its tunnel.
test_peer_del() {
	local out
	seen vpn2 0 20 >/dev/null 2>&1 &
	HOLD_PID=$!
	check "bob holds a connection (conntrack entry from 100.64.0.3)" \
		wait_for 5 bash -c "nsenter --net=$(edge_ns) conntrack -L -s 100.64.0.3 2>/dev/null | grep -q 'dport=$SRV_PORT'"
	out=$(ctl egress peer del bob)
	check "edgectl egress peer del bob ($out)" bash -c "echo '$out' | grep -qE 'with [1-9][0-9]* connection'"
	check "bob's conntrack entries are gone" \
		bash -c "! nsenter --net=$(edge_ns) conntrack -L -s 100.64.0.3 2>/dev/null | grep -q src="
	check "wireguard-go no longer knows bob" \
		bash -c "! nsenter --net=$(edge_ns) wg show $WG_EDGE peers | grep -q '$(cat "$E2E_DIR/c2.pub")'"
	check "bob cannot reach the internet any more" \
		bash -c "! nsenter --net=/run/netns/$(ns vpn2) ping -c2 -W1 198.51.100.10"
	check "alice still can" nsx vpn1 ping -c1 -W2 198.51.100.10
	kill "$HOLD_PID" 2>/dev/null
	wait "$HOLD_PID" 2>/dev/null
}

# kill -9 of edged: the tunnel keeps working (wireguard-go, nftables and routes stay); a new
# edged adopts the running wireguard-go instead of starting another.
test_restart() {
	kill -9 "$EDGED_PID"
	wait "$EDGED_PID" 2>/dev/null
	check "edged killed: vpn1 still reaches the internet host" nsx vpn1 ping -c1 -W2 198.51.100.10
	check "... from the egress address" bash -c "[ \"\$(nsenter --net=/run/netns/$(ns vpn1) $TOOL connect 198.51.100.10 $SRV_PORT | cut -d' ' -f1)\" = 203.0.113.10 ]"
	bg edge "$LOG.2" "$EDGED" -c "$CONF"
	EDGED_PID=$BG_PID
	check "a new edged starts" wait_for 10 ctl status
	check "it adopted the running wireguard-go (pid $WG_PID)" grep -q "adopting the wireguard-go that serves $WG_EDGE" "$LOG.2"
	check "... which is still the one serving" kill -0 "$WG_PID"
	check "vpn1 still reaches the internet host" nsx vpn1 ping -c1 -W2 198.51.100.10
	check "the runtime peer carol survived the restart" carol_live
	LOG=$LOG.2
}

# A reload applies a changed peer list; a reload with an unreadable key changes nothing.
test_reload() {
	sed -i 's/"fd00:64::2\/128"\]}/"fd00:64::2\/128"], keepalive: 7s}/' "$CONF"
	grep -q 'keepalive: 7s' "$CONF" || echo "       (the test's sed did not change the config)"
	check "edgectl reload with alice's keepalive changed" ctl reload
	check "wireguard-go has alice's new keepalive" \
		bash -c "nsenter --net=$(edge_ns) wg show $WG_EDGE persistent-keepalive | grep '$(cat "$E2E_DIR/c1.pub")' | grep -q 7"
	check "the runtime peer carol survived the reload" carol_live
	check "edgectl egress peer del carol" ctl egress peer del carol
	check "... takes her out of $RT_PEERS" bash -c "! grep -qs '^carol ' $RT_PEERS"
	check "... and a reload does not bring her back" ctl reload
	check "... (wireguard-go does not know carol)" \
		bash -c "! nsenter --net=$(edge_ns) wg show $WG_EDGE peers | grep -q '$(cat "$E2E_DIR/c3.pub")'"
	check "a runtime peer carol again, for the teardown" \
		ctl egress peer add carol "$(cat "$E2E_DIR/c3.pub")" 100.64.0.4/32
	mv "$E2E_DIR/edge.key" "$E2E_DIR/edge.key.away"
	check "a reload whose private key file is missing is refused" bash -c "! nsenter --net=$(edge_ns) $EDGECTL -s $SOCK reload"
	check "... naming the file" grep -q "edge.key: cannot read the private key" "$LOG"
	mv "$E2E_DIR/edge.key.away" "$E2E_DIR/edge.key"
	check "... and the tunnel still works" nsx vpn1 ping -c1 -W2 198.51.100.10
}

# wireguard-go dies: edged starts a new one and configures it; the client recovers.
test_supervision() {
	local old=$WG_PID
	kill -9 "$old"
	check "edged restarts wireguard-go after it was killed" \
		wait_for 10 bash -c "[ -n \"\$(sed -n 's/.*wireguard-go serves $WG_EDGE (pid \([0-9]*\)).*/\1/p' $LOG | tail -n1 | grep -vx $old)\" ]"
	WG_PID=$(edge_wg_pid)
	on_cleanup "kill $WG_PID"
	check "... and configures it (peers set again)" \
		wait_for 10 bash -c "nsenter --net=$(edge_ns) wg show $WG_EDGE peers | grep -q '$(cat "$E2E_DIR/c1.pub")'"
	check "vpn1 reaches the internet again through the new process" \
		wait_for 30 nsx vpn1 ping -c1 -W1 198.51.100.10
}

test_teardown() {
	nsx edge "$EDGED" --teardown -c "$CONF" >/dev/null
	wait "$EDGED_PID" 2>/dev/null
	check "teardown: table inet edged_egress is gone" \
		bash -c "! nsenter --net=$(edge_ns) nft list table inet edged_egress 2>/dev/null"
	check "teardown: the fwmark rule is gone" \
		bash -c "! nsenter --net=$(edge_ns) ip rule show | grep -q 'lookup 51820'"
	check "teardown: the tunnel device is gone, wireguard-go stopped" \
		bash -c "! nsenter --net=$(edge_ns) ip link show $WG_EDGE 2>/dev/null && ! kill -0 $WG_PID 2>/dev/null"
	check "teardown: no runtime peers are kept ($RT_PEERS is gone)" test ! -e "$RT_PEERS"
	check "teardown: forwarding restored on the uplinks" \
		bash -c "[ \"\$(nsenter --net=$(edge_ns) cat /proc/sys/net/ipv4/conf/e0/forwarding)\" = 0 ]"
}

main() {
	setup
	test_start
	test_snat
	test_ipv6
	test_same_source_port
	test_filtering
	test_edgectl
	test_limit
	test_peer_del
	test_restart
	test_reload
	test_supervision
	test_teardown
	summary
}

main
