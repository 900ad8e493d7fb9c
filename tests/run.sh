#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Runs every test suite of edged and ends with one line: "N passed, N failed".
#
#   unit   build/tests/unit/test_*   cmocka, userspace modules
#   bpf    build/tests/bpf/test_*    cmocka, BPF_PROG_TEST_RUN fixtures
#   lab    tests/lab/test_*.py       the lab's own unit tests (python unittest)
#   e2e    tests/e2e/*.sh            edged in lab namespaces
#
# Each suite's own summary is printed as it ran; this script only adds them up. A suite that
# exits non-zero without reporting a failure counts as one failure, so a crash never passes.
# Run one kind only with: tests/run.sh unit|bpf|lab|e2e ...
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

OUT=${OUT:-build}
export EDGED=${EDGED:-$OUT/edged} EDGECTL=${EDGECTL:-$OUT/edgectl}
kinds=("$@")
[[ ${#kinds[@]} -eq 0 ]] && kinds=(unit bpf lab e2e)

total_pass=0
total_fail=0
failed_suites=()

# Adds up the summary lines of one suite's output: cmocka's "[  PASSED  ] N test(s)." and
# "[  FAILED  ] N test(s)", or a plain "N passed, N failed".
count() {
	local log=$1 p=0 f=0 n
	while read -r n; do p=$((p + n)); done < <(sed -nE 's/^\[  PASSED  \] ([0-9]+) test.*/\1/p' "$log")
	while read -r n; do f=$((f + n)); done < <(sed -nE 's/^\[  FAILED  \] ([0-9]+) test.*/\1/p' "$log")
	while read -r a b; do
		p=$((p + a))
		f=$((f + b))
	done < <(sed -nE 's/^([A-Za-z]+: )?([0-9]+) passed, ([0-9]+) failed.*/\2 \3/p' "$log")
	echo "$p $f"
}

run_suite() {
	local name=$1
	shift
	local log rc p f
	log=$(mktemp)
	echo "== $name"
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	read -r p f < <(count "$log")
	rm -f "$log"
	if [[ $rc -ne 0 && $f -eq 0 ]]; then
		echo "!! $name exited with status $rc without reporting a failed test: counted as one failure"
		f=1
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	[[ $f -gt 0 ]] && failed_suites+=("$name")
}

for kind in "${kinds[@]}"; do
	case $kind in
	unit | bpf)
		for t in "$OUT"/tests/"$kind"/test_*; do
			[[ -x $t ]] && run_suite "$kind/$(basename "$t")" "$t"
		done
		;;
	lab)
		for t in tests/lab/test_*.py; do
			[[ -f $t ]] && run_suite "lab/$(basename "$t")" /usr/bin/python3 "$t"
		done
		;;
	e2e)
		for t in tests/e2e/*.sh; do
			[[ $t == tests/e2e/lib.sh ]] && continue # the tests' helpers, not a test
			[[ -f $t ]] && run_suite "e2e/$(basename "$t")" bash "$t"
		done
		;;
	*)
		echo "tests/run.sh: unknown suite kind '$kind' (unit, bpf, lab or e2e)" >&2
		exit 2
		;;
	esac
done

echo
[[ ${#failed_suites[@]} -gt 0 ]] && echo "failed suites: ${failed_suites[*]}"
echo "$total_pass passed, $total_fail failed"
[[ $total_fail -eq 0 && $total_pass -gt 0 ]]
