#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Shared helpers of the e2e tests: per-run names, namespaces created and removed by this run
# only, processes tracked by PID, checks that print as they go and a closing summary.
#
# A test sources this file, defines its topology, and ends with `summary`.

E2E_RUN=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
E2E_DIR=$(mktemp -d "/tmp/edged-e2e-$E2E_RUN.XXXX")
EDGED=${EDGED:-build/edged}
EDGECTL=${EDGECTL:-build/edgectl}
E2E_PASS=0
E2E_FAIL=0
E2E_NETNS=()
E2E_PIDS=()
E2E_CLEANUPS=()

# ns NAME: the namespace name of this run's node NAME.
ns() { echo "e2e-$E2E_RUN-$1"; }

# add_ns NAME...: creates this run's namespaces, remembered for cleanup, loopback up.
add_ns() {
	local n
	for n in "$@"; do
		ip netns add "$(ns "$n")" || return 1
		E2E_NETNS+=("$(ns "$n")")
		ip -n "$(ns "$n")" link set lo up
	done
}

# nsx NODE CMD...: runs CMD inside NODE's network namespace. nsenter, not `ip netns exec`:
# the latter remounts /sys privately, hiding /sys/fs/bpf where edged pins its data path.
nsx() {
	local node=$1
	shift
	nsenter --net="/run/netns/$(ns "$node")" "$@"
}

# bg NODE LOGFILE CMD...: starts CMD in NODE's namespace in the background; sets BG_PID.
bg() {
	local node=$1 log=$2
	shift 2
	# nsenter itself, not a function around it: $! must be the process (nsenter execs it).
	nsenter --net="/run/netns/$(ns "$node")" "$@" >"$log" 2>&1 &
	BG_PID=$!
	E2E_PIDS+=("$BG_PID")
}

on_cleanup() { E2E_CLEANUPS+=("$*"); }

e2e_cleanup() {
	local pid n c
	for c in "${E2E_CLEANUPS[@]}"; do eval "$c" >/dev/null 2>&1; done
	for pid in "${E2E_PIDS[@]}"; do
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for n in "${E2E_NETNS[@]}"; do ip netns del "$n" 2>/dev/null; done
	if [[ -n ${E2E_KEEP:-} ]]; then echo "kept $E2E_DIR"; else rm -rf "$E2E_DIR"; fi
}
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

ok() {
	E2E_PASS=$((E2E_PASS + 1))
	echo "ok   - $1"
}

fail() {
	E2E_FAIL=$((E2E_FAIL + 1))
	echo "FAIL - $1"
	[[ -n ${2:-} ]] && echo "       $2"
}

# check "what was checked" CMD...: passes when CMD exits 0.
check() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$what"
	else
		fail "$what" "$(echo "$out" | tail -n 5 | tr '\n' ' ')"
	fi
}

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds or time runs out.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS >= deadline)) && return 1
		sleep 0.1
	done
}

# jq-less JSON reads: json_get JSON PYTHON-EXPR (with j = the parsed document).
json_get() {
	/usr/bin/python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}

summary() {
	echo "$E2E_PASS passed, $E2E_FAIL failed"
	[[ $E2E_FAIL -eq 0 ]]
}
