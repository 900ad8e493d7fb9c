#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Socket dispatch end to end: AnyIP prefixes, any-port services through sk_lookup, two
# applications on port 443 of different prefixes, a binding without a socket counting misses,
# the built-in proxy relaying to an origin behind a PROXY v2 header (TCP with half-close, UDP,
# two thousand concurrent connections), and a binding switched between sk_lookup and TPROXY
# at runtime under an established connection.
#
#   +------------------+ c0        e0 +------------------------------------+ e1        o0 +-----------------+
#   | client           |--------------| edge: edged (dispatch), services   |--------------| origin          |
#   | 192.0.2.1/24     |              | app1 app2 app3 (dispatch_service),  |              | 198.51.100.10/24|
#   | 2001:db8::1/64   |              | edged-proxy (spectrum)              |              | PROXY v2 echo   |
#   +------------------+              | 192.0.2.2 2001:db8::2 198.51.100.2 |              +-----------------+
#                                     | AnyIP 203.0.113.0/24, 2001:db8:100::/64 (local routes on lo) |
#                                     +--------------------------------------------------------------+
#   bindings: 203.0.113.0/26 and 2001:db8:100::/64 tcp+udp any -> app1; 203.0.113.64 tcp 443 -> app2;
#   203.0.113.65 tcp 443 -> app3; 203.0.113.30 tcp 1000-2000 -> ghost (never registers);
#   203.0.113.128/25 tcp+udp any -> spectrum (edged-proxy -> origin 198.51.100.10:9000);
#   203.0.113.127 tcp any -> spectrum (its origin, 198.51.100.10:9, refuses: a connect failure)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh

OUT=${OUT:-build}
INSTANCE="dsp-$E2E_RUN"
CONF=$E2E_DIR/edge.yaml
SOCK=$E2E_DIR/edged.sock
LOG=$E2E_DIR/edged.log
PORT=$((20000 + RANDOM % 20000))
PROXY_METRICS=$((PORT + 1))
TOOL=tests/e2e/dispatch_tool.py
SERVICE=$OUT/examples/dispatch_service
PROXY=$OUT/edged-proxy

setup() {
	add_ns client edge origin || exit 1
	ip link add c0 netns "$(ns client)" type veth peer name e0 netns "$(ns edge)"
	ip link add o0 netns "$(ns origin)" type veth peer name e1 netns "$(ns edge)"
	nsx client ip addr add 192.0.2.1/24 dev c0
	nsx client ip addr add 2001:db8::1/64 dev c0 nodad
	nsx edge ip addr add 192.0.2.2/24 dev e0
	nsx edge ip addr add 2001:db8::2/64 dev e0 nodad
	nsx edge ip addr add 198.51.100.2/24 dev e1
	nsx origin ip addr add 198.51.100.10/24 dev o0
	for l in "client c0" "edge e0" "edge e1" "origin o0"; do
		# shellcheck disable=SC2086
		set -- $l
		nsx "$1" ip link set "$2" up
	done
	nsx client ip route add default via 192.0.2.2
	nsx client ip -6 route add default via 2001:db8::2
	# The lab installs the anycast route itself: edged must take it as present, and leave it.
	nsx edge ip route add local 203.0.113.0/24 dev lo
	write_config sk_lookup
	on_cleanup "nsenter --net=/run/netns/$(ns edge) $EDGED --teardown -c $CONF"
}

# write_config MECHANISM: the edge's config; MECHANISM is that of the spectrum TCP binding
# and of app1's IPv6 TCP binding.
write_config() {
	cat >"$CONF" <<-YAML
		instance: $INSTANCE
		uplinks: [e0, e1]
		control_socket: $SOCK
		metrics: {listen: 127.0.0.1:$PORT}
		dispatch:
		  local_prefixes: [203.0.113.0/24, "2001:db8:100::/64"]
		  services:
		    - app1
		    - app2
		    - app3
		    - ghost
		    - name: spectrum
		      proxy:
		        origins:
		          - {prefix: 203.0.113.128/25, address: 198.51.100.10, port: 9000}
		          - {prefix: 203.0.113.127/32, address: 198.51.100.10, port: 9}  # closed port
		        proxy_protocol: v2
		        udp_idle_timeout: 2s
		        metrics: 127.0.0.1:$PROXY_METRICS
		  bindings:
		    - {prefix: 203.0.113.0/26, proto: tcp, ports: any, service: app1}
		    - {prefix: 203.0.113.0/26, proto: udp, ports: any, service: app1}
		    - {prefix: "2001:db8:100::/64", proto: tcp, ports: any, service: app1, mechanism: $1}
		    - {prefix: "2001:db8:100::/64", proto: udp, ports: any, service: app1}
		    - {prefix: 203.0.113.64/32, proto: tcp, ports: 443, service: app2}
		    - {prefix: 203.0.113.65/32, proto: tcp, ports: 443, service: app3}
		    - {prefix: 203.0.113.30/32, proto: tcp, ports: 1000-2000, service: ghost}
		    - {prefix: 203.0.113.128/25, proto: tcp, ports: any, service: spectrum, mechanism: $1}
		    - {prefix: 203.0.113.128/25, proto: udp, ports: any, service: spectrum}
		    - {prefix: 203.0.113.127/32, proto: tcp, ports: any, service: spectrum}
	YAML
}

