#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# IP sharing ('soft-unicast') end to end: three edges SNAT their VPN clients to ONE egress
# address, each into its own slice of the port range (egress.snat[].share), and the router
# sends the replies to whichever edge it likes: ECMP over all three, then every reply to one
# edge. The XDP stage of the edge that gets a reply sends it (GUE) to the edge owning its
# port, whose conntrack de-NATs it into the client's tunnel.
#
#   vpn1 wg 100.64.1.2 ==WireGuard== edge1 ---+
#   vpn2 wg 100.64.2.2 ==WireGuard== edge2 ---+-- router ---- remote 198.51.100.77
#   vpn3 wg 100.64.3.2 ==WireGuard== edge3 ---+   203.0.113.10/32:  TCP+UDP echo on :7
#        (link 192.0.2.10N/30)     up0 192.0.2.4e+2/30   ECMP over the edges, then edge3
#
#   every edge: edged with egress (wireguard-go, nftables SNAT + marks, fwmark routing) and
#   SNAT to 203.0.113.10 in its slice of 20000-20899: edge1 20000-20299, edge2 20300-20599,
#   edge3 20600-20899 (share: [192.0.2.6, 192.0.2.10, 192.0.2.14], fleet addresses on up0)
#
# Every client opens its flows from the same inner source ports, so each edge's SNAT must
# remap them; the remote host must see every flow from 203.0.113.10, each edge's flows in that
# edge's slice, no port twice, and every flow must complete.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh

SHARED=203.0.113.10
REMOTE=198.51.100.77
PORT=7
LO=20000
HI=20899
FLOWS=${FLOWS:-40} # per client, per protocol
TOOL=tests/e2e/egress_share_tool.py
EDGES=(1 2 3)

conf() { echo "$E2E_DIR/e$1.yaml"; }
sock() { echo "$E2E_DIR/e$1.sock"; }
ctl() {
	local e=$1
	shift
	"$EDGECTL" -s "$(sock "$e")" "$@"
}
fleet() { echo "192.0.2.$((4 * $1 + 2))"; }  # edge E's fleet address (up0)
link_edge() { echo "192.0.2.$((100 + 4 * $1 + 1))"; } # edge E on the client link
link_client() { echo "192.0.2.$((100 + 4 * $1 + 2))"; }
wg_edge() { echo "wse$1$E2E_RUN"; } # host-wide names (wireguard-go's socket path): per run
wg_client() { echo "wsc$1$E2E_RUN"; }

slice_lo() { echo $((LO + ($1 - 1) * 300)); }
slice_hi() { echo $((LO + $1 * 300 - 1)); }

keys() {
	local n
	for n in e1 e2 e3 c1 c2 c3; do
		(umask 077 && wg genkey >"$E2E_DIR/$n.key")
		wg pubkey <"$E2E_DIR/$n.key" >"$E2E_DIR/$n.pub"
	done
}

write_config() {
	cat >"$(conf "$1")" <<-YAML
		instance: es-$E2E_RUN-e$1
		uplinks: [up0]
		control_socket: $(sock "$1")
		metrics: {listen: "127.0.0.1:9420"}
		egress:
		  interface: $(wg_edge "$1")
		  backend: wireguard-go
		  private_key_file: $E2E_DIR/e$1.key
		  address: [100.64.$1.1/24]
		  peers:
		    - {name: vpn$1, public_key: "$(cat "$E2E_DIR/c$1.pub")", addresses: [100.64.$1.2/32]}
		  snat:
		    - address: $SHARED
		      ports: $LO-$HI
		      share: [$(fleet 1), $(fleet 2), $(fleet 3)]
		  self: $(fleet "$1")
	YAML
}

# client E: wireguard-go in vpnE with edge E as its peer, configured with `wg`.
client() {
	local e=$1 wgif
	wgif=$(wg_client "$e")
	bg "vpn$e" "$E2E_DIR/wg-c$e.log" env WG_PROCESS_FOREGROUND=1 wireguard-go "$wgif"
	on_cleanup "kill $BG_PID; rm -f /var/run/wireguard/$wgif.sock"
	wait_for 5 test -S "/var/run/wireguard/$wgif.sock" || return 1
	nsx "vpn$e" wg set "$wgif" private-key "$E2E_DIR/c$e.key" \
		peer "$(cat "$E2E_DIR/e$e.pub")" endpoint "$(link_edge "$e"):51820" \
		allowed-ips 0.0.0.0/0 persistent-keepalive 1
	nsx "vpn$e" ip addr add "100.64.$e.2/32" dev "$wgif"
	nsx "vpn$e" ip link set "$wgif" up
	nsx "vpn$e" ip route add 198.51.100.0/24 dev "$wgif"
}

