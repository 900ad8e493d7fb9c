#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Drop rate under a flood on a veth: edged's XDP block list against an nftables drop rule at
# the earliest hook nftables has (netdev ingress), same flood, same machine, same run.
#
# The generator and the receiver share a CPU (live frames are received in the sender's
# softirq), so each flood's time is generator + receiver. A bare XDP_DROP program measures the
# generator's share (the floor); a mechanism's own cost per packet is its time less the floor,
# and its drop rate is one over that. Both figures are printed: end to end, and mechanism only.
#
#   +---------------+ a0        e1 +------------------------------------------+
#   | gen           |--------------| sink: edged (XDP, dos block) or nft drop  |
#   | flood_gen     |              | 198.51.100.2/24, GRO on                  |
#   | 198.51.100.66 |              +------------------------------------------+
#   +---------------+
# flood_gen pushes COUNT 60-byte frames with BPF_PROG_TEST_RUN live frames (XDP_TX out of a0).
# GRO on e1 lets frames sent with XDP_TX into the veth be received without an XDP program on
# it (platform.md), so both mechanisms see the same delivery path.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh

OUT=${OUT:-build}
COUNT=${FLOOD_COUNT:-2000000} # bounded: ~1-3 s per mechanism here
REPS=${FLOOD_REPS:-3}
GEN=$OUT/tests/bench/flood_gen
DROP_OBJ=build/bench/xdp_drop.bpf.o
CONF=$E2E_DIR/sink.yaml
SOCK=$E2E_DIR/edged.sock

setup() {
	add_ns gen sink || exit 1
	ip link add a0 netns "$(ns gen)" type veth peer name e1 netns "$(ns sink)"
	nsx gen ip addr add 198.51.100.66/24 dev a0
	nsx sink ip addr add 198.51.100.2/24 dev e1
	nsx gen ip link set a0 up
	nsx sink ip link set e1 up
	nsx sink ethtool -K e1 gro on >/dev/null
	cat >"$CONF" <<-YAML
		instance: flood-$E2E_RUN
		uplinks: [e1]
		control_socket: $SOCK
		metrics: {listen: "off"}
		dos:
		  block: [198.51.100.0/24]
	YAML
	on_cleanup "$EDGED --teardown -c $CONF"
}

# flood: runs the generator, prints its seconds.
flood() { nsx gen "$GEN" a0 "$COUNT" 198.51.100.66 198.51.100.2 | awk '{print $4}'; }

edged_drops() {
	json_get "$("$EDGECTL" -s "$SOCK" -j dos rules)" "[l for l in j['lists'] if l['name']=='block'][0]['dropped']['packets']"
}

nft_drops() {
	nsx sink nft -j list table netdev bench | /usr/bin/python3 -c '
import json, sys
for item in json.load(sys.stdin)["nftables"]:
    rule = item.get("rule")
    if rule:
        for e in rule["expr"]:
            if "counter" in e:
                print(e["counter"]["packets"])'
}

# ns_per_pkt DROPS_BEFORE DROPS_AFTER SECONDS: time per flooded frame, refusing a run where the
# mechanism did not drop (nearly) all of them: its figure would be meaningless.
ns_per_pkt() {
	/usr/bin/python3 -c "
d = $2 - $1
assert d >= 0.99 * $COUNT, 'only %d of $COUNT frames dropped by the mechanism' % d
print('%.1f' % ($3 * 1e9 / $COUNT))"
}

run_edged() {
	local before secs
	before=$(edged_drops)
	secs=$(flood)
	ns_per_pkt "$before" "$(edged_drops)" "$secs"
}

run_nft() {
	local before secs
	before=$(nft_drops)
	secs=$(flood)
	ns_per_pkt "$before" "$(nft_drops)" "$secs"
}

run_floor() {
	local secs
	nsx sink ip link set dev e1 xdpdrv obj "$DROP_OBJ" sec xdp
	secs=$(flood)
	nsx sink ip link set dev e1 xdpdrv off
	/usr/bin/python3 -c "print('%.1f' % ($secs * 1e9 / $COUNT))"
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

setup
bg sink "$E2E_DIR/edged.log" "$EDGED" -c "$CONF"
EDGED_PID=$BG_PID
wait_for 10 "$EDGECTL" -s "$SOCK" status || { echo "flood: edged did not start"; cat "$E2E_DIR/edged.log"; exit 1; }
nsx sink nft -f - <<-NFT
	table netdev bench {
		chain ingress { type filter hook ingress device e1 priority 0; }
	}
NFT
nsx sink nft add rule netdev bench ingress ip saddr 198.51.100.0/24 counter drop

# Alternate the mechanisms, each alone on e1: edged is torn down (nothing stays attached)
# while nft and the floor run, and the nft chain is empty while edged runs.
edged_ns=()
nft_ns=()
floor_ns=()
for _ in $(seq "$REPS"); do
	nsx sink nft flush chain netdev bench ingress
	edged_ns+=("$(run_edged)")
	"$EDGECTL" -s "$SOCK" teardown >/dev/null
	wait "$EDGED_PID" 2>/dev/null
	floor_ns+=("$(run_floor)")
	nsx sink nft add rule netdev bench ingress ip saddr 198.51.100.0/24 counter drop
	nft_ns+=("$(run_nft)")
	nsx sink nft flush chain netdev bench ingress
	bg sink "$E2E_DIR/edged.log" "$EDGED" -c "$CONF"
	EDGED_PID=$BG_PID
	wait_for 10 "$EDGECTL" -s "$SOCK" status
done
"$EDGECTL" -s "$SOCK" teardown >/dev/null
wait "$EDGED_PID" 2>/dev/null

e=$(median "${edged_ns[@]}")
n=$(median "${nft_ns[@]}")
f=$(median "${floor_ns[@]}")
echo "flood of $COUNT frames x $REPS, ns per frame end to end: edged ${edged_ns[*]} | nftables ${nft_ns[*]} | bare XDP_DROP ${floor_ns[*]}"
/usr/bin/python3 - "$e" "$n" "$f" <<-'PY'
	import sys
	e, n, f = map(float, sys.argv[1:])
	print("BENCH dos_flood_drop_e2e pps edged=%d nftables=%d ratio=%.2f" % (1e9 / e, 1e9 / n, n / e))
	me, mn = max(e - f, 0.1), max(n - f, 0.1)
	print("BENCH dos_flood_drop pps edged=%d nftables=%d ratio=%.2f" % (1e9 / me, 1e9 / mn, mn / me))
	print("BENCH dos_flood_drop_cost ns_per_pkt edged=%.1f nftables=%.1f ratio=%.2f" % (me, mn, me / mn))
PY
