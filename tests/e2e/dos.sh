#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# DoS mitigation end to end: block lists (config and runtime, with TTL), signature rules,
# rate limits, per-rule counters and metrics, drop capture to a pcap, and the capture
# replayed to reproduce the same drops (the incident -> pcap -> regression loop).
#
#   +-----------------+ c0          e0 +--------------------------+ e1          a0 +-----------------+
#   | client          |----------------| edge: edged, XDP on e0,e1 |----------------| attacker        |
#   | 192.0.2.1/24    |                | 192.0.2.2/24              |                | 198.51.100.66/24|
#   | 2001:db8::1/64  |                | 198.51.100.2/24           |                | 2001:db8:66::66 |
#   +-----------------+                +--------------------------+                +-----------------+
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh

INSTANCE="dos-$E2E_RUN"
CONF=$E2E_DIR/edge.yaml
SOCK=$E2E_DIR/edged.sock
LOG=$E2E_DIR/edged.log
PORT=$((20000 + RANDOM % 20000))

setup() {
	add_ns client edge attacker || exit 1
	ip link add c0 netns "$(ns client)" type veth peer name e0 netns "$(ns edge)"
	ip link add a0 netns "$(ns attacker)" type veth peer name e1 netns "$(ns edge)"
	nsx client ip addr add 192.0.2.1/24 dev c0
	nsx client ip addr add 2001:db8::1/64 dev c0 nodad
	nsx edge ip addr add 192.0.2.2/24 dev e0
	nsx edge ip addr add 2001:db8::2/64 dev e0 nodad
	nsx edge ip addr add 198.51.100.2/24 dev e1
	nsx edge ip addr add 2001:db8:66::2/64 dev e1 nodad
	nsx attacker ip addr add 198.51.100.66/24 dev a0
	nsx attacker ip addr add 2001:db8:66::66/64 dev a0 nodad
	for l in "client c0" "edge e0" "edge e1" "attacker a0"; do
		# shellcheck disable=SC2086
		set -- $l
		nsx "$1" ip link set "$2" up
	done
	write_config "  block: [198.51.100.66/32, \"2001:db8:66::66/128\"]"
	on_cleanup "$EDGED --teardown -c $CONF"
}

# write_config LISTS: the edge's config with the given list lines in its dos section.
write_config() {
	cat >"$CONF" <<-YAML
		instance: $INSTANCE
		uplinks: [e0, e1]
		control_socket: $SOCK
		metrics: {listen: 127.0.0.1:$PORT}
		dos:
		$1
		  rules:
		    - name: ntp-drop
		      proto: udp
		      src_port: 123
		      action: drop
		    - name: probe-count
		      proto: udp
		      dst_port: 9999
		      action: count
		    - name: udp-limit
		      proto: udp
		      dst_port: 7000-7999
		      action: rate-limit
		      rate: {pps: 50, burst_packets: 50, per: source}
	YAML
}

dos_json() { "$EDGECTL" -s "$SOCK" -j dos rules; }
# rule_count NAME OUTCOME: packets of that outcome for rule NAME.
rule_count() {
	json_get "$(dos_json)" "[r for r in j['rules'] if r['name']=='$1'][0]['$2']['packets']"
}
list_count() { json_get "$(dos_json)" "[l for l in j['lists'] if l['name']=='$1'][0]['$2']['packets']"; }

# send NODE IFACE DST SPORT DPORT COUNT: COUNT UDP datagrams from NODE, as fast as scapy goes.
send_udp() {
	nsx "$1" /usr/bin/python3 - "$2" "$3" "$4" "$5" "$6" <<-'PY'
		import sys
		from scapy.all import Ether, IP, UDP, Raw, sendp, get_if_hwaddr, conf
		conf.verb = 0
		iface, dst, sport, dport, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
		src = conf.route.route(dst)[1]
		frame = Ether(dst="ff:ff:ff:ff:ff:ff", src=get_if_hwaddr(iface)) / IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(b"x" * 32)
		sendp(frame, iface=iface, count=count)
	PY
}

test_start() {
	bg edge "$LOG" "$EDGED" -c "$CONF"
	EDGED_PID=$BG_PID
	check "edged starts with the dos section" wait_for 10 "$EDGECTL" -s "$SOCK" status
}

test_block_lists() {
	local before
	check "client reaches the edge (not listed)" nsx client ping -c 2 -i 0.2 -W 1 192.0.2.2
	before=$(list_count block dropped)
	check "attacker's IPv4 pings are dropped by the config block list" \
		sh -c "! nsenter --net=/run/netns/$(ns attacker) ping -c 3 -i 0.2 -W 1 198.51.100.2"
	check "attacker's IPv6 pings are dropped too" \
		sh -c "! nsenter --net=/run/netns/$(ns attacker) ping -6 -c 2 -i 0.2 -W 1 2001:db8:66::2"
	check "block list counted the drops ($before -> $(list_count block dropped))" \
		test "$(list_count block dropped)" -ge $((before + 5))

	check "edgectl dos block add with a TTL" "$EDGECTL" -s "$SOCK" dos block add 192.0.2.1/32 --ttl 2s
	check "the runtime entry is listed as runtime" \
		sh -c "$EDGECTL -s $SOCK dos block list | grep -q '^192.0.2.1/32 .*runtime'"
	check "client is blocked while the entry lives" \
		sh -c "! nsenter --net=/run/netns/$(ns client) ping -c 2 -i 0.2 -W 1 192.0.2.2"
	sleep 2.2
	check "client passes again once the TTL expired" nsx client ping -c 2 -i 0.2 -W 1 192.0.2.2
	check "the sweeper removed the expired entry" \
		wait_for 3 sh -c "! $EDGECTL -s $SOCK dos block list | grep -q '^192.0.2.1/32'"
	check "edgectl dos block add rejects host bits and names the fix" \
		sh -c "$EDGECTL -s $SOCK dos block add 192.0.2.1/24 2>&1 | grep -q 'did you mean 192.0.2.0/24'"
}