ctl() { nsx edge "$EDGECTL" -s "$SOCK" "$@"; }
# binding PREFIX PROTO FIELD: a field of a binding in `edgectl -j dispatch bindings`.
binding() {
	json_get "$(ctl -j dispatch bindings)" \
		"[b for b in j['bindings'] if b['prefix']=='$1' and b['proto']=='$2'][0]['$3']"
}

test_start() {
	bg edge "$LOG" "$EDGED" -c "$CONF"
	EDGED_PID=$BG_PID
	check "edged starts with the dispatch section" wait_for 10 nsx edge "$EDGECTL" -s "$SOCK" status
	check "AnyIP: edged added the IPv6 prefix as a local route on lo (proto 237)" \
		sh -c "nsenter --net=/run/netns/$(ns edge) ip -6 route show table local proto 237 | grep -q '^local 2001:db8:100::/64 dev lo'"
	check "AnyIP: the lab's own IPv4 local route was taken as present, not replaced" \
		sh -c "nsenter --net=/run/netns/$(ns edge) ip route show table local 203.0.113.0/24 | grep -v 'proto 237' | grep -q '^local 203.0.113.0/24 dev lo'"
	for app in app1 app2 app3; do
		bg edge "$E2E_DIR/$app.log" "$SERVICE" -s "$SOCK" "$app"
		check "$app registers its sockets through libedged_dispatch (SCM_RIGHTS)" \
			wait_for 5 grep -q '^ready' "$E2E_DIR/$app.log"
		[[ $app == app3 ]] && APP3_PID=$BG_PID
	done
	check "edgectl dispatch services shows app1's four sockets alive" \
		sh -c "[ \$(nsenter --net=/run/netns/$(ns edge) $EDGECTL -s $SOCK dispatch services | grep -c '^app1 .* alive') = 4 ]"
}

# Clients connect to random ports across the prefixes; the service sees each destination.
test_any_port() {
	local addr port want got bad=0 udpbad=0 v6bad=0
	for _ in $(seq 1 12); do
		addr=203.0.113.$((1 + RANDOM % 60))
		[[ $addr == 203.0.113.30 ]] && addr=203.0.113.31
		port=$((1 + RANDOM % 65535))
		want="app1 tcp $addr $port"
		got=$(nsx client "$TOOL" tcp "$addr" "$port" 2>&1)
		[[ $got == "$want" ]] || { bad=$((bad + 1)); echo "       tcp $addr:$port: got '$got'"; }
		want="app1 udp $addr $port"
		got=$(nsx client "$TOOL" udp "$addr" "$port" 2>&1)
		[[ $got == "$want" ]] || { udpbad=$((udpbad + 1)); echo "       udp $addr:$port: got '$got'"; }
		# Not ::0: the service prints addresses in canonical form, and that one is "::".
		addr=2001:db8:100::$((1 + RANDOM % 9998))
		got=$(nsx client "$TOOL" tcp "$addr" "$port" 2>&1)
		[[ $got == "app1 tcp $addr $port" ]] || { v6bad=$((v6bad + 1)); echo "       tcp [$addr]:$port: got '$got'"; }
	done
	check "12 TCP connections to random IPv4 addresses and ports: app1 saw each destination" test $bad -eq 0
	check "12 UDP datagrams likewise, each answered from the address and port it was sent to" test $udpbad -eq 0
	check "12 TCP connections across the IPv6 /64 (FREEBIND handled for the service)" test $v6bad -eq 0
	check "app1's own log names the destinations it served" grep -q "^tcp 203.0.113" "$E2E_DIR/app1.log"
	check "lookups counted for the IPv4 TCP binding" test "$(binding 203.0.113.0/26 tcp lookups)" -ge 12
}

