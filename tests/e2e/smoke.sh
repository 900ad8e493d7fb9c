#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# edged smoke test: the data path is attached, counts, survives edged being killed, adopts
# on restart, reloads atomically, and tears down without leftovers.
#
#   +----------------+  c0      veth       e0  +--------------------------+
#   | client         |-----------------------| edge: edged, XDP on e0     |
#   | 192.0.2.1/24   |                       | 192.0.2.2/24               |
#   | 2001:db8::1/64 |                       | 2001:db8::2/64             |
#   +----------------+                       +--------------------------+
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh

INSTANCE="smoke-$E2E_RUN"
CONF=$E2E_DIR/edge.yaml
SOCK=$E2E_DIR/edged.sock
LOG=$E2E_DIR/edged.log
PORT=$((20000 + RANDOM % 20000))

setup() {
	add_ns client edge || exit 1
	ip link add c0 netns "$(ns client)" type veth peer name e0 netns "$(ns edge)"
	nsx client ip addr add 192.0.2.1/24 dev c0
	nsx client ip addr add 2001:db8::1/64 dev c0 nodad
	nsx edge ip addr add 192.0.2.2/24 dev e0
	nsx edge ip addr add 2001:db8::2/64 dev e0 nodad
	nsx client ip link set c0 up
	nsx edge ip link set e0 up
	write_config "$CONF" ""
	on_cleanup "$EDGED --teardown -c $CONF"
}

# write_config FILE EXTRA: the edge's config, with EXTRA appended (function sections).
write_config() {
	cat >"$1" <<-YAML
		instance: $INSTANCE
		uplinks:
		  - name: e0
		    xdp_mode: native
		control_socket: $SOCK
		metrics:
		  listen: 127.0.0.1:$PORT
		log_level: info
		$2
	YAML
}

# start_edged N: runs edged in the edge namespace, logging to $LOG.N; sets EDGED_PID. It gets
# a NOTIFY_SOCKET as under systemd; what it sends there lands in $E2E_DIR/notify.N.
start_edged() {
	/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(15)
with open(sys.argv[2], "w") as out:
    try:
        while True:
            out.write(s.recv(4096).decode() + "\n")
            out.flush()
    except socket.timeout:
        pass' "$E2E_DIR/notify.sock.$1" "$E2E_DIR/notify.$1" &
	E2E_PIDS+=("$!")
	wait_for 5 test -S "$E2E_DIR/notify.sock.$1"
	NOTIFY_SOCKET=$E2E_DIR/notify.sock.$1 bg edge "$LOG.$1" "$EDGED" -c "$CONF"
	EDGED_PID=$BG_PID
}

stats() { "$EDGECTL" -s "$SOCK" -j stats; }
counter() { json_get "$(stats)" "j['uplinks'][0]['counters']['$1']['$2']['packets']"; }
status_field() { json_get "$("$EDGECTL" -s "$SOCK" -j status)" "$1"; }

# A frame with an IPv4 header cut short: the parser must drop it and count it.
send_malformed() {
	nsx client /usr/bin/python3 - <<-'PY'
		from scapy.all import Ether, IP, TCP, sendp, raw, get_if_hwaddr, conf
		conf.verb = 0
		frame = raw(Ether(dst="ff:ff:ff:ff:ff:ff", src=get_if_hwaddr("c0")) / IP(dst="192.0.2.2") / TCP())
		sendp(frame[:14 + 12], iface="c0", count=5)
	PY
}

test_start() {
	check "edged --check accepts the generated config" nsx edge "$EDGED" --check -c "$CONF"
	start_edged 1
	check "edged starts and answers on its control socket" wait_for 10 "$EDGECTL" -s "$SOCK" status
	check "status names the uplink's NIC driver (veth)" test "$(status_field "j['uplinks'][0]['driver']")" = veth
	check "edged told systemd READY=1 (sd_notify)" wait_for 5 grep -qx "READY=1" "$E2E_DIR/notify.1"
	check "XDP program attached to e0 in native mode" \
		sh -c "ip -n $(ns edge) -d link show e0 | grep -q 'xdp '"
	check "pins exist under /sys/fs/bpf/edged/$INSTANCE" \
		test -e "/sys/fs/bpf/edged/$INSTANCE/link_xdp_e0" -a -e "/sys/fs/bpf/edged/$INSTANCE/uplink_stats"
	check "control socket is mode 0600" sh -c "[ \$(stat -c %a $SOCK) = 600 ]"
}

