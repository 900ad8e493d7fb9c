#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The QEMU tier's smoke test (part of `make test`, about 2 minutes): edged in a QEMU guest with
# real NIC drivers, in the lab, on topology single-edge-qemu:
#
#      client1 ----+          tap (virtio-net)   +==================+
#                  |        +--------------------| edge1 QEMU guest |  edged (this build), BIRD,
#   attacker1 ---[ r1 ]-----+  tap (e1000)       | r1:   native XDP |  health watcher, edge
#                  |        +--------------------| r1-2: generic XDP|  service; Debian 6.1 kernel
#      origin1 ----+                             +==================+
#
#   1. lab/lab run smoke smoke-teardown --qemu: legit HTTP (IPv4, IPv6) and iperf3 through the
#      guest, malformed packets dropped exactly by edged's parser on the virtio-net uplink,
#      each uplink's driver and XDP mode as reported, teardown leaving nothing (no QEMU either).
#   2. A hung guest (QEMU stopped with SIGSTOP under a running lab) is found, killed and
#      reported with its console log, and `lab down` leaves nothing behind.
#
# Closing line: "N passed, N failed". The lab's own output is indented, so that tests/run.sh
# counts only this script's summary.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

LAB=lab/lab
PASS=0
FAIL=0
STARTED_LABS=()
LOG=$(mktemp /tmp/qemu_smoke.XXXXXX)
# Every lab command is bounded: a stuck one fails this test instead of hanging `make test`.
RUN_TIMEOUT=${QEMU_SMOKE_TIMEOUT:-150}

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
# verdict "what was checked" [detail]: ok when the command just before it succeeded.
verdict() {
	local rc=$?
	if [[ $rc -eq 0 ]]; then ok "$1"; else fail "$1" "${2:-}"; fi
}

cleanup() {
	local p
	for p in "${STARTED_LABS[@]}"; do
		if [[ -L /run/edged-lab/$p ]]; then
			timeout 120 $LAB down --lab "$p" 2>&1 | indent
		fi
	done
	rm -f "$LOG"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ $(id -u) -ne 0 ]]; then
	echo "qemu_smoke: needs root (namespaces, QEMU taps); skipped"
	echo "0 passed, 0 failed"
	exit 0
fi

live_labs() {
	/usr/bin/python3 -c 'import json,sys; [print(r["prefix"]) for r in json.load(sys.stdin)["runs"]]' \
		< <($LAB status --json 2>/dev/null)
}
new_since() { comm -13 <(echo "$1" | sort) <(live_labs | sort); }
ns_left() { ip netns list | awk '{print $1}' | grep -c "^$1-"; }
# QEMU processes whose command line names the run directory of lab PREFIX.
qemu_left() { pgrep -f "qemu-system-x86_64 .*/${1#lab-}/" | wc -l; }
run_dir_of() { readlink "/run/edged-lab/$1"; }
# The recorded QEMU of a lab run: timeout(1)'s PID; QEMU is its child.
qemu_pid_of() {
	/usr/bin/python3 -c '
import json, sys
st = json.load(open(sys.argv[1]))
print([p["pid"] for p in st["procs"] if p["role"] == "qemu" and p["node"] == "edge1"][0])' "$1/state.json"
}

# ------------------------------------------------------------------ 1. smoke scenarios in a guest
echo "== lab run smoke smoke-teardown --qemu (single-edge-qemu)"
t0=$SECONDS
timeout --kill-after=10 "$RUN_TIMEOUT" $LAB run smoke smoke-teardown --qemu --fresh >"$LOG" 2>&1
rc=$?
indent <"$LOG"
prefix=$(grep -oE 'lab lab-[0-9a-f]{6}: bringing up' "$LOG" | head -n1 | awk '{print $2}' | tr -d :)
[[ -n $prefix ]] && STARTED_LABS+=("$prefix")
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$LOG" | tail -n1)
[[ $rc -eq 0 && $summary =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]]
verdict "smoke scenarios with edge1 a QEMU guest: ${summary:-no summary} ($((SECONDS - t0))s, exit $rc)"
boot=$(grep -oE 'edge1 boot-to-ready [0-9.]+s' "$LOG" | head -n1)
[[ -n $boot ]]
verdict "the report gives the guest's boot-to-ready time (${boot:-none})"
grep -qE '^    edge1 +r1 virtio_net/native, r1-2 e1000/generic$' "$LOG"
verdict "the report shows each uplink's driver and XDP mode: r1 virtio_net/native, r1-2 e1000/generic" \
	"$(grep -A2 'edge uplinks' "$LOG" | tail -n1)"
grep -qE 'ok +edged parse.drop on edge1 .* == [1-9]' "$LOG"
verdict "edged in the guest dropped the malformed packets exactly (parse.drop == generated)"
grep -qE 'ok +no process of the run left' "$LOG" && grep -qE 'ok +teardown reported no problem' "$LOG"
verdict "teardown-clean: no process (QEMU included) left, no problem reported"
if [[ -n $prefix ]]; then
	left=$(qemu_left "$prefix")
	nsl=$(ns_left "$prefix")
	[[ $left -eq 0 && $nsl -eq 0 ]]
	verdict "no QEMU process and no namespace of $prefix left" "$left QEMU, $nsl namespaces"
fi

# ------------------------------------------------------------------ 2. a hung guest
echo "== a hung guest is killed and reported"
before=$(live_labs)
timeout --kill-after=10 "$RUN_TIMEOUT" $LAB up single-edge-qemu >"$LOG" 2>&1
rc=$?
indent <"$LOG"
# The lab this `lab up` brought up, by its own output: other labs may come up meanwhile (other
# test runs on the machine), and the first new one in `lab status` need not be ours.
hung=$(grep -oE 'lab lab-[0-9a-f]{6}: bringing up' "$LOG" | head -n1 | awk '{print $2}' | tr -d :)
[[ -n $hung ]] || hung=$(new_since "$before" | head -n1)
if [[ $rc -ne 0 || -z $hung ]]; then
	fail "lab up single-edge-qemu (exit $rc)" "$(tail -n 3 "$LOG")"
else
	STARTED_LABS+=("$hung")
	dir=$(run_dir_of "$hung")
	qpid=$(pgrep -P "$(qemu_pid_of "$dir")" -f qemu-system-x86_64)
	kill -STOP "$qpid"
	t0=$SECONDS
	timeout --kill-after=10 "$RUN_TIMEOUT" $LAB run smoke --qemu --lab "$hung" >"$LOG" 2>&1
	rc=$?
	indent <"$LOG"
	[[ $rc -ne 0 ]]
	verdict "a scenario on the hung guest fails (exit $rc, $((SECONDS - t0))s)"
	grep -qE "guest edge1: its agent did not answer for [0-9]+s \(hung\): QEMU killed" "$LOG"
	verdict "the runner reports the hung guest and kills it"
	grep -qE "guest logs: .*edge1.console.log" "$LOG"
	verdict "the failed scenario names the guest's console and edged logs"
	! kill -0 "$qpid" 2>/dev/null
	verdict "the hung QEMU process ($qpid) is gone"
	timeout 120 $LAB down --lab "$hung" 2>&1 | indent
	nsl=$(ns_left "$hung")
	left=$(qemu_left "$hung")
	[[ $nsl -eq 0 && $left -eq 0 && ! -L /run/edged-lab/$hung ]]
	verdict "lab down after the hang leaves no namespace, QEMU or registry entry" "$nsl namespaces, $left QEMU"
fi

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
