#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Transit provisioning at scale: the time per customer to create 10, 100 and 500 customers
# (namespace, veth pair, addresses, routes, fwmark table and rule, firewall table, steering
# map entries) and to remove them, and the kernel memory each costs, for edged (one
# `edgectl reload` from a config without customers to one with N, netlink + libnftnl) and,
# side by side in the same run, for the same state built with iproute2 and nft (`ip -batch`,
# `nft -f`: what a provisioning script would do). After each removal it checks that nothing
# is left: no namespace of the instance, no transit veth, rule, route table or map entry.
#
#   BENCH transit_provision_N  ms_per_customer   edged=... ip_nft=... ratio=...
#   BENCH transit_remove_N     ms_per_customer   edged=... ip_nft=... ratio=...
#   BENCH transit_memory_N     kib_per_customer  edged=... ip_nft=... ratio=...  (kernel: slab + percpu)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
OUT=${OUT:-build}
EDGED=$OUT/edged
EDGECTL=$OUT/edgectl
RUN=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
INST=trb-$RUN
DIR=$(mktemp -d "/tmp/edged-bench-$RUN.XXXX")
EDGE=bench-$RUN-edge
PEER=bench-$RUN-peer
SOCK=$DIR/edged.sock
EDGED_PID=
SIZES=${TRANSIT_BENCH_SIZES:-10 100 500}