test_shared_443() {
	check "two applications share port 443: 203.0.113.64 -> app2" \
		sh -c "[ \"\$(nsenter --net=/run/netns/$(ns client) $TOOL tcp 203.0.113.64 443)\" = 'app2 tcp 203.0.113.64 443' ]"
	check "two applications share port 443: 203.0.113.65 -> app3" \
		sh -c "[ \"\$(nsenter --net=/run/netns/$(ns client) $TOOL tcp 203.0.113.65 443)\" = 'app3 tcp 203.0.113.65 443' ]"
}

# A binding without a socket refuses and counts, and the traffic does not reach app1, whose
# /26 holds the address too.
test_misses() {
	local before
	before=$(binding 203.0.113.30/32 tcp misses)
	check "the ghost binding (no socket) refuses the connection" nsx client "$TOOL" refused 203.0.113.30 1500
	check "the refusal is counted as a miss ($before -> $(binding 203.0.113.30/32 tcp misses))" \
		test "$(binding 203.0.113.30/32 tcp misses)" -eq $((before + 1))
	check "app1 never saw it (no fallback to a shorter prefix)" sh -c "! grep -q '^tcp 203.0.113.30 1500' $E2E_DIR/app1.log"
	check "the port next to ghost's range still goes to app1" \
		sh -c "[ \"\$(nsenter --net=/run/netns/$(ns client) $TOOL tcp 203.0.113.30 2001)\" = 'app1 tcp 203.0.113.30 2001' ]"
	kill "$APP3_PID"
	wait "$APP3_PID" 2>/dev/null
	before=$(binding 203.0.113.65/32 tcp misses)
	check "app3 died: its binding refuses" nsx client "$TOOL" refused 203.0.113.65 443
	check "... and counts a miss ($before -> $(binding 203.0.113.65/32 tcp misses))" \
		test "$(binding 203.0.113.65/32 tcp misses)" -eq $((before + 1))
	check "edgectl dispatch services shows app3 without a socket" \
		sh -c "nsenter --net=/run/netns/$(ns edge) $EDGECTL -s $SOCK dispatch services | grep -q '^app3 .* NONE'"
}

# kill -9 of edged leaves the data path running; a new edged adopts link, sockets, counters.
test_restart() {
	local before pyout=$E2E_DIR/py.log
	before=$(binding 203.0.113.0/26 tcp lookups)
	kill -9 "$EDGED_PID"
	wait "$EDGED_PID" 2>/dev/null
	check "edged killed: dispatch keeps working without it" \
		sh -c "[ \"\$(nsenter --net=/run/netns/$(ns client) $TOOL tcp 203.0.113.9 4242)\" = 'app1 tcp 203.0.113.9 4242' ]"
	bg edge "$LOG.2" "$EDGED" -c "$CONF"
	EDGED_PID=$BG_PID
	check "a new edged starts on the pinned data path" wait_for 10 nsx edge "$EDGECTL" -s "$SOCK" status
	check "it adopted the sk_lookup link" grep -q 'sk_lookup program adopted' "$LOG.2"
	check "the services' sockets are still registered" \
		sh -c "[ \$(nsenter --net=/run/netns/$(ns edge) $EDGECTL -s $SOCK dispatch services | grep -c '^app1 .* alive') = 4 ]"
	check "counters carried on ($before -> $(binding 203.0.113.0/26 tcp lookups))" \
		test "$(binding 203.0.113.0/26 tcp lookups)" -gt "$before"
	# app3 comes back as a plain socket of another process, taken by pid and descriptor.
	bg edge "$pyout" /usr/bin/python3 -c '
import os, socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(os.getpid(), s.fileno(), flush=True)
while True:
    c, _ = s.accept(); c.send(b"py %s %d\n" % (c.getsockname()[0].encode(), c.getsockname()[1])); c.close()'
	wait_for 5 test -s "$pyout"
	check "edgectl dispatch register app3 --pid PID --fd N (pidfd_getfd)" \
		ctl dispatch register app3 --pid "$(cut -d' ' -f1 "$pyout")" --fd "$(cut -d' ' -f2 "$pyout")"
	check "app3's binding reaches the new socket" \
		sh -c "[ \"\$(nsenter --net=/run/netns/$(ns client) $TOOL tcp 203.0.113.65 443)\" = 'py 203.0.113.65 443' ]"
	check "edgectl names the fix for a descriptor that is not there" \
		sh -c "nsenter --net=/run/netns/$(ns edge) $EDGECTL -s $SOCK dispatch register app3 --pid $$ --fd 999 2>&1 | grep -q 'no such descriptor'"
}

