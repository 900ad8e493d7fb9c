#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The lab's smoke test (part of `make test`, about a minute):
#
#   1. lab/lab run --tag smoke --fresh (a lab of its own, never one another user left up): the
#      single-edge topology with edged, legit HTTP (IPv4, IPv6)
#      and iperf3 through it, malformed packets replayed into its uplink and dropped by edged's
#      parser exactly, then teardown checked to leave nothing behind.
#   2. Ctrl-C in the middle of `lab run` tears everything down.
#   3. `lab down --stale` removes a run whose owner was killed, and leaves a live run and a
#      namespace that is not the lab's alone.
#
# Closing line: "N passed, N failed". The lab's own output is indented, so that only this
# script's summary line is counted by tests/run.sh.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

LAB=lab/lab
PASS=0
FAIL=0
STARTED_LABS=()
FOREIGN_NS="lsmoke-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')-keep"

ok() {
	PASS=$((PASS + 1))
	echo "ok   - $1"
}
fail() {
	FAIL=$((FAIL + 1))
	echo "FAIL - $1"
	[[ -n ${2:-} ]] && echo "       $2"
}
indent() { sed -u 's/^/    /'; }
# verdict "what was checked" [detail]: ok when the command just before it succeeded. DETAIL
# must not contain a command substitution: its exit status would replace the test's.
verdict() {
	local rc=$?
	if [[ $rc -eq 0 ]]; then ok "$1"; else fail "$1" "${2:-}"; fi
}

cleanup() {
	local p
	# Only what this script started: labs by their prefix, the foreign namespace by its name.
	for p in "${STARTED_LABS[@]}"; do
		if [[ -L /run/edged-lab/$p ]]; then
			$LAB down --lab "$p" 2>&1 | indent
		fi
	done
	ip netns del "$FOREIGN_NS" 2>/dev/null
	true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ $(id -u) -ne 0 ]]; then
	echo "lab_smoke: needs root (namespaces); skipped"
	echo "0 passed, 0 failed"
	exit 0
fi

# Prefixes of lab runs that are up (registered with a live owner), one per line.
live_labs() {
	/usr/bin/python3 -c 'import json,sys; [print(r["prefix"]) for r in json.load(sys.stdin)["runs"]]' \
		< <($LAB status --json 2>/dev/null)
}
stale_labs() {
	/usr/bin/python3 -c 'import json,sys; [print(p) for p in json.load(sys.stdin)["stale"]]' \
		< <($LAB status --json 2>/dev/null)
}
owner_of() {
	/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["owner"]["pid"])' \
		"$(readlink "/run/edged-lab/$1")/state.json"
}
ns_left() { ip netns list | awk '{print $1}' | grep -c "^$1-"; }

# The prefix of the lab that the lab command writing FILE brought up ("lab lab-XXXXXX:
# bringing up ..."): its own output, not the registry, which other checkouts' runs share.
own_prefix() { sed -n 's/^.*lab \(lab-[0-9a-f]*\): bringing up.*$/\1/p' "$1" | head -n1; }

# ------------------------------------------------------------------ 1. smoke scenarios
echo "== lab run --tag smoke"
t0=$SECONDS
$LAB run --tag smoke --fresh >/tmp/lab_smoke.$$ 2>&1
rc=$?
indent </tmp/lab_smoke.$$
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' /tmp/lab_smoke.$$ | tail -n1)
rm -f /tmp/lab_smoke.$$
if [[ $rc -eq 0 && $summary =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]]; then
	ok "smoke scenarios on single-edge: ${summary} ($((SECONDS - t0))s)"
else
	fail "smoke scenarios on single-edge (exit $rc)" "${summary:-no summary line}"
fi

# ------------------------------------------------------------------ 2. Ctrl-C mid-run
echo "== Ctrl-C during lab run"
$LAB run smoke --fresh >/tmp/lab_smoke_int.$$ 2>&1 &
runner=$!
prefix=""
for _ in $(seq 1 100); do
	prefix=$(own_prefix /tmp/lab_smoke_int.$$)
	[[ -n $prefix ]] && [[ $(ns_left "$prefix") -gt 0 ]] && grep -q "traffic 'web4'" /tmp/lab_smoke_int.$$ && break
	sleep 0.1
done
if [[ -z $prefix ]]; then
	fail "Ctrl-C: the run never came up" "$(tail -n 5 /tmp/lab_smoke_int.$$)"
	kill -INT "$runner" 2>/dev/null
	wait "$runner"
else
	STARTED_LABS+=("$prefix")
	kill -INT "$runner"
	wait "$runner"
	rc=$?
	indent </tmp/lab_smoke_int.$$
	[[ $rc -ne 0 ]]
	verdict "Ctrl-C: lab run exits non-zero" "exit $rc"
	left=$(ns_left "$prefix")
	[[ $left -eq 0 ]]
	verdict "Ctrl-C: no namespace $prefix-* left" "$left left"
	[[ ! -e /sys/fs/bpf/edged/l${prefix#lab-}-edge1 ]]
	verdict "Ctrl-C: no pinned BPF object left" "/sys/fs/bpf/edged/l${prefix#lab-}-edge1"
	[[ ! -L /run/edged-lab/$prefix ]]
	verdict "Ctrl-C: run unregistered" "/run/edged-lab/$prefix left"
fi
rm -f /tmp/lab_smoke_int.$$

# ------------------------------------------------------------------ 3. down --stale
echo "== lab down --stale"
ip netns add "$FOREIGN_NS"
$LAB up single-edge >/tmp/lab_smoke_up.$$ 2>&1
indent </tmp/lab_smoke_up.$$
live=$(own_prefix /tmp/lab_smoke_up.$$)
[[ -n $live ]] && STARTED_LABS+=("$live")
$LAB up single-edge --no-edged >/tmp/lab_smoke_up.$$ 2>&1
indent </tmp/lab_smoke_up.$$
victim=$(own_prefix /tmp/lab_smoke_up.$$)
rm -f /tmp/lab_smoke_up.$$
if [[ -z $live || -z $victim ]]; then
	fail "down --stale: could not bring up two labs"
else
	STARTED_LABS+=("$victim")
	keeper=$(owner_of "$victim")
	kill -KILL "$keeper"
	sleep 0.2
	stale_labs | grep -qx "$victim"
	verdict "status lists the run whose owner was killed ($victim) as stale"
	! stale_labs | grep -qx "$live"
	verdict "status does not list the live run ($live) as stale"
	$LAB down --stale 2>&1 | indent
	n_victim=$(ns_left "$victim")
	n_live=$(ns_left "$live")
	[[ $n_victim -eq 0 ]]
	verdict "down --stale removed the dead run's namespaces" "$n_victim left"
	[[ $n_live -eq 5 ]]
	verdict "down --stale left the live run alone" "$n_live of 5 namespaces left"
	ip netns list | awk '{print $1}' | grep -qx "$FOREIGN_NS"
	verdict "down --stale left a foreign namespace ($FOREIGN_NS) alone"
	$LAB down --lab "$live" 2>&1 | indent
	n_live=$(ns_left "$live")
	[[ $n_live -eq 0 ]]
	verdict "lab down removed the live run" "$n_live namespaces left"
fi

# ------------------------------------------------------------------ nothing left by this script
for p in "${STARTED_LABS[@]}"; do
	[[ $(ns_left "$p") -eq 0 && ! -L /run/edged-lab/$p ]] || fail "leftover of $p"
done

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