setup() {
	local e
	"${CLANG:-clang}" -O2 -target bpf -c lab/roles/xdp_pass.bpf.c -o "$E2E_DIR/pass.o" || exit 1
	add_ns router remote vpn1 vpn2 vpn3 edge1 edge2 edge3 || exit 1
	keys
	ip link add m0 netns "$(ns remote)" type veth peer name rm netns "$(ns router)"
	nsx remote ip addr add "$REMOTE/24" dev m0
	nsx remote ip link set m0 up
	# Full checksums on the wire: a CHECKSUM_PARTIAL segment loses its offload state in an
	# XDP_TX, and the owning edge would drop it as corrupt (real NICs send full sums).
	nsx remote ethtool -K m0 tx off >/dev/null
	nsx remote ip route add default via 198.51.100.254
	nsx router ip addr add 198.51.100.254/24 dev rm
	nsx router ip link set rm up
	nsx router sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	for e in "${EDGES[@]}"; do
		ip link add "r$e" netns "$(ns router)" type veth peer name up0 netns "$(ns "edge$e")"
		nsx router ip addr add "192.0.2.$((4 * e + 1))/30" dev "r$e"
		nsx router ip link set "r$e" up
		# XDP_TX into a veth reaches the peer only when the peer runs an XDP program.
		nsx router ip link set dev "r$e" xdp obj "$E2E_DIR/pass.o" sec xdp || exit 1
		nsx "edge$e" ip addr add "$(fleet "$e")/30" dev up0
		nsx "edge$e" ip link set up0 up
		nsx "edge$e" ip route add default via "192.0.2.$((4 * e + 1))"
		# A reply that no conntrack entry claims goes nowhere, not back to the router.
		nsx "edge$e" ip route add blackhole "$SHARED/32"
		ip link add c0 netns "$(ns "vpn$e")" type veth peer name down0 netns "$(ns "edge$e")"
		nsx "edge$e" ip addr add "$(link_edge "$e")/30" dev down0
		nsx "edge$e" ip link set down0 up
		nsx "vpn$e" ip addr add "$(link_client "$e")/30" dev c0
		nsx "vpn$e" ip link set c0 up
		write_config "$e"
		on_cleanup "nsenter --net=/run/netns/$(ns "edge$e") $EDGED --teardown -c $(conf "$e")"
		on_cleanup "rm -f /var/run/wireguard/$(wg_edge "$e").sock"
	done
}

route_ecmp() {
	nsx router ip route replace "$SHARED/32" nexthop via "$(fleet 1)" nexthop via "$(fleet 2)" \
		nexthop via "$(fleet 3)"
}

route_one() { nsx router ip route replace "$SHARED/32" via "$(fleet "$1")"; }

start() {
	local e
	bg remote "$E2E_DIR/remote.log" /usr/bin/python3 "$TOOL" serve "$PORT" "$E2E_DIR/seen.log"
	for e in "${EDGES[@]}"; do
		bg "edge$e" "$E2E_DIR/edged$e.log" "$EDGED" -c "$(conf "$e")"
	done
	for e in "${EDGES[@]}"; do
		check "edge$e: edged is up" wait_for 20 ctl "$e" status
		WG_PID=$(sed -n "s/.*wireguard-go serves $(wg_edge "$e") (pid \([0-9]*\)).*/\1/p" \
			"$E2E_DIR/edged$e.log" | tail -n 1)
		[[ -n $WG_PID ]] && on_cleanup "kill $WG_PID"
		client "$e"
	done
	check "the router has the shared address over three edges" route_ecmp
	# Echo replies come back by ECMP too: steered by their identifier.
	for e in "${EDGES[@]}"; do
		check "vpn$e pings the remote host through its tunnel and the shared address" \
			wait_for 15 nsx "vpn$e" ping -c1 -W1 "$REMOTE"
	done
}