test_traffic() {
	local before after
	before=$(counter end pass)
	check "IPv4 ping through the XDP program" nsx client ping -c 3 -i 0.2 -W 1 192.0.2.2
	check "IPv6 ping through the XDP program" nsx client ping -6 -c 3 -i 0.2 -W 1 2001:db8::2
	bg edge "$E2E_DIR/nc.out" nc -l -N 192.0.2.2 8080
	sleep 0.3
	echo "hello through edged" | nsx client nc -N -w 2 192.0.2.2 8080 >/dev/null 2>&1
	wait "$BG_PID"
	check "TCP payload delivered through the XDP program" grep -q "hello through edged" "$E2E_DIR/nc.out"
	after=$(counter end pass)
	check "edgectl -j stats: end/pass moved (before $before, after $after)" test "$after" -gt "$before"

	before=$(counter parse drop)
	send_malformed
	after=$(counter parse drop)
	check "5 truncated IPv4 frames counted as parse/drop ($before -> $after)" test "$after" -eq $((before + 5))
	check "metrics: /metrics serves edged_xdp_packets_total for e0" sh -c \
		"ip netns exec $(ns edge) curl -sf http://127.0.0.1:$PORT/metrics | grep -q 'edged_xdp_packets_total{iface=\"e0\",stage=\"end\",verdict=\"pass\"} [1-9]'"
	check "edgectl stats prints a table" sh -c "$EDGECTL -s $SOCK stats | grep -q '^e0 .*end .*pass'"
}

# kill -9 edged while a ping runs: the pinned data path keeps forwarding, and a new edged
# adopts the same link (same id) instead of re-attaching.
test_restart() {
	local link_before link_after loss pkts_before pkts_after
	link_before=$(status_field "j['uplinks'][0]['link_id']")
	pkts_before=$(counter end pass)
	bg client "$E2E_DIR/ping.out" ping -c 40 -i 0.05 -W 1 192.0.2.2
	local ping_pid=$BG_PID
	sleep 0.5
	kill -9 "$EDGED_PID"
	wait "$EDGED_PID" 2>/dev/null
	wait "$ping_pid"
	loss=$(sed -nE 's/.* ([0-9.]+)% packet loss.*/\1/p' "$E2E_DIR/ping.out")
	check "no ping lost while edged was killed -9 (loss ${loss}%)" test "$loss" = 0
	check "XDP stays attached with edged dead" sh -c "ip -n $(ns edge) -d link show e0 | grep -q 'xdp '"
	start_edged 2
	check "edged restarts after kill -9" wait_for 10 "$EDGECTL" -s "$SOCK" status
	check "restart adopts the pinned link (log says adopted)" grep -q "adopted" "$LOG.2"
	link_after=$(status_field "j['uplinks'][0]['link_id']")
	check "same bpf_link id before and after restart ($link_before = $link_after)" test "$link_before" = "$link_after"
	pkts_after=$(counter end pass)
	check "counters survived and counted the ping while edged was down ($pkts_before -> $pkts_after)" \
		test "$pkts_after" -ge $((pkts_before + 40))
}

test_reload() {
	local gen prog link
	gen=$(status_field "j['generation']")
	prog=$(status_field "j['prog_id']")
	link=$(status_field "j['uplinks'][0]['link_id']")
	local out rc
	echo "uplinks: [e0" >"$CONF"
	out=$("$EDGECTL" -s "$SOCK" reload 2>&1)
	rc=$?
	check "edgectl reload of an invalid file exits 1 (got $rc)" test "$rc" = 1
	check "the rejection names FILE:LINE:COL" grep -q "^$CONF:[0-9]*:[0-9]*: " <<<"$out"
	check "rejected reload keeps generation $gen" test "$(status_field "j['generation']")" = "$gen"
	check "status reports the failed reload" test "$(status_field "j['last_reload']['ok']")" = False

	write_config "$CONF" "dos: {}"
	bg client "$E2E_DIR/ping2.out" ping -c 30 -i 0.05 -W 1 192.0.2.2
	local ping_pid=$BG_PID
	sleep 0.3
	kill -HUP "$EDGED_PID"
	wait "$ping_pid"
	check "SIGHUP applies a valid file: generation $gen -> $((gen + 1))" \
		wait_for 5 sh -c "[ \"\$($EDGECTL -s $SOCK -j status | /usr/bin/python3 -c 'import json,sys;print(json.load(sys.stdin)[\"generation\"])')\" = $((gen + 1)) ]"
	check "enabling dos loaded a new program (id $prog -> $(status_field "j['prog_id']"))" \
		test "$(status_field "j['prog_id']")" != "$prog"
	check "the link was updated in place, not re-attached" test "$(status_field "j['uplinks'][0]['link_id']")" = "$link"
	check "no ping lost across the program swap" grep -q " 0% packet loss" "$E2E_DIR/ping2.out"
}

test_teardown() {
	check "edgectl teardown succeeds" "$EDGECTL" -s "$SOCK" teardown
	check "edged exits after teardown" wait_for 5 sh -c "! kill -0 $EDGED_PID 2>/dev/null"
	check "no pins left under /sys/fs/bpf/edged/$INSTANCE" test ! -e "/sys/fs/bpf/edged/$INSTANCE"
	check "no XDP program left on e0" sh -c "! ip -n $(ns edge) -d link show e0 | grep -q 'xdp'"
	check "control socket removed" test ! -e "$SOCK"
	check "edged --teardown with nothing left to remove exits 0" "$EDGED" --teardown -c "$CONF"
	# Under `make test SAN=1` edged is built with ASan+UBSan: its reports land in its logs.
	check "edged's logs hold no sanitizer report" sh -c "! grep -lE 'Sanitizer|runtime error' $LOG.*"
}

setup
test_start
test_traffic
test_restart
test_reload
test_teardown
summary