test_proxy() {
	local out
	bg origin "$E2E_DIR/origin.log" "$TOOL" origin 198.51.100.10 9000
	check "origin is up" wait_for 5 grep -q 'origin ready' "$E2E_DIR/origin.log"
	bg edge "$E2E_DIR/proxy.log" "$PROXY" -c "$CONF" -s spectrum
	check "edged-proxy registers its TCP and UDP sockets" \
		wait_for 5 sh -c "[ \$(grep -c 'socket registered' $E2E_DIR/proxy.log) = 2 ]"
	out=$(nsx client "$TOOL" halfclose 203.0.113.200 5555 100000 2>&1)
	check "the origin sees the PROXY v2 header: client 192.0.2.1, destination 203.0.113.200:5555" \
		sh -c "echo '$out' | grep -qE '^hdr 192.0.2.1 [0-9]+ 203.0.113.200 5555$'"
	check "half-close: the client's EOF reached the origin after all 100000 bytes" \
		sh -c "echo '$out' | grep -q '^bytes 100000$'"
	check "half-close: the origin's answer after it came back whole" sh -c "echo '$out' | grep -q '^echoed 100000$'"
	out=$(nsx client "$TOOL" udp 203.0.113.201 6666 2>&1)
	check "UDP through the proxy: header per datagram, reply from 203.0.113.201:6666" \
		sh -c "echo '$out' | grep -qE '^hdr 192.0.2.1 [0-9]+ 203.0.113.201 6666$'"
	out=$(nsx client sh -c "ulimit -n 16384; $TOOL many 203.0.113.128/25 1 65535 2000" 2>&1)
	check "2000 concurrent connections to random hosts and ports through the proxy ($(echo "$out" | tr '\n' ' '))" \
		sh -c "echo '$out' | grep -q '^open 2000$' && echo '$out' | grep -q '^ok 2000$'"
}

# An established connection survives switching its binding sk_lookup -> TPROXY -> sk_lookup.
test_switch_mechanism() {
	local hold=$E2E_DIR/hold lookups tproxied
	mkdir -p "$hold"
	bg client "$hold/log" "$TOOL" hold 203.0.113.150 7777 "$hold"
	check "an established connection through the proxy (sk_lookup)" wait_for 5 grep -q '^hdr ' "$hold/log"
	write_config tproxy
	check "reload: the spectrum TCP binding now uses TPROXY" ctl reload
	check "nftables has edged's table with IPv4 and IPv6 tproxy rules" \
		sh -c "nsenter --net=/run/netns/$(ns edge) nft list table inet edged_dispatch | grep -q 'tproxy ip to 127.0.0.1:' &&
		       nsenter --net=/run/netns/$(ns edge) nft list table inet edged_dispatch | grep -q 'tproxy ip6 to \[::1\]:'"
	check "the TPROXY fwmark rule is installed" \
		sh -c "nsenter --net=/run/netns/$(ns edge) ip rule show | grep -q 'fwmark 0xe00000/0xe00000 lookup 237 proto 237'"
	touch "$hold/go1"
	check "the established connection still answers after the switch" wait_for 5 grep -q '^ping 1$' "$hold/log"
	lookups=$(binding 203.0.113.128/25 tcp lookups)
	check "a new connection goes through TPROXY" \
		sh -c "nsenter --net=/run/netns/$(ns client) $TOOL tcp 203.0.113.151 7778 | grep -q '^hdr 192.0.2.1 [0-9]* 203.0.113.151 7778'"
	tproxied=$(binding 203.0.113.128/25 tcp tproxy_packets)
	check "... counted by its nftables rule ($tproxied packets), not by sk_lookup" \
		test "$tproxied" -gt 0 -a "$(binding 203.0.113.128/25 tcp lookups)" -eq "$lookups"
	check "IPv6 through TPROXY: app1 sees [2001:db8:100::77]:8443" \
		sh -c "[ \"\$(nsenter --net=/run/netns/$(ns client) $TOOL tcp 2001:db8:100::77 8443)\" = 'app1 tcp 2001:db8:100::77 8443' ]"
	check "... counted by its nftables rule" test "$(binding 2001:db8:100::/64 tcp tproxy_packets)" -gt 0
	write_config sk_lookup
	check "reload: back to sk_lookup" ctl reload
	check "the TPROXY table is gone" sh -c "! nsenter --net=/run/netns/$(ns edge) nft list table inet edged_dispatch 2>/dev/null"
	touch "$hold/go2"
	check "the established connection still answers after switching back" wait_for 5 grep -q '^ping 2$' "$hold/log"
	check "a new connection goes through sk_lookup again" \
		sh -c "nsenter --net=/run/netns/$(ns client) $TOOL tcp 203.0.113.152 7779 | grep -q '^hdr '"
	check "... counted by sk_lookup" test "$(binding 203.0.113.128/25 tcp lookups)" -gt "$lookups"
	touch "$hold/stop"
}