# run_flows PHASE: every client's flows at once, from the same source ports.
run_flows() {
	local phase=$1 e pids=() rc=0
	for e in "${EDGES[@]}"; do
		nsx "vpn$e" /usr/bin/python3 "$TOOL" flows "$REMOTE" "$PORT" "$phase-e$e" \
			"$FLOWS" 40000 >"$E2E_DIR/$phase-e$e.json" 2>&1 &
		pids+=($!)
	done
	for e in "${!pids[@]}"; do
		wait "${pids[$e]}" || rc=1
	done
	for e in "${EDGES[@]}"; do
		check "$phase: every TCP and UDP flow of vpn$e completed" \
			grep -q "\"tcp_ok\": $FLOWS, \"udp_ok\": $FLOWS" "$E2E_DIR/$phase-e$e.json"
	done
	return $rc
}

# What the remote host saw in PHASE: all from the shared address, each edge's flows in its
# slice, no port twice per protocol.
check_seen() {
	local phase=$1
	check "$phase: the remote host saw every flow from $SHARED, each in its edge's slice, no port twice" \
		/usr/bin/python3 - "$E2E_DIR/seen.log" "$phase" "$FLOWS" "$LO" <<-'PY'
			import sys
			log, phase, n, lo = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
			ports, bad = {}, []
			for line in open(log):
			    proto, addr, port, tag = line.split(maxsplit=3)
			    if not tag.startswith(phase + "-"):
			        continue
			    edge = int(tag.split()[0].rsplit("e", 1)[1])
			    port = int(port)
			    if addr != "203.0.113.10":
			        bad.append(f"{tag}: from {addr}")
			    if not lo + (edge - 1) * 300 <= port < lo + edge * 300:
			        bad.append(f"{tag}: port {port} outside edge{edge}'s slice")
			    if (proto, port) in ports:
			        bad.append(f"{tag}: port {port} also used by {ports[proto, port]}")
			    ports[proto, port] = tag
			if len(ports) != 3 * 2 * n:
			    bad.append(f"{len(ports)} flows seen, not {3 * 2 * n}")
			print("\n".join(bad[:5]))
			sys.exit(1 if bad else 0)
		PY
}

# uplink_egress EDGE VERDICT: packets the egress stage of EDGE decided with VERDICT.
uplink_egress() {
	json_get "$(ctl "$1" -j stats)" \
		"j['uplinks'][0]['counters']['egress']['$2']['packets']"
}

metric() { # metric EDGE OUTCOME: edged_egress_share_packets_total of the shared address
	nsx "edge$1" /usr/bin/python3 -c '
import sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:9420/metrics", timeout=5).read().decode()
key = "edged_egress_share_packets_total{address=\"%s\",outcome=\"%s\"} " % (sys.argv[1], sys.argv[2])
print(sum(int(l.split()[-1]) for l in t.splitlines() if l.startswith(key)))' "$SHARED" "$2"
}

positive() { # positive CMD...: CMD prints a number > 0
	local v
	v=$("$@") || return 1
	echo "$v"
	((v > 0))
}

steering_counted() {
	local fwd=0 recv=0 e
	for e in "${EDGES[@]}"; do
		fwd=$((fwd + $(metric "$e" forwarded)))
		recv=$((recv + $(metric "$e" received)))
	done
	echo "forwarded $fwd, received $recv"
	((fwd > 0 && fwd == recv))
}

setup
start
run_flows ecmp
check_seen ecmp
check "ECMP: replies were steered between edges (forwarded = received, > 0)" steering_counted
echo "info: after ECMP: $(steering_counted)"
for e in "${EDGES[@]}"; do
	check "ECMP: edge$e's XDP sent replies on to other edges (egress stage, XDP_TX)" \
		positive uplink_egress "$e" tx
done

check "every reply now goes to edge3" route_one 3
run_flows one
check_seen one
for e in 1 2; do
	check "one edge: edge$e got its replies from edge3 (received > 0)" positive metric "$e" received
done
echo "info: after one edge: $(steering_counted)"

# A reload swaps in a new table (and program when needed); counters stay with their address.
BEFORE=$(metric 3 forwarded)
check "edge3 reloads its config" ctl 3 reload
check "edge3's forwarded counter survived the reload (>= $BEFORE)" \
	bash -c "(( \$1 >= $BEFORE ))" _ "$(metric 3 forwarded)"
# edged's reload of the tunnel itself (issue 7's WireGuard part) can stall edge3's own clients
# for a few seconds; this test is about the steering, so it waits for the tunnel to carry again.
T0=$SECONDS
check "vpn3's tunnel carries again after the reload" wait_for 20 nsx vpn3 ping -c1 -W1 "$REMOTE"
echo "info: vpn3's first ping after edge3's reload answered after $((SECONDS - T0)) s"
run_flows reload
check_seen reload

summary