test_rules() {
	local before passed limited
	before=$(rule_count ntp-drop dropped)
	send_udp attacker a0 198.51.100.2 123 40000 1 # block list first: the rule never sees it
	send_udp client c0 192.0.2.2 123 40000 20
	check "ntp-drop dropped 20 NTP-sourced datagrams ($before -> $(rule_count ntp-drop dropped))" \
		test "$(rule_count ntp-drop dropped)" -eq $((before + 20))

	before=$(rule_count probe-count matched)
	send_udp client c0 192.0.2.2 5000 9999 7
	check "probe-count counted 7 and let them through" \
		test "$(rule_count probe-count matched)" -eq $((before + 7)) -a "$(rule_count probe-count dropped)" -eq 0

	local t0 t1 most
	t0=$(date +%s%N)
	send_udp client c0 192.0.2.2 5000 7100 200
	t1=$(date +%s%N)
	# The burst, plus what 50 pps refills while the 200 are being sent (the send takes
	# ~0.2 s here, longer on a loaded machine), plus one for the refill's rounding.
	most=$((50 + 50 * (t1 - t0) / 1000000000 + 1))
	passed=$(rule_count udp-limit passed)
	limited=$(rule_count udp-limit rate_limited)
	check "udp-limit let the 50-packet burst through (passed $passed, within 50-$most)" \
		test "$passed" -ge 50 -a "$passed" -le "$most"
	check "udp-limit dropped the rest of 200 (rate_limited $limited)" test $((passed + limited)) -eq 200
	check "metrics: per-rule counters are exported" sh -c \
		"nsenter --net=/run/netns/$(ns edge) curl -sf http://127.0.0.1:$PORT/metrics | grep -q 'edged_dos_rule_packets_total{rule=\"ntp-drop\",outcome=\"dropped\"} [1-9]'"
	check "metrics: list sizes are exported" sh -c \
		"nsenter --net=/run/netns/$(ns edge) curl -sf http://127.0.0.1:$PORT/metrics | grep -q 'edged_dos_list_entries{list=\"block\",family=\"ipv4\"} 1'"
}

# edgectl capture writes dropped packets to a pcap; replaying it reproduces the drops.
test_capture_and_replay() {
	local pcap=$E2E_DIR/drops.pcap before
	bg edge "$E2E_DIR/capture.log" "$EDGECTL" -s "$SOCK" capture --rule ntp-drop --count 5 --timeout 20 -w "$pcap"
	local cap_pid=$BG_PID
	sleep 0.5
	send_udp client c0 192.0.2.2 123 40001 8
	wait "$cap_pid"
	check "edgectl capture ends by itself after --count 5" grep -q "5 packets written" "$E2E_DIR/capture.log"
	check "tshark reads 5 NTP-sourced packets from the capture" \
		sh -c "[ \$(tshark -r $pcap -Y 'udp.srcport == 123' 2>/dev/null | wc -l) = 5 ]"
	check "capture switched sampling off again" \
		sh -c "bpftool map dump pinned /sys/fs/bpf/edged/$INSTANCE/edge_capture | grep -q '\"verdicts\": 0'"
	before=$(rule_count ntp-drop dropped)
	nsx client tcpreplay -q -i c0 "$pcap" >/dev/null 2>&1
	check "replaying the capture reproduces 5 drops of ntp-drop ($before -> $(rule_count ntp-drop dropped))" \
		wait_for 3 test "$(rule_count ntp-drop dropped)" -eq $((before + 5))
}

test_reload_keeps_runtime() {
	"$EDGECTL" -s "$SOCK" dos block add 203.0.113.77/32 >/dev/null
	write_config "  block: []"
	check "reload with the attacker no longer listed" "$EDGECTL" -s "$SOCK" reload
	check "attacker reaches the edge after the reload" nsx attacker ping -c 2 -i 0.2 -W 1 198.51.100.2
	check "runtime entries survive a reload" \
		sh -c "$EDGECTL -s $SOCK dos block list | grep -q '^203.0.113.77/32 .*runtime'"
	check "edgectl dos block flush removes runtime entries" \
		sh -c "$EDGECTL -s $SOCK dos block flush | grep -q 'removed 1 runtime'"
}

test_teardown() {
	check "teardown" "$EDGECTL" -s "$SOCK" teardown
	check "edged exits" wait_for 5 sh -c "! kill -0 $EDGED_PID 2>/dev/null"
	check "no pins left" test ! -e "/sys/fs/bpf/edged/$INSTANCE"
	check "edged's log holds no sanitizer report" sh -c "! grep -E 'Sanitizer|runtime error' $LOG"
}

setup
test_start
test_block_lists
test_rules
test_capture_and_replay
test_reload_keeps_runtime
test_teardown
summary