test_metrics() {
	check "metrics: per-binding lookups and misses" sh -c \
		"nsenter --net=/run/netns/$(ns edge) curl -sf http://127.0.0.1:$PORT/metrics | grep -q 'edged_dispatch_lookups_total{prefix=\"203.0.113.30/32\",proto=\"tcp\",ports=\"1000-2000\",service=\"ghost\",mechanism=\"sk_lookup\",outcome=\"misses\"} 1'"
	check "metrics: service sockets" sh -c \
		"nsenter --net=/run/netns/$(ns edge) curl -sf http://127.0.0.1:$PORT/metrics | grep -q 'edged_dispatch_service_socket{service=\"app1\",proto=\"udp\",family=\"ipv6\"} 1'"
}

# proxy_metric NAME LABELS: the value of one sample of edged-proxy's /metrics.
proxy_metric() {
	local labels="service=\"spectrum\"${2:+,$2}"
	nsx edge curl -sf "http://127.0.0.1:$PROXY_METRICS/metrics" |
		awk -v s="$1{$labels}" '$1 == s { print $2 }'
}

udp_idle_closed() { test "$(proxy_metric edged_proxy_idle_timeouts_total 'proto="udp"')" -ge 1; }

# edged-proxy's own metrics, after the traffic of test_proxy and test_switch_mechanism.
test_proxy_metrics() {
	local acc act clo noo
	nsx client "$TOOL" tcp 203.0.113.127 80 >/dev/null 2>&1 # its origin port is closed
	acc=$(proxy_metric edged_proxy_connections_accepted_total 'proto="tcp"')
	act=$(proxy_metric edged_proxy_connections_active 'proto="tcp"')
	clo=$(proxy_metric edged_proxy_connections_closed_total 'proto="tcp"')
	noo=$(proxy_metric edged_proxy_no_origin_total 'proto="tcp"')
	check "metrics: TCP connections accepted ($acc), at least the 2000 + 4 of the tests" test "${acc:-0}" -ge 2004
	check "metrics: active ($act) + closed ($clo) + without origin ($noo) = accepted" \
		test $((act + clo + noo)) -eq "$acc"
	check "metrics: a PROXY header sent per TCP connection to an origin that answered" \
		test "$(proxy_metric edged_proxy_proxy_headers_sent_total 'proto="tcp"')" -ge 2003
	check "metrics: and per UDP datagram" \
		test "$(proxy_metric edged_proxy_proxy_headers_sent_total 'proto="udp"')" -ge 1
	check "metrics: bytes relayed to the origin (at least the 100000 of the half-close)" \
		test "$(proxy_metric edged_proxy_bytes_total 'direction="to_origin"')" -ge 100000
	check "metrics: and back to clients" \
		test "$(proxy_metric edged_proxy_bytes_total 'direction="to_client"')" -ge 100000
	check "metrics: the origin that refused: one connect failure" \
		test "$(proxy_metric edged_proxy_origin_connect_failures_total '')" -ge 1
	# The proxy sweeps idle flows once a second: on a fast run fewer than 2 s may have passed
	# since the UDP flow of test_proxy, so wait for the sweep rather than read once.
	check "metrics: the UDP flow closed after its 2 s idle timeout" wait_for 8 udp_idle_closed
	check "metrics: an unknown path is 404" \
		sh -c "[ \"\$(nsenter --net=/run/netns/$(ns edge) curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$PROXY_METRICS/x)\" = 404 ]"
}

test_teardown() {
	check "teardown" ctl teardown
	check "edged exits" wait_for 5 sh -c "! kill -0 $EDGED_PID 2>/dev/null"
	check "edged removed its IPv6 local route" \
		sh -c "! nsenter --net=/run/netns/$(ns edge) ip -6 route show table local | grep -q 2001:db8:100::/64"
	check "the lab's IPv4 local route stays (not edged's)" \
		sh -c "nsenter --net=/run/netns/$(ns edge) ip route show table local | grep -q '^local 203.0.113.0/24 dev lo'"
	check "no edged rule is left" sh -c "! nsenter --net=/run/netns/$(ns edge) ip rule show | grep -q 'proto 237'"
	check "the sk_lookup program is detached (bindings gone: connections refused)" \
		nsx client "$TOOL" refused 203.0.113.5 80
	check "edged's logs hold no sanitizer report" sh -c "! grep -E 'Sanitizer|runtime error' $LOG $LOG.2"
}

setup
test_start
test_any_port
test_shared_443
test_misses
test_restart
test_proxy
test_switch_mechanism
test_metrics
test_proxy_metrics
test_teardown
summary