cleanup() {
	[[ -n $EDGED_PID ]] && kill "$EDGED_PID" 2>/dev/null && wait "$EDGED_PID" 2>/dev/null
	nsenter --net="/run/netns/$EDGE" "$EDGED" --teardown -c "$DIR/edge.yaml" >/dev/null 2>&1
	for n in $(ip netns list | awk -v p="^(edged-$INST-|cli-$RUN-)" '$1 ~ p {print $1}'); do
		ip netns del "$n"
	done
	ip netns del "$EDGE" 2>/dev/null
	ip netns del "$PEER" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

en() { nsenter --net="/run/netns/$EDGE" "$@"; }
now_ms() { date +%s%3N; }
# Kernel memory that namespaces, devices, routes and nftables objects take: slab + percpu.
kmem_kib() { awk '/^(Slab|Percpu):/ {s += $2} END {print s}' /proc/meminfo; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}'; }

# config N: N customers, each a /24 of 100.64.0.0/10, a keyed tunnel and two rules.
config() {
	{
		printf 'instance: %s\nuplinks: [e0]\ncontrol_socket: %s\nmetrics: {listen: off}\n' "$INST" "$SOCK"
		printf 'log_level: warn\ntransit:\n  endpoints: [192.0.2.100]\n'
		if [[ $1 -eq 0 ]]; then printf '  customers: []\n'; else printf '  customers:\n'; fi
		for ((i = 0; i < $1; i++)); do
			printf '    - {name: c%d, prefixes: [100.%d.%d.0/24], tunnels: [{name: t%d, remote: 198.51.100.50, key: %d, health: off}], firewall: {default: allow, rules: [{action: deny, proto: tcp, dst_port: 23}, {action: allow, proto: udp, dst_port: 53}]}}\n' \
				"$i" $((64 + i / 256)) $((i % 256)) "$i" "$i"
		done
	} >"$DIR/edge.yaml"
}

leftovers() { # leftovers PREFIX: what of PREFIX's customers is still there
	local nsn links rules
	nsn=$(ip netns list | grep -c "^$1")
	links=$(en ip -o link | grep -cE ': (tr|cv)[0-9]+@')
	rules=$(en ip rule | grep -c 'fwmark 0x1')
	echo "$nsn namespaces, $links veths, $rules rules"
}

setup() {
	ip netns add "$EDGE" && ip netns add "$PEER" || exit 1
	ip link add e0 netns "$EDGE" type veth peer name p0 netns "$PEER"
	en ip link set lo up
	en ip link set e0 up
	en ip addr add 192.0.2.2/24 dev e0
	config 0
	nsenter --net="/run/netns/$EDGE" "$EDGED" -c "$DIR/edge.yaml" >"$DIR/edged.log" 2>&1 &
	EDGED_PID=$!
	for _ in $(seq 50); do en "$EDGECTL" -s "$SOCK" status >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "edged did not start:"; cat "$DIR/edged.log"
	exit 1
}

# edged_round N: prints "create_ms remove_ms kib"
edged_round() {
	local t0 t1 t2 m0 m1 n
	config "$1"
	m0=$(kmem_kib)
	t0=$(now_ms)
	en "$EDGECTL" -s "$SOCK" reload >/dev/null || { echo "reload failed" >&2; return 1; }
	t1=$(now_ms)
	m1=$(kmem_kib)
	n=$(ip netns list | grep -c "^edged-$INST-")
	[[ $n -eq $1 ]] || echo "edged: $n namespaces for $1 customers" >&2
	config 0
	en "$EDGECTL" -s "$SOCK" reload >/dev/null || { echo "reload to 0 failed" >&2; return 1; }
	t2=$(now_ms)
	echo "$((t1 - t0)) $((t2 - t1)) $((m1 - m0))"
}

# The same state with iproute2 and nft, one customer at a time as a script would.
cli_create() {
	local i ns id a b
	for ((i = 0; i < $1; i++)); do
		ns=cli-$RUN-c$i
		id=$((i + 1000))
		a=169.254.$(((id * 4) / 256)).$(((id * 4) % 256 + 1))
		b=169.254.$(((id * 4) / 256)).$(((id * 4) % 256 + 2))
		ip netns add "$ns"
		en ip link add "cv$id" type veth peer name "edge$id" netns "$ns"
		ip -n "$ns" -batch - <<-B
			link set lo up
			addr add $b/30 dev edge$id
			link set edge$id up
			route add default via ${a}
		B
		ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
		en ip -batch - <<-B
			addr add $a/30 dev cv$id
			link set cv$id up
			route add default via $b dev cv$id table $((30000 + i))
			rule add fwmark $((0x20000000 + i)) table $((30000 + i)) priority 30000
		B
		ip netns exec "$ns" nft -f - <<-N
			table inet edged_transit {
				set p4 { type ipv4_addr; flags interval; elements = { 100.$((64 + i / 256)).$((i % 256)).0/24 } }
				chain in { tcp dport 23 counter drop; udp dport 53 counter accept; counter accept; }
				chain out { counter accept; }
				chain forward { type filter hook forward priority filter; policy accept;
					ct state established,related counter accept
					ip daddr @p4 jump in
					ip saddr @p4 jump out
					counter drop
				}
			}
		N
		en nft add element inet cli_transit m4 "{ 100.$((64 + i / 256)).$((i % 256)).0/24 : $((0x20000000 + i)) }"
	done
}

cli_remove() {
	local i
	for ((i = 0; i < $1; i++)); do
		en ip -batch - <<-B
			link del cv$((i + 1000))
			rule del fwmark $((0x20000000 + i)) table $((30000 + i)) priority 30000
		B
		ip netns del "cli-$RUN-c$i"
		en nft delete element inet cli_transit m4 "{ 100.$((64 + i / 256)).$((i % 256)).0/24 }"
	done
}

cli_round() {
	local t0 t1 t2 m0 m1
	en nft -f - <<-N
		table inet cli_transit {
			map m4 { type ipv4_addr : mark; flags interval; }
			chain prerouting { type filter hook prerouting priority mangle; meta mark set ip daddr map @m4; }
		}
	N
	m0=$(kmem_kib)
	t0=$(now_ms)
	cli_create "$1"
	t1=$(now_ms)
	m1=$(kmem_kib)
	cli_remove "$1"
	t2=$(now_ms)
	en nft delete table inet cli_transit
	echo "$((t1 - t0)) $((t2 - t1)) $((m1 - m0))"
}

# wait_clean PREFIX: namespaces are freed by the kernel after their last reference goes.
wait_clean() {
	for _ in $(seq 100); do
		[[ $(leftovers "$1") == "0 namespaces, 0 veths, 0 rules" ]] && break
		sleep 0.1
	done
	echo "left after removal ($1): $(leftovers "$1")"
}

setup
for n in $SIZES; do
	read -r ec er em <<<"$(edged_round "$n")"
	wait_clean "edged-$INST-"
	read -r cc cr cm <<<"$(cli_round "$n")"
	wait_clean "cli-$RUN-"
	epc=$(awk -v t="$ec" -v n="$n" 'BEGIN {printf "%.2f", t / n}')
	cpc=$(awk -v t="$cc" -v n="$n" 'BEGIN {printf "%.2f", t / n}')
	erc=$(awk -v t="$er" -v n="$n" 'BEGIN {printf "%.2f", t / n}')
	crc=$(awk -v t="$cr" -v n="$n" 'BEGIN {printf "%.2f", t / n}')
	emc=$(awk -v m="$em" -v n="$n" 'BEGIN {printf "%.0f", m / n}')
	cmc=$(awk -v m="$cm" -v n="$n" 'BEGIN {printf "%.0f", m / n}')
	echo "BENCH transit_provision_$n ms_per_customer edged=$epc ip_nft=$cpc ratio=$(ratio "$epc" "$cpc")"
	echo "BENCH transit_remove_$n ms_per_customer edged=$erc ip_nft=$crc ratio=$(ratio "$erc" "$crc")"
	echo "BENCH transit_memory_$n kib_per_customer edged=$emc ip_nft=$cmc ratio=$(ratio "$emc" "$cmc")"
done
echo "edged RSS after the rounds: $(awk '/VmRSS/ {print $2, $3}' "/proc/$EDGED_PID/status")"
